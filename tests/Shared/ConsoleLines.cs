using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Ferry.Tests.Shared;

/// <summary>A guest console as lines, each stamped with the host time it arrived; tests wait on patterns.</summary>
public sealed class ConsoleLines
{
    private readonly object _lock = new();
    private readonly List<(TimeSpan At, string Text)> _lines = [];
    private readonly StringBuilder _partial = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public IReadOnlyList<(TimeSpan At, string Text)> Lines { get { lock (_lock) return [.. _lines]; } }
    public string Text => string.Join('\n', Lines.Select(l => l.Text));

    /// <summary>Feeds raw console bytes (the VMM's sink).</summary>
    public void Write(ReadOnlySpan<byte> bytes)
    {
        lock (_lock)
        {
            foreach (char c in Encoding.UTF8.GetString(bytes))
            {
                if (c == '\n') { _lines.Add((_clock.Elapsed, _partial.ToString().TrimEnd('\r'))); _partial.Clear(); Monitor.PulseAll(_lock); }
                else _partial.Append(c);
            }
        }
    }

    public void AddLine(string line)
    {
        lock (_lock) { _lines.Add((_clock.Elapsed, line)); Monitor.PulseAll(_lock); }
    }

    /// <summary>Waits for a line matching <paramref name="pattern"/> at or after index <paramref name="from"/>; fails the test with the console so far.</summary>
    public Match WaitFor(string pattern, TimeSpan timeout, int from = 0, Func<bool>? stillAlive = null)
    {
        var regex = new Regex(pattern);
        var deadline = _clock.Elapsed + timeout;
        lock (_lock)
        {
            for (int i = from; ; )
            {
                for (; i < _lines.Count; i++)
                {
                    var m = regex.Match(_lines[i].Text);
                    if (m.Success) return m;
                }
                var left = deadline - _clock.Elapsed;
                if (left <= TimeSpan.Zero || (stillAlive is not null && !stillAlive()))
                    throw new Xunit.Sdk.XunitException($"no console line matched /{pattern}/ within {timeout.TotalSeconds:F0} s. Console:\n{Tail()}");
                Monitor.Wait(_lock, left < TimeSpan.FromMilliseconds(200) ? left : TimeSpan.FromMilliseconds(200));
            }
        }
    }

    public int Count { get { lock (_lock) return _lines.Count; } }

    private string Tail() => string.Join('\n', _lines.TakeLast(40).Select(l => l.Text));
}
