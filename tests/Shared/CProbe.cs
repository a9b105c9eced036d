using System.Diagnostics;

namespace Ferry.Tests.Shared;

/// <summary>
/// Compiles and runs a small C program that prints "KIND NAME VALUE" lines (sizes, offsets,
/// constants from kernel headers), so layouts are checked against the headers, never copied.
/// </summary>
public sealed class CProbe(string sourceFileName)
{
    private readonly Lazy<Dictionary<string, ulong>> _values = new(() => Probe(sourceFileName));

    public ulong Get(string kind, string name) =>
        _values.Value.TryGetValue($"{kind} {name}", out ulong v) ? v : throw new KeyNotFoundException($"{sourceFileName} does not print '{kind} {name}'");

    public IEnumerable<string> Names(string kind) =>
        _values.Value.Keys.Where(k => k.StartsWith(kind + " ", StringComparison.Ordinal)).Select(k => k[(kind.Length + 1)..]);

    private static Dictionary<string, ulong> Probe(string sourceFileName)
    {
        string source = Path.Combine(AppContext.BaseDirectory, sourceFileName);
        string binary = Path.Combine(Path.GetTempPath(), $"ferry-probe-{Path.GetFileNameWithoutExtension(source)}-{Environment.ProcessId}");
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
