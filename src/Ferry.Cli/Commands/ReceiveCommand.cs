using Ferry.Api;
using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using Ferry.Migration.Destination;
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
        var diskPaths = CommonOptions.DiskPaths();
        var netTaps = CommonOptions.NetTaps();
        var recoveryTimeout = new Option<string?>("--recovery-timeout")
        {
            Description = "Post-copy: when the link to the source breaks, wait this long for it to reconnect before the VM is given up as lost, e.g. 60s (default 60s)",
        };
        var tokenFile = new Option<string?>("--token-file") { Description = "File holding the secret shared with the source (off loopback: this or TLS)" };
        var tls = new TlsOptions();
        var command = new Command("receive",
            """
            Wait for one VM migrated by `ferry migrate` (cold, precopy, postcopy or hybrid), then
            run it in this process. The VM starts only once the source has committed; if the link
            breaks after this side is ready but before the word to run, the VM is held paused here
            (see `ferry status`). After a post-copy switchover the VM runs while its remaining pages
            arrive (`ferry migrate-status` here shows how many are left); if the source goes away
            before the last one, the VM is lost and this process exits with code 8.

            Examples:
              ferry receive --listen 0.0.0.0:7000 --token-file /etc/ferry/token --name demo
              ferry receive --listen 0.0.0.0:7000 --tls-cert dst.pem --tls-key dst.key --tls-ca ca.pem
            """)
        { listen, name, apiSocket, console, tokenFile, recoveryTimeout, diskPaths, netTaps };
        foreach (var option in tls.All) command.Options.Add(option);
        command.SetAction(async (parse, ct) =>
        {
            string address = parse.GetValue(listen)!;
            if (!TcpEndpoint.TryParse(address, out var host, out int port)) throw new UsageException($"--listen {address}: write ADDR:PORT");
            string? tokenPath = parse.GetValue(tokenFile);
            var recovery = TimeSpan.FromSeconds(60);
            if (parse.GetValue(recoveryTimeout) is { } r && (!RateParser.TryParseDuration(r, out recovery) || recovery <= TimeSpan.Zero))
                throw new UsageException($"--recovery-timeout {r}: not a duration (write e.g. 30s, 2m)");
            var tlsSettings = tls.Load(parse);
            if (tokenPath is null && tlsSettings is null && !TcpEndpoint.IsLoopback(host))
                throw new UsageException($"a receiver on {host}, which is not a loopback address, needs --token-file or TLS (--tls-cert, --tls-key, --tls-ca)");
            byte[] token = System.Text.Encoding.UTF8.GetBytes(TokenFile.Read(tokenPath));
            if (!IPAddress.TryParse(host == "localhost" ? "127.0.0.1" : host, out var ip)) throw new UsageException($"--listen {address}: not an IP address");

            using var sink = ConsoleSink.Open(parse.GetValue(console)!);
            var listener = new TcpListener(ip, port);
            try { listener.Start(Ferry.Migration.Transport.Handshake.MaxStreams); }
            catch (SocketException e) { throw new UsageException($"cannot listen on {address}: {e.Message}"); }
            Console.Error.WriteLine($"ferry: waiting for a migration on {address}");
            AcceptedMigration accepted;
            try { accepted = await MigrationListener.AcceptAsync(listener, token, tlsSettings, ct); }
            catch { listener.Stop(); throw; }
            // A post-copy source whose link breaks comes back here: keep listening until every page is in.
            if (!accepted.Mode.MayPostCopy()) listener.Stop();

            ApiSocket? socket = null;
            try
            {
                var destination = new MigrationDestination
                {
                    RecoveryTimeout = recovery,
                    AcceptReconnection = async accept =>
                    {
                        var again = await MigrationListener.AcceptAsync(listener, token, tlsSettings, accept);
                        if (again.Session == accepted.Session) return again;
                        foreach (var stream in again.Streams) await stream.DisposeAsync();
                        throw new Ferry.Migration.MigrationException("a connection of another migration was refused while post-copy waits for its source");
                    },
                };
                var outcome = await destination.RunAsync(accepted,
                    configuration =>
                    {
                        var config = CommonOptions.MapDisks(VmConfigJson.Decode(configuration.Span), parse.GetValue(diskPaths) ?? []);
                        config = CommonOptions.MapNets(config, parse.GetValue(netTaps) ?? []);
                        if (parse.GetValue(name) is { } newName) config = config with { Name = newName };
                        else VmName.Check(config.Name, "the migration's configuration");
                        // Bound before the VM exists: a socket that cannot work fails the migration before its commit.
                        socket = ApiSocket.Bind(parse.GetValue(apiSocket) ?? ApiSocketPaths.ForName(config.Name));
                        return KvmVm.CreateForRestore(config, sink.Write);
                    },
                    vm =>
                    {
                        var running = (KvmVm)vm;
                        running.Start();
                        // The guest's MAC now sits behind this host's tap: tell the network at once.
                        _ = running.AnnounceAsync(CancellationToken.None);
                        return Task.CompletedTask;
                    },
                    progress: null, ct);
                using var vm = (KvmVm)outcome.Vm;
                var served = socket!;
                socket = null; // VmHost owns it now
                if (outcome.Result == DestinationResult.Running && outcome.PostCopy is { } postCopy)
                {
                    Console.Error.WriteLine($"ferry: {vm.Config.Name}: running; post-copy: its memory still arrives from the source, which must stay up until it has");
                    _ = postCopy.ContinueWith(_ => listener.Stop(), TaskScheduler.Default);
                    return await VmHost.ServeAsync(vm, served, sink, () => { },
                        api => api.ShowOperation("receive", (progress, _) => PostCopyWatch.RunAsync(vm, outcome, postCopy, progress)));
                }
                if (outcome.Result == DestinationResult.Running)
                    return await VmHost.ServeAsync(vm, served, sink, () => { });
                string reason = $"the source never said to run it ({outcome.Detail}); it may still run there";
                Console.Error.WriteLine($"ferry: {vm.Config.Name}: held paused here: {reason}. If the source VM is gone, " +
                                        $"`ferry resume --force --api-socket {served.Path}`; otherwise `ferry stop --api-socket {served.Path}`.");
                return await VmHost.ServeAsync(vm, served, sink, () => { vm.Start(paused: true); vm.Hold(reason); });
            }
            finally
            {
                socket?.Dispose(); // the migration failed before a VM was served on it
                listener.Stop();
                foreach (var stream in accepted.Streams) await stream.DisposeAsync();
            }
        });
        return command;
    }
}
