using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using Ferry.Migration.Cold;
using Ferry.Migration.Transport;
using Ferry.Vmm;
using Ferry.Vmm.Api;

namespace Ferry.Cli.Commands;

/// <summary>`ferry receive`: waits for one migrating VM and becomes its VMM process.</summary>
public static class ReceiveCommand
{
    public static Command Create()
    {
        var listen = new Option<string>("--listen") { Description = "ADDR:PORT to accept the migration on", Required = true };
        var name = CommonOptions.Name();
        var apiSocket = new Option<string?>("--api-socket") { Description = "Control API socket (default: <run dir>/<name>.sock)" };
        var console = new Option<string>("--console") { Description = "Guest serial console: stdio or a file to append to", DefaultValueFactory = _ => "stdio" };
        var tokenFile = new Option<string?>("--token-file") { Description = "File holding the secret shared with the source (required off loopback)" };
        var command = new Command("receive",
            """
            Wait for one VM migrated by `ferry migrate`, then run it in this process. The VM starts
            only once the source has committed; if the link breaks after this side is ready but
            before the word to run, the VM is held paused here (see `ferry status`).

            Example:
              ferry receive --listen 0.0.0.0:7000 --token-file /etc/ferry/token --name demo
            """)
        { listen, name, apiSocket, console, tokenFile };
        command.SetAction(async (parse, ct) =>
        {
            string address = parse.GetValue(listen)!;
            if (!TcpEndpoint.TryParse(address, out var host, out int port)) throw new UsageException($"--listen {address}: write ADDR:PORT");
            string? tokenPath = parse.GetValue(tokenFile);
            if (tokenPath is null && !TcpEndpoint.IsLoopback(host))
                throw new UsageException($"a receiver on {host}, which is not a loopback address, needs --token-file");
            byte[] token = System.Text.Encoding.UTF8.GetBytes(TokenFile.Read(tokenPath));
            if (!IPAddress.TryParse(host == "localhost" ? "127.0.0.1" : host, out var ip)) throw new UsageException($"--listen {address}: not an IP address");

            using var sink = ConsoleSink.Open(parse.GetValue(console)!);
            var listener = new TcpListener(ip, port);
            try { listener.Start(1); }
            catch (SocketException e) { throw new UsageException($"cannot listen on {address}: {e.Message}"); }
            Console.Error.WriteLine($"ferry: waiting for a migration on {address}");
            TcpClient client;
            try { client = await listener.AcceptTcpClientAsync(ct); }
            finally { listener.Stop(); }

            using (client)
            {
                client.NoDelay = true;
                var destination = new ColdMigrationDestination();
                var (result, migrated, detail) = await destination.RunAsync(client.GetStream(), token,
                    configuration =>
                    {
                        var config = VmConfigJson.Decode(configuration.Span);
                        if (parse.GetValue(name) is { } newName) config = config with { Name = newName };
                        return KvmVm.CreateForRestore(config, sink.Write);
                    },
                    vm => { ((KvmVm)vm).Start(); return Task.CompletedTask; },
                    progress: null, ct);
                using var vm = (KvmVm)migrated;
                string socket = parse.GetValue(apiSocket) ?? ApiSocketPaths.ForName(vm.Config.Name);
                if (result == DestinationResult.Running)
                    return await VmHost.ServeAsync(vm, socket, sink, () => { });
                string reason = $"the source never said to run it ({detail}); it may still run there";
                Console.Error.WriteLine($"ferry: {vm.Config.Name}: held paused here: {reason}. If the source VM is gone, " +
                                        $"`ferry resume --force --api-socket {socket}`; otherwise `ferry stop --api-socket {socket}`.");
                return await VmHost.ServeAsync(vm, socket, sink, () => { vm.Start(paused: true); vm.Hold(reason); });
            }
        });
        return command;
    }
}
