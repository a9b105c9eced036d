using System.CommandLine;
using System.Text.Json;
using Ferry.Compare;
using Ferry.Compare.Measuring;

namespace Ferry.Cli.Commands;

/// <summary>
/// `ferry heartbeats`: the guest-observed figures of one migration from console logs, the same
/// code `ferry compare` measures with, for the benchmarks and anyone with their own harness.
/// </summary>
public static class HeartbeatsCommand
{
    public static Command Create()
    {
        var logs = new Argument<string[]>("LOG") { Description = "Console logs, one line per console line: SECONDS TEXT (host CLOCK_MONOTONIC when the line arrived); the source's and the destination's", Arity = ArgumentArity.OneOrMore };
        var from = new Option<double>("--from") { Description = "When the migration began (host seconds)", Required = true };
        var end = new Option<double>("--end") { Description = "When it ended: the workload's pace is measured up to here", Required = true };
        var to = new Option<double?>("--to") { Description = "Until when silences count (default: --end + 1 s, so the destination's first heartbeats are in)" };
        var baselineFrom = new Option<double?>("--baseline-from") { Description = "Start of the noise floor and the pace before (default: --from - 2 s)" };
        var command = new Command("heartbeats",
            """
            Read the guest's heartbeat lines (HB seq ns pages, from memtouch and clockcheck) in console
            logs and print, as JSON, what its clients saw of a migration: the longest silence from
            --from to --to and when it began, the longest silence before (the noise floor), their
            difference (the guest-observed downtime), and the workload's pages per second before and
            during, and its slowdown. The definition ferry compare uses (docs/compare.md).

            Example:
              ferry heartbeats src.console.log dst.console.log --from 1200.5 --end 1201.1
            """)
        { logs, from, end, to, baselineFrom };
        command.SetAction(parse =>
        {
            var paths = parse.GetValue(logs)!;
            if (paths.FirstOrDefault(p => !File.Exists(p)) is { } missing)
            {
                Console.Error.WriteLine($"ferry heartbeats: {missing}: no such file");
                return (int)ExitCode.BadInput;
            }
            double start = parse.GetValue(from), stop = parse.GetValue(end);
            if (!(stop >= start) || !double.IsFinite(start) || !double.IsFinite(stop))
            {
                Console.Error.WriteLine("ferry heartbeats: --end must not come before --from");
                return (int)ExitCode.BadInput;
            }
            var beats = ConsoleLog.ReadHeartbeats(paths);
            var seen = GuestObserved.Of(beats, parse.GetValue(baselineFrom) ?? start - 2, start, stop, parse.GetValue(to) ?? stop + 1);
            Console.WriteLine(JsonSerializer.Serialize(seen, CompareJson.Default.GuestObserved));
            return (int)ExitCode.Ok;
        });
        return command;
    }
}
