using System.Runtime.InteropServices;

namespace Ferry.Kvm;

/// <summary>A KVM or libc call failed. The message names the operation and the errno text.</summary>
public sealed class KvmException(string operation, int errno, string? hint = null)
    : Exception($"{operation} failed: {Marshal.GetPInvokeErrorMessage(errno)}{(hint is null ? "" : $" ({hint})")}")
{
    public int Errno { get; } = errno;
    public string Operation { get; } = operation;
}
