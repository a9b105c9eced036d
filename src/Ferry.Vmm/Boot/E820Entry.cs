namespace Ferry.Vmm.Boot;

/// <summary>One range of the guest's memory map, as e820 and PVH's hvm_memmap_table_entry describe it.</summary>
public readonly record struct E820Entry(ulong Address, ulong SizeBytes, E820Type Type);

/// <summary>The e820 range types a Ferry guest sees.</summary>
public enum E820Type : uint { Ram = 1, Reserved = 2, Acpi = 3 }
