using Ferry.Tests.Shared;

namespace Ferry.Cli.Tests.Infrastructure;

/// <summary>
/// One real snapshot of a small running test guest, taken once per test run and shared by the
/// tests that alter it: the raw material of a hostile snapshot or stream.
/// </summary>
public static class CapturedSnapshot
{
    private static readonly Lazy<byte[]> Image = new(Capture);

    /// <summary>The snapshot's bytes (a 64 MiB, 1-vCPU guest running memtouch).</summary>
    public static byte[] Bytes => Image.Value;

    public static ImageSections Sections => ImageSections.Parse(Bytes);

    private static byte[] Capture()
    {
        string dir = Directory.CreateTempSubdirectory("ferry-captured-").FullName;
        try
        {
            string name = $"captured-{Environment.ProcessId}";
            using var vm = FerryProcess.Start("run", "--kernel", TestGuest.Kernel, "--initrd", TestGuest.Initrd, "--memory", "64M",
                "--cpus", "1", "--name", name, "--cmdline", TestGuest.Run("memtouch", "--mb 8 --rate 100", powerOff: false));
            vm.WaitFor("memtouch ready");
            string path = Path.Combine(dir, "captured.snap");
            var r = FerryProcess.Run("snapshot", "--name", name, "--out", path);
            if (r.Code != 0) throw new InvalidOperationException($"snapshot failed ({r.Code}): {r.Stderr}");
            FerryProcess.Run("stop", "--name", name);
            return File.ReadAllBytes(path);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
