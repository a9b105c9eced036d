namespace Ferry.Vmm.Boot;

/// <summary>A PT_LOAD segment: FileSize bytes from FileOffset go to PhysicalAddress; the rest up to MemorySize is zero.</summary>
public readonly record struct ElfSegment(ulong FileOffset, ulong PhysicalAddress, ulong FileSize, ulong MemorySize);
