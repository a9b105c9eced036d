using System.Reflection;

namespace Ferry.Vmm.Jail;

/// <summary>
/// The system calls a running VMM may make: the list in seccomp-x86_64.txt (embedded in the
/// binary, so a jailed VMM reads no file for it). Anything else kills the VMM process alone.
/// </summary>
public static class SeccompPolicy
{
    private const string Resource = "Ferry.Vmm.Jail.seccomp-x86_64.txt";

    /// <summary>(name, number) pairs of the list, in its order.</summary>
    public static IReadOnlyList<(string Name, int Number)> Allowed()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(Resource)
                           ?? throw new InvalidOperationException($"{Resource} is not embedded");
        using var reader = new StreamReader(stream);
        var list = new List<(string, int)>();
        for (string? line; (line = reader.ReadLine()) is not null;)
        {
            line = line.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            string[] parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            list.Add((parts[0], int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture)));
        }
        return list;
    }

    /// <summary>Confines this process, every thread of it, from now on.</summary>
    public static void Apply() => Kvm.Seccomp.Apply([.. Allowed().Select(a => a.Number)]);
}
