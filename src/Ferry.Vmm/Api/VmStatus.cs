namespace Ferry.Vmm.Api;

/// <summary>GET /vm: what the control API tells about its VM.</summary>
public sealed record VmStatus(string Name, string State, int Cpus, ulong MemoryBytes, int Pid, long UptimeMs, string Kernel, string ApiSocket, string? Hold);

/// <summary>PUT /vm/pause: how long it took from the request to every vCPU out of KVM_RUN.</summary>
public sealed record PauseResult(string State, double PauseMicroseconds);

/// <summary>Any request that failed.</summary>
public sealed record ApiError(string Error);

/// <summary>A plain acknowledgement.</summary>
public sealed record ApiOk(string State);

/// <summary>PUT /vm/snapshot.</summary>
public sealed record SnapshotRequest(string Path, bool Resume);

/// <summary>PUT /vm/migrate. The token is the shared secret read from the user's --token-file (empty: none).</summary>
public sealed record MigrateRequest(string To, string Mode, string Token);

/// <summary>PUT /vm/resume, optionally forcing a held VM to run.</summary>
public sealed record ResumeRequest(bool Force);
