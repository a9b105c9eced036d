using System.Diagnostics;
using Ferry.Compare.Measuring;

namespace Ferry.Compare.Running;

/// <summary>
/// A guest's console as a VMM process prints it on stdout: every line stamped with the host time
/// its newline arrived (one clock for every process of a comparison, <see cref="Now"/>), the
/// heartbeats among them, and a copy in a log file (<c>seconds text</c> per line).
/// </summary>
public sealed class GuestConsole
{
    private readonly object _lock = new();
    private readonly List<(double At, string Text)> _lines = [];
    private readonly List<Heartbeat> _heartbeats = [];
    private readonly Thread _reader;

    /// <summary>Host seconds on the monotonic clock every console of a comparison shares.</summary>
    public static double Now => Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency;

    public GuestConsole(Stream stdout, string logPath)
    {
        // A dedicated thread with blocking reads: a line's stamp must not wait for a pool thread.
        _reader = new Thread(() => Read(stdout, logPath)) { IsBackground = true, Name = "compare-console" };
        _reader.Start();
    }

    public IReadOnlyList<Heartbeat> Heartbeats { get { lock (_lock) return [.. _heartbeats]; } }

    public IReadOnlyList<string> Lines { get { lock (_lock) return [.. _lines.Select(l => l.Text)]; } }

    /// <summary>True once the process closed its stdout (it ended).</summary>
    public bool Ended => !_reader.IsAlive;

    /// <summary>Waits until a line contains <paramref name="text"/>; false after <paramref name="timeout"/> or when the process ended first.</summary>
    public bool WaitFor(string text, TimeSpan timeout)
    {
        var deadline = Now + timeout.TotalSeconds;
        lock (_lock)
        {
            while (true)
            {
                if (_lines.Any(l => l.Text.Contains(text, StringComparison.Ordinal))) return true;
                double left = deadline - Now;
                if (left <= 0 || !_reader.IsAlive) return false;
                Monitor.Wait(_lock, TimeSpan.FromSeconds(Math.Min(left, 0.5)));
            }
        }
    }

    private void Read(Stream stdout, string logPath)
    {
        using var log = new StreamWriter(logPath) { AutoFlush = true };
        var buffer = new byte[65536];
        var pending = new List<byte>();
        while (true)
        {
            int n;
            try { n = stdout.Read(buffer); }
            catch (IOException) { break; }
            if (n == 0) break;
            double at = Now;
            int start = 0;
            for (int i = 0; i < n; i++)
            {
                if (buffer[i] != (byte)'\n') continue;
                pending.AddRange(buffer.AsSpan(start, i - start));
                Add(at, System.Text.Encoding.UTF8.GetString([.. pending]).TrimEnd('\r'), log);
                pending.Clear();
                start = i + 1;
            }
            pending.AddRange(buffer.AsSpan(start, n - start));
        }
        lock (_lock) Monitor.PulseAll(_lock);
    }

    private void Add(double at, string text, StreamWriter log)
    {
        log.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{at:F6} {text}"));
        lock (_lock)
        {
            _lines.Add((at, text));
            if (Heartbeat.TryParse(text, at, out var heartbeat)) _heartbeats.Add(heartbeat);
            Monitor.PulseAll(_lock);
        }
    }
}
