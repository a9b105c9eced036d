using System.CommandLine;
using Ferry.Migration.Format;
using Ferry.Migration.Image;
using Ferry.Vmm;
using Ferry.Vmm.Api;

namespace Ferry.Cli.Commands;

/// <summary>`ferry restore`: a new VM process from a snapshot file.</summary>
public static class RestoreCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("FILE") { Description = "A snapshot written by `ferry snapshot`" };
        var name = CommonOptions.Name();
        var apiSocket = new Option<string?>("--api-socket") { Description = "Control API socket (default: <run dir>/<name>.sock)" };
        var console = new Option<string>("--console") { Description = "Guest serial console: stdio or a file to append to", DefaultValueFactory = _ => "stdio" };
        var diskPaths = CommonOptions.DiskPaths();
        var netTaps = CommonOptions.NetTaps();
        var paused = new Option<bool>("--paused") { Description = "Leave the restored VM paused (resume it with `ferry resume`)" };
        var command = new Command("restore",
            """
            Start a new VM process from a snapshot: the guest goes on where it was paused.
            A truncated or corrupted file is refused, naming the bad section; nothing starts.

            Example:
              ferry restore demo.snap --name demo2
            """)
        { file, name, apiSocket, console, paused, diskPaths, netTaps };
        command.SetAction(async (parse, ct) =>
        {
            string path = parse.GetValue(file)!;
            using var sink = ConsoleSink.Open(parse.GetValue(console)!);
            FileStream stream;
            try { stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan | FileOptions.Asynchronous); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new UsageException($"cannot open snapshot {path}: {e.Message}"); }
            KvmVm vm;
            ApiSocket? socket = null;
            await using (stream)
            try
            {
                // Reading the file runs ahead of filling guest RAM, so the two overlap.
                using var readAhead = new Ferry.Migration.Transport.ReadAheadStream(stream);
                vm = (KvmVm)await VmImageReader.ReadAsync(new SectionReader(readAhead), configuration =>
                {
                    var config = CommonOptions.MapDisks(VmConfigJson.Decode(configuration.Span), parse.GetValue(diskPaths) ?? []);
                    config = CommonOptions.MapNets(config, parse.GetValue(netTaps) ?? []);
                    if (parse.GetValue(name) is { } newName) config = config with { Name = newName };
                    else VmName.Check(config.Name, $"snapshot {path}: its configuration");
                    socket = ApiSocket.Bind(parse.GetValue(apiSocket) ?? ApiSocketPaths.ForName(config.Name));
                    return KvmVm.CreateForRestore(config, sink.Write);
                }, progress: null, ct);
            }
            catch (Exception e) when (e is Ferry.Migration.ProtocolException or InvalidDataException)
            {
                socket?.Dispose();
                throw new UsageException($"snapshot {path} cannot be restored: {e.Message}");
            }
            catch
            {
                socket?.Dispose();
                throw;
            }
            using (vm)
            {
                bool startPaused = parse.GetValue(paused);
                return await VmHost.ServeAsync(vm, socket!, sink, () =>
                {
                    vm.Start(paused: startPaused);
                    // The guest may now sit behind another port than when it was saved: tell the
                    // network at once, as a migrated VM does (a paused one stays quiet).
                    if (!startPaused) _ = vm.AnnounceAsync(CancellationToken.None);
                });
            }
        });
        return command;
    }
}
