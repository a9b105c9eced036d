using System.Diagnostics;

namespace Ferry.Tests.Shared;

/// <summary>
/// The test guest (guest/build.sh's ferry-guest.elf and initrd.cpio). ./test.sh builds it and
/// sets FERRY_GUEST_DIR; run alone, the tests build it themselves (cached, so it is quick).
/// </summary>
public static class TestGuest
{
    private static readonly Lazy<string> Dir = new(Locate);

    public static string Kernel => Path.Combine(Dir.Value, "ferry-guest.elf");
    public static string Initrd => Path.Combine(Dir.Value, "initrd.cpio");

    public static string RepositoryRoot
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "Ferry.sln"))) return d.FullName;
            throw new InvalidOperationException("cannot find the repository root (Ferry.sln) above " + AppContext.BaseDirectory);
        }
    }

    private static string Locate()
    {
        var fromEnv = Environment.GetEnvironmentVariable("FERRY_GUEST_DIR");
        if (!string.IsNullOrEmpty(fromEnv)) return fromEnv;
        string root = RepositoryRoot, output = Path.Combine(root, "artifacts", "guest");
        var start = new ProcessStartInfo(Path.Combine(root, "guest", "build.sh")) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("--out");
        start.ArgumentList.Add(output);
        using var p = Process.Start(start)!;
        string log = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"guest/build.sh failed: {log}");
        return output;
    }

    /// <summary>A command line that runs one program with arguments and powers off when it exits.</summary>
    public static string Run(string program, string args = "", bool powerOff = true) =>
        $"ferry.workload={program}" + (args.Length > 0 ? $" ferry.args=\"{args}\"" : "") + (powerOff ? " ferry.poweroff=1" : "");
}
