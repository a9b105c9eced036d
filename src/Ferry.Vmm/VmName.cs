using System.Text;

namespace Ferry.Vmm;

/// <summary>
/// The one rule for a VM's name, wherever it comes from: the command line, the control API, a
/// migration stream or a snapshot. A name becomes a file name (its API socket, in the run
/// directory) and appears in every log line, so it is a short run of characters that mean
/// nothing to a path, a shell or a terminal: letters, digits, '-', '_' and '.', not starting
/// with '.' (no "..", no hidden files), at most <see cref="MaxLength"/>.
/// </summary>
public static class VmName
{
    public const int MaxLength = 64;

    public const string Rule = "use 1 to 64 letters, digits, '-', '_' and '.', not starting with '.'";

    public static bool IsValid(string? name) =>
        name is { Length: > 0 and <= MaxLength } && name[0] != '.' &&
        name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');

    /// <summary>Throws VmConfigException, naming where the name came from, unless <paramref name="name"/> is valid.</summary>
    public static void Check(string? name, string from)
    {
        if (IsValid(name)) return;
        string shown = name is null ? "(none)" : name.Length == 0 ? "(empty)" : Printable(name);
        throw new VmConfigException($"{from}: the VM name {shown} is not allowed: {Rule}");
    }

    /// <summary>
    /// A name as it may appear in one line of output: quoted, control and non-ASCII characters
    /// escaped, cut at 40 characters. Used only for names being refused.
    /// </summary>
    public static string Printable(string name)
    {
        var shown = new StringBuilder("\"");
        foreach (char c in name.Length > 40 ? name[..40] : name)
        {
            if (c is >= ' ' and <= '~' and not '"' and not '\\') shown.Append(c);
            else shown.Append($"\\u{(int)c:x4}");
        }
        shown.Append(name.Length > 40 ? $"\"... ({name.Length} characters)" : "\"");
        return shown.ToString();
    }
}
