using System.Diagnostics;

namespace Ferry.Compare.Running;

/// <summary>
/// A `ferry run` or `ferry receive` child started by a comparison, or a `ferry --host H vm console
/// --follow` reading one through its agent: its guest console on stdout (<see cref="Console"/>),
/// its stderr in a file, ended by name through `ferry stop` (a VMM) or by ending the process (a
/// console reader). Every process a comparison starts, it ends.
/// </summary>
public sealed class VmmProcess : IDisposable
{
    private readonly Process _process;
    private readonly string _ferry;
    private readonly bool _stopByName;
    private readonly Task _stderrCopy;

    /// <param name="stopByName">A VMM: stopped with `ferry stop --name NAME` first; else the process is killed.</param>
    public VmmProcess(string ferry, IReadOnlyList<string> arguments, string name, string logPrefix, bool stopByName = true)
    {
        _ferry = ferry;
        _stopByName = stopByName;
        Name = name;
        StderrPath = logPrefix + ".stderr";
        _process = ChildProcess.Start(ferry, arguments, closeStdin: true);
        Console = new GuestConsole(_process.StandardOutput.BaseStream, logPrefix + ".console.log");
        _stderrCopy = CopyAsync(_process.StandardError.BaseStream, StderrPath);
    }

    public string Name { get; }
    public string StderrPath { get; }
    public GuestConsole Console { get; }
    public int Pid => _process.Id;
    public bool Exited => _process.HasExited;

    /// <summary>Waits until stderr holds <paramref name="text"/> (e.g. a receiver's "waiting for a migration"); false if the process ended first or time ran out.</summary>
    public bool StderrHas(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (File.Exists(StderrPath) && ReadShared(StderrPath).Contains(text, StringComparison.Ordinal)) return true;
            if (_process.HasExited) return ReadShared(StderrPath).Contains(text, StringComparison.Ordinal);
            Thread.Sleep(20);
        }
        return false;
    }

    /// <summary>The last non-empty line of stderr: what went wrong, in the VMM's words.</summary>
    public string LastError() =>
        File.Exists(StderrPath) ? ReadShared(StderrPath).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "" : "";

    public bool WaitForExit(TimeSpan timeout) => _process.WaitForExit(timeout);

    /// <summary>Stops the VM by name, then kills the process if it is still there.</summary>
    public void Stop()
    {
        if (!_process.HasExited && !_stopByName) Kill();
        else if (!_process.HasExited)
        {
            try
            {
                using var stop = ChildProcess.Start(_ferry, ["stop", "--name", Name]);
                stop.WaitForExit(TimeSpan.FromSeconds(30));
            }
            catch (System.ComponentModel.Win32Exception) { /* the binary went away: kill below */ }
            if (!_process.WaitForExit(TimeSpan.FromSeconds(10))) Kill();
        }
        _process.WaitForExit();
        _stderrCopy.Wait(TimeSpan.FromSeconds(5));
    }

    public void Kill()
    {
        try { _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { /* already gone */ }
    }

    public void Dispose()
    {
        Stop();
        _process.Dispose();
    }

    private static async Task CopyAsync(Stream from, string path)
    {
        await using var to = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.ReadWrite);
        var buffer = new byte[4096];
        int n;
        while ((n = await from.ReadAsync(buffer)) > 0)
        {
            await to.WriteAsync(buffer.AsMemory(0, n));
            await to.FlushAsync();
        }
    }

    private static string ReadShared(string path)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return new StreamReader(f).ReadToEnd();
    }
}
