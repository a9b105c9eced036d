namespace Ferry.Api;

/// <summary>GET /vm: what the control API tells about its VM.</summary>
public sealed record VmStatus(string Name, string State, int Cpus, ulong MemoryBytes, int Pid, long UptimeMs, string Kernel, string ApiSocket, string? Hold)
{
    /// <summary>Each network card, in the VM's order, with its frame counters since this VMM started it.</summary>
    public IReadOnlyList<NetCardStatus>? Nets { get; init; }
}

/// <summary>
/// One virtio-net card as GET /vm reports it: its tap and MAC, frames each way, and frames lost:
/// on the way in with no receive buffer posted and the VMM's queue full (or the driver not
/// running), or too big for the buffer posted; on the way out refused by the tap or malformed.
/// </summary>
public sealed record NetCardStatus(string Tap, string Mac, long ReceivedFrames, long TransmittedFrames, long ReceiveDropped, long ReceiveTooBig, long TransmitDropped);

/// <summary>PUT /vm/pause: how long it took from the request to every vCPU out of KVM_RUN.</summary>
public sealed record PauseResult(string State, double PauseMicroseconds);

/// <summary>Any request that failed.</summary>
public sealed record ApiError(string Error);

/// <summary>A plain acknowledgement.</summary>
public sealed record ApiOk(string State);

/// <summary>PUT /vm/snapshot.</summary>
public sealed record SnapshotRequest(string Path, bool Resume);

/// <summary>
/// PUT /vm/migrate. The token is the shared secret read from the user's --token-file (empty:
/// none); TLS files are paths the VM's process opens. The rest tunes a live (pre-copy) migration.
/// </summary>
public sealed record MigrateRequest(string To, string Mode, string Token)
{
    public double? MaxDowntimeMs { get; init; }
    public long? BandwidthBitsPerSecond { get; init; }
    public int? Streams { get; init; }
    public string? Compress { get; init; }
    public bool AutoConverge { get; init; }
    public int? MaxRounds { get; init; }
    public double? TimeoutSeconds { get; init; }
    public bool VerifyMemory { get; init; }
    /// <summary>abort, force or postcopy; null for the mode's default.</summary>
    public string? OnNoConverge { get; init; }
    public double? PostCopyAfterSeconds { get; init; }
    /// <summary>The stop-and-copy's rate; null keeps --bandwidth.</summary>
    public long? SwitchoverBandwidthBitsPerSecond { get; init; }
    public bool UnlimitedSwitchover { get; init; }
    /// <summary>Post-copy: how long to keep reconnecting after the link broke.</summary>
    public double? RecoveryTimeoutSeconds { get; init; }
    /// <summary>The VM's disk images travel with it (copied while it runs); false: storage is shared.</summary>
    public bool CopyStorage { get; init; }
    public string? TlsCert { get; init; }
    public string? TlsKey { get; init; }
    public string? TlsCa { get; init; }
}

/// <summary>PUT /vm/migrate/recover: reconnect a broken post-copy now, optionally to a new address.</summary>
public sealed record RecoverRequest(string? To);

/// <summary>PUT /vm/resume, optionally forcing a held VM to run.</summary>
public sealed record ResumeRequest(bool Force);

/// <summary>PUT /receive/claim: the options of `ferry receive` (as on its command line, without --standby) a standby receiver is to receive with.</summary>
public sealed record StandbyClaim(string[] Arguments);
