namespace Ferry.Agent;

/// <summary>What /proc says about a process: whether it lives, and the CPU time it has used.</summary>
public static class ProcessInfo
{
    private static readonly double TickMs = 10; // USER_HZ is 100 on every Linux ABI Ferry runs on

    /// <summary>Alive and not a zombie.</summary>
    public static bool IsAlive(int pid)
    {
        string? state = StatField(pid, 0);
        return state is not null and not "Z" and not "X";
    }

    /// <summary>utime + stime of the whole process (every thread, those ended included), in ms; null when gone.</summary>
    public static long? CpuMs(int pid)
    {
        string? user = StatField(pid, 11), system = StatField(pid, 12);
        if (user is null || system is null) return null;
        return (long)((long.Parse(user) + long.Parse(system)) * TickMs);
    }

    /// <summary>Field <paramref name="index"/> of /proc/PID/stat counted from the state (field 3), after the command name that may hold spaces.</summary>
    private static string? StatField(int pid, int index)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return fields.Length > index ? fields[index] : null;
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }
}
