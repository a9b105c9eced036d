namespace Ferry.Kvm.Tests;

/// <summary>A test that needs /dev/kvm. It skips, with the reason shown, only where there is none.</summary>
public sealed class KvmFactAttribute : FactAttribute
{
    public KvmFactAttribute()
    {
        if (!File.Exists("/dev/kvm")) Skip = "no /dev/kvm on this host";
    }
}
