using System.Diagnostics;

namespace Ferry.Compare.Running;

/// <summary>How a comparison starts the programs it drives (`ferry`, the QEMU peer's scripts): output captured, never through a shell.</summary>
internal static class ChildProcess
{
    public static Process Start(string file, IReadOnlyList<string> arguments, bool closeStdin = false)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = closeStdin, UseShellExecute = false };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {file}");
        if (closeStdin) process.StandardInput.Close();
        return process;
    }

    /// <summary>Runs a program to its end and returns its exit code and everything it printed.</summary>
    public static (int Exit, string Stdout, string Stderr) RunToEnd(string file, IReadOnlyList<string> arguments)
    {
        using var p = Start(file, arguments);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
