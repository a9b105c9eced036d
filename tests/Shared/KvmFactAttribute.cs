namespace Ferry.Tests.Shared;

/// <summary>A test that needs /dev/kvm. It skips, with the reason shown, only where there is none.</summary>
public sealed class KvmFactAttribute : FactAttribute
{
    public KvmFactAttribute()
    {
        if (!File.Exists("/dev/kvm")) Skip = "no /dev/kvm on this host";
    }
}

/// <summary>A KVM test with inline data.</summary>
public sealed class KvmTheoryAttribute : TheoryAttribute
{
    public KvmTheoryAttribute()
    {
        if (!File.Exists("/dev/kvm")) Skip = "no /dev/kvm on this host";
    }
}
