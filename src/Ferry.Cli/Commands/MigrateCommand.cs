using System.CommandLine;
using Ferry.Migration.Transport;
using Ferry.Vmm.Api;

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
            Description = "cold: stop the VM, copy everything, start it there. precopy: copy memory while the VM runs, then pause briefly",
            DefaultValueFactory = _ => "cold",
        };
        mode.AcceptOnlyFromAmong("cold", "precopy");
        var tokenFile = new Option<string?>("--token-file") { Description = "File holding the secret shared with the destination" };
        var maxDowntime = new Option<string?>("--max-downtime") { Description = "precopy: the pause to aim for, e.g. 50ms (default 50ms)" };
        var bandwidth = new Option<string?>("--bandwidth") { Description = "Limit on the wire, decimal bits per second, e.g. 1Gbit or 500Mbit (default: none)" };
        var streams = new Option<int?>("--streams") { Description = "TCP connections sending disjoint pages in parallel (default: one per core, at most 4; up to 16)" };
        var compress = new Option<string?>("--compress") { Description = "precopy: compress memory pages: lz4 or none (default: lz4 when --bandwidth caps the link, else none)" };
        compress.AcceptOnlyFromAmong("lz4", "none");
        var autoConverge = new Option<bool>("--auto-converge") { Description = "precopy: slow the vCPUs step by step while rounds stop shrinking" };
        var maxRounds = new Option<int?>("--max-rounds") { Description = "precopy: switch over after this many rounds whatever the downtime (default 30)" };
        var timeout = new Option<string?>("--timeout") { Description = "precopy: give up if not converged after this long, e.g. 60s; the VM keeps running here" };
        var verifyMemory = new Option<bool>("--verify-memory") { Description = "Check that the destination's RAM equals the source's before it runs (adds downtime; for tests)" };
        var json = new Option<bool>("--json") { Description = "Print the final report as JSON on stdout" };
        var tls = new TlsOptions();
        var command = new Command("migrate",
            """
            Move a VM to another host running `ferry receive`. The VM never runs in two places: the
            destination starts it only after the source has committed; any failure before the commit
            leaves it running here. Exit code 0: it runs there; 4: it runs here; 7: outcome unknown
            (the VM is held paused here; the message says how to settle it).

            Examples:
              ferry migrate --name demo --to 10.0.0.2:7000 --mode cold --token-file /etc/ferry/token
              ferry migrate --name demo --to 10.0.0.2:7000 --mode precopy --max-downtime 50ms \
                  --bandwidth 1Gbit --auto-converge --token-file /etc/ferry/token --json
            """)
        { socket, name, to, mode, tokenFile, maxDowntime, bandwidth, streams, compress, autoConverge, maxRounds, timeout, verifyMemory, json };
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
                BandwidthBitsPerSecond = Bandwidth(parse.GetValue(bandwidth)),
                Streams = parse.GetValue(streams),
                Compress = parse.GetValue(compress),
                AutoConverge = parse.GetValue(autoConverge),
                MaxRounds = parse.GetValue(maxRounds),
                TimeoutSeconds = Duration(parse.GetValue(timeout), "--timeout")?.TotalSeconds,
                VerifyMemory = parse.GetValue(verifyMemory),
                TlsCert = TlsOptions.Absolute(parse.GetValue(tls.Cert)),
                TlsKey = TlsOptions.Absolute(parse.GetValue(tls.Key)),
                TlsCa = TlsOptions.Absolute(parse.GetValue(tls.Ca)),
            };
            try { Vmm.Operations.MigrationPlan.From(request); }
            catch (Ferry.Migration.MigrationException e) { throw new UsageException(e.Message); }
            var client = new ApiClient(CommonOptions.ResolveSocket(parse, socket, name));
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

    private static long? Bandwidth(string? text)
    {
        if (text is null || text == "unlimited") return null;
        return RateParser.TryParseBitsPerSecond(text, out long bits) ? bits : throw new UsageException($"--bandwidth {text}: not a bandwidth (write e.g. 1Gbit, 500Mbit)");
    }
}
