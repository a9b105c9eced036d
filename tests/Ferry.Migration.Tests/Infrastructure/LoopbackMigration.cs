using System.Net;
using System.Net.Sockets;
using Ferry.Migration.Destination;
using Ferry.Migration.PreCopy;
using Ferry.Migration.Reporting;
using Ferry.Migration.Transport;
using Ferry.Migration.Vm;

namespace Ferry.Migration.Tests.Infrastructure;

/// <summary>A live migration (pre-copy, post-copy, hybrid) between two simulated VMs over real loopback TCP, through the real listener and connector.</summary>
public sealed class LoopbackMigration : IDisposable
{
    public static readonly byte[] Token = "secret"u8.ToArray();
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);

    public LoopbackMigration() => _listener.Start(16);

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
    public SimulatedVm? Created { get; private set; }
    public bool RanAtDestination { get; private set; }

    /// <summary>The destination: accepts, receives into a new SimulatedVm, runs it on Go.</summary>
    public async Task<DestinationOutcome> ReceiveAsync(ulong size, byte[]? token = null, CancellationToken cancellationToken = default)
    {
        var accepted = await MigrationListener.AcceptAsync(_listener, token ?? Token, null, cancellationToken);
        return await new MigrationDestination().RunAsync(accepted, _ => Created = new SimulatedVm(size),
            _ => { RanAtDestination = true; return Task.CompletedTask; }, null, cancellationToken);
    }

    /// <summary>The source, in the options' mode (a mode that may post-copy opens the fault stream too).</summary>
    public Task<MigrationReport> SendAsync(IMigratableVm vm, PreCopyOptions options, CancellationToken cancellationToken = default, byte[]? token = null,
        IProgress<MigrationProgress>? progress = null, PreCopySource? source = null) =>
        (source ?? new PreCopySource(TimeProvider.System)).RunAsync(vm,
            ct => MigrationConnector.ConnectAsync("127.0.0.1", Port, options.Streams + (options.Mode.MayPostCopy() ? 1 : 0), options.Mode, token ?? Token, null, ct),
            options, progress, cancellationToken);

    public void Dispose() => _listener.Stop();
}
