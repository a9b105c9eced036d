using System.Text.RegularExpressions;

namespace Ferry.Compare.Running;

/// <summary>
/// The guest's workload at one sweep point: the program, its arguments with the swept value in
/// place (<c>--rate</c>, <c>--mb</c>), the kernel command line that starts it, and the line that
/// says it is ready. memtouch heartbeats every millisecond, so a gap is measured to within one.
/// </summary>
public sealed partial record GuestWorkload(string Program, string Arguments)
{
    public static GuestWorkload Parse(string workload)
    {
        var text = workload.Trim();
        if (text.Length == 0) throw new ArgumentException("--workload is empty: give a test-guest program and its arguments, e.g. \"memtouch --mb 256 --rate 20000\"");
        if (text.Contains('"') || text.Contains(';')) throw new ArgumentException("--workload takes one program and its arguments, without quotes or ';'");
        int space = text.IndexOf(' ');
        return space < 0 ? new(text, "") : new(text[..space], text[(space + 1)..].Trim());
    }

    /// <summary>The workload with <paramref name="option"/> (e.g. <c>--rate</c>) set to <paramref name="value"/>, replaced or added.</summary>
    public GuestWorkload With(string option, string value)
    {
        var pattern = new Regex($@"(^|\s){Regex.Escape(option)}(\s+|=)\S+");
        string args = pattern.IsMatch(Arguments) ? pattern.Replace(Arguments, m => $"{m.Groups[1].Value}{option} {value}", 1) : $"{Arguments} {option} {value}".Trim();
        return this with { Arguments = args };
    }

    /// <summary>Heartbeats every 1 ms for memtouch unless the user chose a period.</summary>
    public GuestWorkload WithFineHeartbeat() =>
        Program == "memtouch" && !HeartbeatOption().IsMatch(Arguments) ? this with { Arguments = $"{Arguments} --hb-ms 1".Trim() } : this;

    public string KernelCommandLine => Arguments.Length == 0 ? $"ferry.workload={Program}" : $"ferry.workload={Program} ferry.args=\"{Arguments}\"";

    /// <summary>memtouch and memverify say "NAME ready" once their memory is filled; other programs are waited for by the kernel's ready line.</summary>
    public string ReadyLine => Program is "memtouch" or "memverify" ? $"{Program} ready" : "ferry-guest: ready";

    public override string ToString() => Arguments.Length == 0 ? Program : $"{Program} {Arguments}";

    [GeneratedRegex(@"(^|\s)(--hb-ms|-b)(\s|=)")]
    private static partial Regex HeartbeatOption();
}
