namespace Ferry.Migration.Vm;

/// <summary>A contiguous range of guest RAM.</summary>
public readonly record struct MemoryRegion(ulong Gpa, ulong SizeBytes)
{
    public ulong EndGpa => Gpa + SizeBytes;
    public bool Contains(ulong gpa) => gpa >= Gpa && gpa < EndGpa;
}
