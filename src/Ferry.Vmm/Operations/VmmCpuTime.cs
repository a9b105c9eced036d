namespace Ferry.Vmm.Operations;

/// <summary>
/// CPU time this VMM process spent outside its vCPU threads (user + system, from /proc): what a
/// migration costs the host on top of running the guest. On a 2-core host it is taken from the guest.
/// </summary>
public static class VmmCpuTime
{
    private static readonly double TicksPerSecond = 100; // USER_HZ on Linux x86-64

    /// <summary>The process's CPU time minus its vCPU threads' (threads named vcpuN), now; zero where /proc cannot be read.</summary>
    public static TimeSpan Now()
    {
        try
        {
            double total = Ticks("/proc/self/stat");
            foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
            {
                string comm;
                try { comm = File.ReadAllText(Path.Combine(task, "comm")).Trim(); }
                catch (IOException) { continue; } // the thread ended meanwhile
                if (comm.StartsWith("vcpu", StringComparison.Ordinal) && comm.Length > 4 && char.IsAsciiDigit(comm[4]))
                    total -= Ticks(Path.Combine(task, "stat"));
            }
            return TimeSpan.FromSeconds(Math.Max(0, total) / TicksPerSecond);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return TimeSpan.Zero;
        }
    }

    /// <summary>utime + stime of a /proc stat file (fields 14 and 15, counted after the command name's closing parenthesis).</summary>
    private static double Ticks(string statPath)
    {
        string stat = File.ReadAllText(statPath);
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return double.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture) + double.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture);
    }
}
