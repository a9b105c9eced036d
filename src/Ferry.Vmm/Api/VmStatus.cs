namespace Ferry.Vmm.Api;

/// <summary>GET /vm: what the control API tells about its VM.</summary>
public sealed record VmStatus(string Name, string State, int Cpus, ulong MemoryBytes, int Pid, long UptimeMs, string Kernel, string ApiSocket);

/// <summary>PUT /vm/pause: how long it took from the request to every vCPU out of KVM_RUN.</summary>
public sealed record PauseResult(string State, double PauseMicroseconds);

/// <summary>Any request that failed.</summary>
public sealed record ApiError(string Error);

/// <summary>A plain acknowledgement.</summary>
public sealed record ApiOk(string State);
