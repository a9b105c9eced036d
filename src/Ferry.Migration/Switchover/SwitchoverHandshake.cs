using System.Buffers.Binary;
using Ferry.Migration.Transport;

namespace Ferry.Migration.Switchover;

/// <summary>
/// The source's side of the one commit point every migration shares:
/// <code>
///   source                          destination
///     (everything sent)   ◄── Ready     "I hold the complete, verified state"
///     COMMIT
///     Go ──────────────►               resume the VM
///                         ◄── Running  {u64 µs from Go to resumed}
/// </code>
/// Before <see cref="CommitAsync"/> any failure means "the VM runs at the source". After it,
/// the source never resumes on its own: without Running the outcome is unknown. Go goes out on
/// <paramref name="channel"/>; Ready and Running come in through the stream's one reader,
/// <paramref name="inbox"/>.
/// </summary>
public sealed class SwitchoverHandshake(ControlChannel channel, ControlInbox inbox, MigrationTimeouts timeouts)
{
    private TimeProvider Clock => timeouts.Clock;

    public bool Committed { get; private set; }

    public async Task AwaitReadyAsync(CancellationToken cancellationToken) =>
        await inbox.WaitAsync(MessageType.Ready, timeouts.Ready, cancellationToken);

    /// <summary>Commits and sends Go. Never throws: a lost Running is an outcome, not an error.</summary>
    public async Task<SwitchoverResult> CommitAsync()
    {
        Committed = true;
        long goAt = Clock.GetTimestamp();
        try
        {
            await channel.SendAsync(MessageType.Go, CancellationToken.None);
            var running = await inbox.WaitAsync(MessageType.Running, timeouts.Running, CancellationToken.None);
            long runningAt = Clock.GetTimestamp();
            // The destination says how long it took from Go to the resumed VM; the rest of the
            // round trip is two one-way trips, so the resume happened half of it after Go + that.
            var roundTrip = Clock.GetElapsedTime(goAt, runningAt);
            var resumeWork = running.Length >= 8 ? TimeSpan.FromMicroseconds(BinaryPrimitives.ReadUInt64LittleEndian(running)) : TimeSpan.Zero;
            if (resumeWork > roundTrip) resumeWork = roundTrip;
            long resumedAt = goAt + (long)(((roundTrip - resumeWork) / 2 + resumeWork).TotalSeconds * Clock.TimestampFrequency);
            return new SwitchoverResult(true, resumedAt, "the destination runs the VM");
        }
        catch (Exception e)
        {
            return new SwitchoverResult(false, Clock.GetTimestamp(), e.Message);
        }
    }

    /// <summary>The destination's Running payload: how long it took from Go to the VM running.</summary>
    public static byte[] RunningPayload(TimeSpan goToResumed)
    {
        var payload = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(payload, (ulong)Math.Max(0, (long)goToResumed.TotalMicroseconds));
        return payload;
    }
}

/// <summary>After the commit: did the destination confirm, and when (source timestamp) did the VM resume there.</summary>
public sealed record SwitchoverResult(bool Confirmed, long ResumedAtTimestamp, string Detail);
