using System.CommandLine;
using Ferry.Migration.Transport;
using Ferry.Vmm.Api;
using Ferry.Api;

namespace Ferry.Cli.Commands;

/// <summary>`ferry migrate`: tells a VM's process to move the VM to a `ferry receive` elsewhere.</summary>
public static class MigrateCommand
{
    public static Command Create()
    {
        var (socket, name) = CommonOptions.VmSelector();
        var to = new Option<string>("--to") { Description = "The destination: ADDR:PORT where `ferry receive` listens", Required = true };
        var mode = new Option<string>("--mode")
        {
            Description = "cold: stop the VM, copy everything, start it there. precopy: copy memory while the VM runs, then pause briefly. " +
                          "postcopy: pause, resume there at once, pages follow. hybrid: precopy rounds, then postcopy if they cannot meet --max-downtime",
            DefaultValueFactory = _ => "cold",
        };
        mode.AcceptOnlyFromAmong("cold", "precopy", "postcopy", "hybrid");
        var onNoConverge = new Option<string?>("--on-no-converge")
        {
            Description = "When the rounds cannot meet --max-downtime: abort (the VM runs on here; precopy's default), postcopy (hybrid's default) " +
                          "or force (switch over anyway, pausing longer than promised). Checked when the rounds stop shrinking, at --max-rounds and at --timeout",
        };
        onNoConverge.AcceptOnlyFromAmong("abort", "force", "postcopy");
        var postCopyAfter = new Option<string?>("--postcopy-after") { Description = "hybrid: switch to post-copy once this long has passed, e.g. 10s" };
        var recoveryTimeout = new Option<string?>("--recovery-timeout")
        {
            Description = "postcopy, hybrid: when the link breaks after the switchover, keep reconnecting this long, e.g. 60s (default 60s); the VM is held paused here with every page meanwhile",
        };
        var switchoverBandwidth = new Option<string?>("--switchover-bandwidth")
        {
            Description = "The stop-and-copy's rate, e.g. 10Gbit, or unlimited when the link allows more than --bandwidth (default: --bandwidth)",
        };
        var tokenFile = new Option<string?>("--token-file") { Description = "File holding the secret shared with the destination" };
        var maxDowntime = new Option<string?>("--max-downtime") { Description = "precopy: the pause to aim for, e.g. 50ms (default 50ms)" };
        var bandwidth = new Option<string?>("--bandwidth") { Description = "Limit on the wire, decimal bits per second, e.g. 1Gbit or 500Mbit (default: none)" };
        var streams = new Option<int?>("--streams") { Description = "TCP connections sending disjoint pages in parallel (default: one per core, at most 4; up to 16)" };
        var compress = new Option<string?>("--compress") { Description = "precopy: compress memory pages: lz4 or none (default: lz4 when --bandwidth caps the link, else none)" };
        compress.AcceptOnlyFromAmong("lz4", "none");
        var autoConverge = new Option<bool>("--auto-converge") { Description = "precopy: slow the vCPUs step by step while rounds stop shrinking" };
        var maxRounds = new Option<int?>("--max-rounds") { Description = "precopy, hybrid: rounds at most before --on-no-converge decides (default 30)" };
        var timeout = new Option<string?>("--timeout") { Description = "precopy, hybrid: time at most before --on-no-converge decides, e.g. 60s" };
        var verifyMemory = new Option<bool>("--verify-memory") { Description = "Check that the destination's RAM equals the source's before it runs (adds downtime; for tests)" };
        var copyStorage = new Option<bool>("--copy-storage")
        {
            Description = "Move the VM's disk images too (for a local disk): copied while the VM runs, written blocks sent again like dirty memory " +
                          "(post-copy, hybrid: after the switchover, fetched on demand like pages); the destination writes them to its --disk paths. " +
                          "Default: the storage is shared and nothing of it is copied",
        };
        var json = new Option<bool>("--json") { Description = "Print the final report as JSON on stdout" };
        var tls = new TlsOptions();
        var command = new Command("migrate",
            """
            Move a VM to another host running `ferry receive`. The VM never runs in two places: the
            destination starts it only after the source has committed; any failure before the commit
            leaves it running here. Exit code 0: it runs there; 4: it runs here; 7: outcome unknown
            (the VM is held paused here; the message says how to settle it).

            --max-downtime is a promise: a precopy whose rounds cannot meet it gives up by default
            and the VM runs on here (--on-no-converge force pauses longer instead). The stop-and-copy
            keeps to --bandwidth unless --switchover-bandwidth says the link allows more.

            WARNING (postcopy, hybrid): from the post-copy switchover until the last page has
            arrived, the VM's memory lives on two hosts. Losing either host, or the link for good,
            in that window loses the VM. The report says how long the window lasted. A link that
            breaks is reconnected (by itself, or now with `ferry migrate-recover`, also --to a new
            address) for --recovery-timeout, while the guest waits for the pages it touches.

            Examples:
              ferry migrate --name demo --to 10.0.0.2:7000 --mode cold --token-file /etc/ferry/token
              ferry migrate --name demo --to 10.0.0.2:7000 --mode precopy --max-downtime 50ms \
                  --bandwidth 1Gbit --auto-converge --token-file /etc/ferry/token --json
              ferry migrate --name demo --to 10.0.0.2:7000 --mode precopy --copy-storage --token-file /etc/ferry/token
              ferry migrate --name demo --to 10.0.0.2:7000 --mode hybrid --max-downtime 20ms \
                  --postcopy-after 30s --token-file /etc/ferry/token
            """)
        { socket, name, to, mode, tokenFile, maxDowntime, bandwidth, streams, compress, autoConverge, maxRounds, timeout, onNoConverge, postCopyAfter, switchoverBandwidth, recoveryTimeout, verifyMemory, copyStorage, json };
        foreach (var option in tls.All) command.Options.Add(option);
        command.SetAction(async (parse, ct) =>
        {
            string destination = parse.GetValue(to)!;
            if (!TcpEndpoint.TryParse(destination, out _, out _)) throw new UsageException($"--to {destination}: write ADDR:PORT");
            string token = TokenFile.Read(parse.GetValue(tokenFile));
            tls.Load(parse); // checks the files here, where the user sees the error
            var request = new MigrateRequest(destination, parse.GetValue(mode)!, token)
            {
                MaxDowntimeMs = Duration(parse.GetValue(maxDowntime), "--max-downtime")?.TotalMilliseconds,
                BandwidthBitsPerSecond = Bandwidth(parse.GetValue(bandwidth), "--bandwidth"),
                Streams = parse.GetValue(streams),
                Compress = parse.GetValue(compress),
                AutoConverge = parse.GetValue(autoConverge),
                MaxRounds = parse.GetValue(maxRounds),
                TimeoutSeconds = Duration(parse.GetValue(timeout), "--timeout")?.TotalSeconds,
                VerifyMemory = parse.GetValue(verifyMemory),
                CopyStorage = parse.GetValue(copyStorage),
                OnNoConverge = parse.GetValue(onNoConverge),
                PostCopyAfterSeconds = Duration(parse.GetValue(postCopyAfter), "--postcopy-after")?.TotalSeconds,
                SwitchoverBandwidthBitsPerSecond = parse.GetValue(switchoverBandwidth) is { } sb && sb != "unlimited" ? Bandwidth(sb, "--switchover-bandwidth") : null,
                UnlimitedSwitchover = parse.GetValue(switchoverBandwidth) == "unlimited",
                RecoveryTimeoutSeconds = Duration(parse.GetValue(recoveryTimeout), "--recovery-timeout")?.TotalSeconds,
                TlsCert = TlsOptions.Absolute(parse.GetValue(tls.Cert)),
                TlsKey = TlsOptions.Absolute(parse.GetValue(tls.Key)),
                TlsCa = TlsOptions.Absolute(parse.GetValue(tls.Ca)),
            };
            try { Vmm.Operations.MigrationPlan.From(request); }
            catch (Ferry.Migration.MigrationException e) { throw new UsageException(e.Message); }
            var client = new ApiClient(CommonOptions.ResolveSocket(parse, socket, name));
            if (request.Mode is "postcopy" or "hybrid")
                Console.Error.WriteLine("ferry: warning: from the post-copy switchover until the last page has arrived, the VM's memory lives on both hosts; " +
                                        "losing either loses the VM (the report says how long that lasted)");
            await client.MigrateAsync(request, ct);
            var status = await OperationWatcher.WatchAsync(client, $"migrating to {destination}", ct);
            return Report.Print(status, parse.GetValue(json));
        });
        return command;
    }

    private static TimeSpan? Duration(string? text, string option)
    {
        if (text is null) return null;
        return RateParser.TryParseDuration(text, out var d) ? d : throw new UsageException($"{option} {text}: not a duration (write e.g. 50ms, 30s, 2m)");
    }

    private static long? Bandwidth(string? text, string option)
    {
        if (text is null || text == "unlimited") return null;
        return RateParser.TryParseBitsPerSecond(text, out long bits) ? bits : throw new UsageException($"{option} {text}: not a bandwidth (write e.g. 1Gbit, 500Mbit)");
    }
}
