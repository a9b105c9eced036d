namespace Ferry.Vmm;

/// <summary>Why a VM stopped running.</summary>
public enum VmExitKind
{
    /// <summary>The guest powered off through ACPI.</summary>
    PowerOff,
    /// <summary>The guest asked for a reset; Ferry ends the VM, as a reboot needs a fresh VMM.</summary>
    Reboot,
    /// <summary>Stopped through the control API or a signal.</summary>
    Stopped,
    /// <summary>The guest died: triple fault, an instruction KVM could not emulate, a failed entry.</summary>
    GuestDied,
    /// <summary>The VMM itself failed while running the guest.</summary>
    VmmError,
    /// <summary>Post-copy: the source of the pages this VM still lacked went away; it cannot run on with holes in its memory.</summary>
    Lost,
    /// <summary>The VM moved to another host and runs there.</summary>
    Migrated,
}

/// <summary>How a VM ended, with a one-line description for the user.</summary>
public sealed record VmExit(VmExitKind Kind, string Message)
{
    public bool IsClean => Kind is VmExitKind.PowerOff or VmExitKind.Reboot or VmExitKind.Stopped or VmExitKind.Migrated;
}
