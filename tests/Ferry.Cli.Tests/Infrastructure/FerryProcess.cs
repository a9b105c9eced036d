using System.Diagnostics;
using Ferry.Tests.Shared;

namespace Ferry.Cli.Tests.Infrastructure;

/// <summary>
/// A `ferry` process, as users run it: the NativeAOT binary ./test.sh publishes (FERRY_BIN), or
/// `dotnet ferry.dll` from this test's output when run alone. Its stdout is the guest console.
/// </summary>
public sealed class FerryProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringWriter _stderr = new();

    private FerryProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) Console.AddLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_stderr) _stderr.WriteLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public ConsoleLines Console { get; } = new();
    public string Stderr { get { lock (_stderr) return _stderr.ToString(); } }
    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;

    public static FerryProcess Start(params string[] args)
    {
        var start = StartInfo(args);
        return new FerryProcess(Process.Start(start)!);
    }

    /// <summary>Starts ferry with extra environment variables (a test-only switch, say).</summary>
    public static FerryProcess StartWith(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var start = StartInfo(args);
        foreach (var (key, value) in environment) start.Environment[key] = value;
        return new FerryProcess(Process.Start(start)!);
    }

    /// <summary>Runs ferry to completion: exit code, stdout, stderr.</summary>
    public static (int Code, string Stdout, string Stderr) Run(params string[] args)
    {
        using var p = Start(args);
        int code = p.WaitForExit(TimeSpan.FromSeconds(120));
        return (code, p.Console.Text, p.Stderr);
    }

    public System.Text.RegularExpressions.Match WaitFor(string pattern, int seconds = 60, int from = 0) =>
        Console.WaitFor(pattern, TimeSpan.FromSeconds(seconds), from, () => !_process.HasExited);

    /// <summary>Waits until stderr holds <paramref name="text"/> (ferry's own messages, such as a receiver listening).</summary>
    public void WaitForStderr(string text, int seconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!Stderr.Contains(text))
        {
            if (_process.HasExited || DateTime.UtcNow > deadline)
                throw new Xunit.Sdk.XunitException($"ferry did not print \"{text}\". Stderr:\n{Stderr}");
            Thread.Sleep(20);
        }
    }

    public int WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            _process.Kill();
            throw new Xunit.Sdk.XunitException($"ferry did not exit within {timeout.TotalSeconds:F0} s. Stderr:\n{Stderr}");
        }
        _process.WaitForExit(); // drains the output readers
        return _process.ExitCode;
    }

    private static ProcessStartInfo StartInfo(string[] args)
    {
        var start = new ProcessStartInfo { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        var bin = Environment.GetEnvironmentVariable("FERRY_BIN");
        if (!string.IsNullOrEmpty(bin)) start.FileName = bin;
        else
        {
            start.FileName = "dotnet";
            start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "ferry.dll"));
        }
        foreach (var a in args) start.ArgumentList.Add(a);
        return start;
    }

    /// <summary>kill -9, as a crash or an operator would; the object stays usable (HasExited, output).</summary>
    public void Kill()
    {
        if (!_process.HasExited) _process.Kill();
        _process.WaitForExit();
    }

    private bool _disposed;

    /// <summary>Kills the process (SIGKILL) if it still runs. Safe to call twice.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (!_process.HasExited) _process.Kill();
        _process.WaitForExit();
        _process.Dispose();
    }
}
