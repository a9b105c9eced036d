namespace Ferry.Migration.Image;

/// <summary>How far a VM image has been written or read: bytes of guest RAM scanned out of the total.</summary>
public readonly record struct ImageProgress(long MemoryBytesDone, long MemoryBytesTotal, long BytesTransferred);
