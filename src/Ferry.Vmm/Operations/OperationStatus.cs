namespace Ferry.Vmm.Operations;

/// <summary>A long operation on the VM (snapshot, migration) as the control API reports it.</summary>
public sealed record OperationStatus(
    string Kind,
    string Phase,
    long MemoryBytesDone,
    long MemoryBytesTotal,
    long BytesTransferred,
    string Message,
    OperationReport? Report)
{
    public const string Running = "running", Completed = "completed", Failed = "failed", OutcomeUnknown = "outcome-unknown";
    public bool Finished => Phase != Running;
}

/// <summary>The figures of a finished snapshot or migration, measured in the VMM.</summary>
public sealed record OperationReport(double TotalMs, double DowntimeMs, long BytesTransferred, long PagesSent, long ZeroPagesSkipped, long UntouchedPagesSkipped);
