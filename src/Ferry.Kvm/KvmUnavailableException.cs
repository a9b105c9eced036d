namespace Ferry.Kvm;

/// <summary>KVM cannot be used on this host at all (no /dev/kvm, no permission, wrong API).</summary>
public sealed class KvmUnavailableException(string message) : Exception(message);
