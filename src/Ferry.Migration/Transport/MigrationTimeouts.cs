namespace Ferry.Migration.Transport;

/// <summary>
/// Every time limit of the migration protocol, and the one clock they run on. Sources,
/// destinations, the connector, the listener and the stream readers and writers take this one
/// record, so a test can shorten any limit or run the whole protocol on a fake clock
/// (FakeTimeProvider) instead of sleeping. The user's own limits (--timeout,
/// --recovery-timeout) stay in the migration's options.
/// </summary>
public sealed record MigrationTimeouts
{
    public static MigrationTimeouts Default { get; } = new();

    /// <summary>What every limit below is measured on, and the figures of reports too.</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;

    /// <summary>Opening one TCP connection to the destination.</summary>
    public TimeSpan Connect { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Each step of the handshake (Hello, HelloReply, Auth).</summary>
    public TimeSpan Handshake { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>The destination waits this long for a source's further streams after its first.</summary>
    public TimeSpan NextStream { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>A destination that takes no byte for this long is given up on by the source.</summary>
    public TimeSpan SourceStall { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>A source that sends nothing for this long during the transfer is given up on by the destination.</summary>
    public TimeSpan DestinationStall { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How long the destination may take to apply a live round once its last byte was sent. While
    /// a round is on the wire the destination has nothing to say (a warm-up under a bandwidth cap
    /// can take many minutes); a peer that stops reading is caught by <see cref="SourceStall"/>.
    /// </summary>
    public TimeSpan ApplyRound { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>From the source's End to the destination's Ready: loading the state, and a cold migration's last pages.</summary>
    public TimeSpan Ready { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>From Go to the destination's Running; past it the outcome is unknown.</summary>
    public TimeSpan Running { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>From the destination's Ready to the source's Go; past it the destination holds the VM paused for a decision.</summary>
    public TimeSpan Go { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>A best-effort Abort on a failing link must not hang on a peer that stopped reading.</summary>
    public TimeSpan Abort { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Post-copy recovery: one attempt to reconnect and hear what the destination still lacks.</summary>
    public TimeSpan ReconnectAttempt { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Post-copy recovery: the pause between attempts (ferry migrate-recover cuts it short).</summary>
    public TimeSpan ReconnectInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>A token that cancels after <paramref name="limit"/> on <see cref="Clock"/>, or with <paramref name="linkedTo"/>.</summary>
    public ClockedCancellation After(TimeSpan limit, CancellationToken linkedTo = default) => new(Clock, limit, linkedTo);
}

/// <summary>
/// A cancellation source whose timer runs on a given clock (CancellationTokenSource.CreateLinkedTokenSource
/// would put its CancelAfter on the system's), also cancelled when the token it is linked to is.
/// </summary>
public sealed class ClockedCancellation : IDisposable
{
    private readonly CancellationTokenSource _source;
    private readonly CancellationTokenRegistration _link;

    public ClockedCancellation(TimeProvider clock, TimeSpan limit, CancellationToken linkedTo)
    {
        _source = new CancellationTokenSource(limit, clock);
        _link = linkedTo.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), _source);
    }

    public CancellationToken Token => _source.Token;
    public bool IsCancellationRequested => _source.IsCancellationRequested;

    /// <summary>Restarts the timer (a stall timeout after every piece that arrived).</summary>
    public void CancelAfter(TimeSpan limit) => _source.CancelAfter(limit);

    public void Dispose()
    {
        _link.Dispose();
        _source.Dispose();
    }
}
