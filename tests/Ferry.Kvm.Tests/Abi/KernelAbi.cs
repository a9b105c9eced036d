using System.Diagnostics;

namespace Ferry.Kvm.Tests.Abi;

/// <summary>What probe.c reports about linux/kvm.h on this machine: sizes, offsets and ioctl numbers.</summary>
public static class KernelAbi
{
    private static readonly Lazy<Dictionary<string, ulong>> Values = new(Probe);

    public static int Size(string cStruct) => (int)Get($"size {cStruct}");
    public static int Offset(string cStruct, string field) => (int)Get($"offset {cStruct}.{field}");
    public static ulong Ioctl(string name) => Get($"ioctl {name}");
    public static IEnumerable<string> IoctlNames => Values.Value.Keys.Where(k => k.StartsWith("ioctl ", StringComparison.Ordinal)).Select(k => k[6..]);

    private static ulong Get(string key) =>
        Values.Value.TryGetValue(key, out ulong v) ? v : throw new KeyNotFoundException($"probe.c does not print '{key}'");

    private static Dictionary<string, ulong> Probe()
    {
        string source = Path.Combine(AppContext.BaseDirectory, "Abi", "probe.c");
        string binary = Path.Combine(Path.GetTempPath(), $"ferry-kvm-probe-{Environment.ProcessId}");
        Run("gcc", ["-O0", "-o", binary, source]);
        try
        {
            return Run(binary, []).Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(line => line.Split(' '))
                .ToDictionary(p => $"{p[0]} {p[1]}", p => ulong.Parse(p[2]));
        }
        finally
        {
            File.Delete(binary);
        }
    }

    private static string Run(string file, string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var p = Process.Start(start)!;
        string output = p.StandardOutput.ReadToEnd();
        string error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} failed ({p.ExitCode}): {error}");
        return output;
    }
}
