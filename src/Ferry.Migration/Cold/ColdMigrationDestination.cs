using Ferry.Migration.Format;
using Ferry.Migration.Image;
using Ferry.Migration.Transport;
using Ferry.Migration.Vm;

namespace Ferry.Migration.Cold;

/// <summary>How a migration ended at the destination.</summary>
public enum DestinationResult
{
    /// <summary>Go arrived: the VM runs here.</summary>
    Running,
    /// <summary>Ready was sent but Go never came: the VM is held here, paused, until someone decides.</summary>
    AwaitingDecision,
}

/// <summary>
/// Cold migration, destination side: authenticate, read and verify the whole image into a new
/// (not yet running) VM, say Ready, and run the VM only on Go. A failure before Ready discards
/// the VM; after Ready the VM is kept, paused, because the source may already have committed.
/// </summary>
public sealed class ColdMigrationDestination
{
    public static readonly TimeSpan GoTimeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Receives one VM. <paramref name="createVm"/> builds a VM from the configuration section;
    /// <paramref name="runVm"/> starts it running when Go arrives. The returned VM is the caller's.
    /// </summary>
    public async Task<(DestinationResult Result, IMigratableVm Vm, string Detail)> RunAsync(Stream stream, byte[] token,
        Func<ReadOnlyMemory<byte>, IMigratableVm> createVm, Func<IMigratableVm, Task> runVm, IProgress<ImageProgress>? progress,
        CancellationToken cancellationToken)
    {
        var channel = new ControlChannel(stream);
        await Handshake.AuthenticateAsDestinationAsync(channel, token, cancellationToken);
        IMigratableVm vm;
        // Receiving runs ahead of writing guest RAM. Everything after the handshake is read
        // through the read-ahead, control messages included, so it never steals one.
        var receiving = new ReadAheadStream(stream);
        channel = new ControlChannel(receiving, stream);
        try
        {
            vm = await VmImageReader.ReadAsync(new SectionReader(receiving), createVm, progress, cancellationToken);
        }
        catch (Exception e) when (e is MigrationException)
        {
            try { await channel.AbortAsync(e.Message, CancellationToken.None); } catch (Exception) { /* the link may be gone */ }
            throw;
        }

        try
        {
            await channel.SendAsync(MessageType.Ready, CancellationToken.None);
            await channel.ExpectAsync(MessageType.Go, GoTimeout, CancellationToken.None);
        }
        catch (PeerAbortedException e)
        {
            // The source says it did not commit and runs the VM itself: our copy must go.
            (vm as IDisposable)?.Dispose();
            throw new MigrationException($"the source aborted after this side was ready: {e.Reason}");
        }
        catch (Exception e)
        {
            return (DestinationResult.AwaitingDecision, vm, e.Message);
        }
        await runVm(vm);
        try { await channel.SendAsync(MessageType.Running, CancellationToken.None); }
        catch (Exception) { /* the source will report the outcome as unknown; the VM runs here either way */ }
        return (DestinationResult.Running, vm, "running");
    }
}
