using System.Net;
using Ferry.Migration.Transport;

namespace Ferry.Vmm.Operations;

/// <summary>
/// Where and how a receiving VMM waits for one migration: the address it listens on (as the user
/// wrote it, for messages), the secret and TLS settings a source must show, how long a post-copy
/// waits for a broken link, and the name and control socket the VM gets here (null: the source's).
/// </summary>
public sealed record ReceivePlan(string Listen, IPAddress Address, int Port, byte[] Token, TlsSettings? Tls, TimeSpan RecoveryTimeout,
    string? Name, string? ApiSocketPath)
{
    /// <summary>Host-local changes to the arriving configuration (the destination's --disk paths), before the VM is built.</summary>
    public Func<VmConfig, VmConfig>? MapConfig { get; init; }
}
