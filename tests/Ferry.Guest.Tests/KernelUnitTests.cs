using Ferry.Tests.Shared;

namespace Ferry.Guest.Tests;

public sealed class KernelUnitTests
{
    /// <summary>guest/kernel's own host-side unit tests (cpio parsing, command line, mappings), built and run natively.</summary>
    [Fact]
    public void Kernel_host_unit_tests_pass()
    {
        string output = Path.Combine(Path.GetTempPath(), $"ferry-kernel-check-{Environment.ProcessId}");
        try
        {
            var (code, log) = GuestProcess.Run("make", TimeSpan.FromSeconds(300), "-s", "-C", Path.Combine(TestGuest.RepositoryRoot, "guest", "kernel"), "check", $"OUT={output}");
            Assert.True(code == 0, log);
        }
        finally
        {
            if (Directory.Exists(output)) Directory.Delete(output, recursive: true);
        }
    }
}
