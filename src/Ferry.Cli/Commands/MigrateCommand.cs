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
        var mode = new Option<string>("--mode") { Description = "How to move it: cold (stop, copy everything, start there)", DefaultValueFactory = _ => "cold" };
        mode.AcceptOnlyFromAmong("cold");
        var tokenFile = new Option<string?>("--token-file") { Description = "File holding the secret shared with the destination" };
        var json = new Option<bool>("--json") { Description = "Print the final report as JSON" };
        var command = new Command("migrate",
            """
            Move a VM to another host running `ferry receive`. The VM never runs in two places: the
            destination starts it only after the source has committed; any failure before the commit
            leaves it running here. Exit code 0: it runs there; 4: it runs here; 7: outcome unknown
            (the VM is held paused here; the message says how to settle it).

            Example:
              ferry migrate --name demo --to 10.0.0.2:7000 --mode cold --token-file /etc/ferry/token
            """)
        { socket, name, to, mode, tokenFile, json };
        command.SetAction(async (parse, ct) =>
        {
            string destination = parse.GetValue(to)!;
            if (!TcpEndpoint.TryParse(destination, out _, out _)) throw new UsageException($"--to {destination}: write ADDR:PORT");
            string token = TokenFile.Read(parse.GetValue(tokenFile));
            var client = new ApiClient(CommonOptions.ResolveSocket(parse, socket, name));
            await client.MigrateAsync(new MigrateRequest(destination, parse.GetValue(mode)!, token), ct);
            var status = await OperationWatcher.WatchAsync(client, $"migrating to {destination}", ct);
            return Report.Print(status, parse.GetValue(json));
        });
        return command;
    }
}
