using System.Net;
using System.Net.Sockets;
using Ferry.Migration.Source;
using Ferry.Migration.Destination;
using Ferry.Migration.PreCopy;
using Ferry.Migration.Reporting;
using Ferry.Migration.Transport;
using Ferry.Migration.Vm;

namespace Ferry.Migration.Tests.Infrastructure;

/// <summary>
/// A live migration (pre-copy, post-copy, hybrid) between two simulated VMs over real loopback
/// TCP, through the real listener and connector, both of which get their connections from
/// the network it is given (a faulty link, say) when it is given one; a post-copy reconnection too.
/// </summary>
public sealed class LoopbackMigration(IMigrationNetwork? network = null) : IDisposable
{
    public static readonly byte[] Token = "secret"u8.ToArray();
    private readonly TcpListener _listener = Listen();

    private static TcpListener Listen()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start(16);
        return listener;
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
    public SimulatedVm? Created { get; private set; }
    public bool RanAtDestination { get; private set; }

    /// <summary>The destination: accepts, receives into a new SimulatedVm, runs it on Go.</summary>
    /// <param name="recoveryTimeout">Post-copy: accept the source again after a broken link for this long (null: a broken link loses the VM).</param>
    /// <param name="copyStorage">Accept copied disks (`--copy-storage`): the new VM gets disks of the sizes the source announces.</param>
    /// <param name="timeouts">The destination's time limits (short stall limits for a stalled link); null: the defaults.</param>
    public async Task<DestinationOutcome> ReceiveAsync(ulong size, byte[]? token = null, CancellationToken cancellationToken = default, TimeSpan? recoveryTimeout = null,
        bool copyStorage = false, MigrationTimeouts? timeouts = null)
    {
        timeouts ??= MigrationTimeouts.Default;
        long[]? diskSizes = null;
        Action<IReadOnlyList<long>>? arriving = copyStorage ? sizes => diskSizes = [.. sizes] : null;
        var accepted = await MigrationListener.AcceptAsync(_listener, token ?? Token, null, cancellationToken, timeouts, network);
        var destination = recoveryTimeout is { } timeout
            ? new MigrationDestination
            {
                Timeouts = timeouts,
                RecoveryTimeout = timeout,
                AcceptReconnection = async ct =>
                {
                    var again = await MigrationListener.AcceptAsync(_listener, token ?? Token, null, ct, timeouts, network);
                    if (again.Session == accepted.Session) return again;
                    foreach (var s in again.Streams) await s.DisposeAsync();
                    throw new MigrationException("a connection of another migration");
                },
                DisksArriving = arriving,
            }
            : new MigrationDestination { Timeouts = timeouts, DisksArriving = arriving };
        return await destination.RunAsync(accepted, _ => Created = new SimulatedVm(size, diskSizes: diskSizes),
            _ => { RanAtDestination = true; return Task.CompletedTask; }, null, cancellationToken);
    }

    /// <summary>
    /// The source, in the options' mode (a mode that may post-copy opens the fault stream too),
    /// to <paramref name="viaPort"/> (a proxy) or straight to the destination; a post-copy source
    /// reconnects with the same session, to the HOST:PORT it is told or where it went first.
    /// </summary>
    public Task<MigrationReport> SendAsync(IMigratableVm vm, MigrationOptions options, CancellationToken cancellationToken = default, byte[]? token = null,
        IProgress<MigrationProgress>? progress = null, MigrationSource? source = null, int? viaPort = null)
    {
        var session = Guid.NewGuid();
        int streams = options.Streams + (options.Mode.MayPostCopy() ? 1 : 0);
        int port = viaPort ?? Port;
        return (source ?? new MigrationSource()).RunAsync(vm,
            ct => MigrationConnector.ConnectAsync("127.0.0.1", port, streams, options.Mode, token ?? Token, null, ct, session, version: Handshake.VersionFor(options.CopyStorage, options.Mode), network: network),
            options, progress, cancellationToken,
            (to, ct) =>
            {
                TcpEndpoint.TryParse(to ?? $"127.0.0.1:{port}", out var host, out int p);
                return MigrationConnector.ConnectAsync(host, p, streams, options.Mode, token ?? Token, null, ct, session, version: Handshake.VersionFor(options.CopyStorage, options.Mode), network: network);
            });
    }

    public void Dispose() => _listener.Stop();
}
