using System.CommandLine;
using System.Text.Json;
using Ferry.Vmm.Api;
using Ferry.Api;

namespace Ferry.Cli.Commands;

/// <summary>`ferry pause|resume|status|stop`: one request to a running VM's control API.</summary>
public static class ControlCommands
{
    public static IEnumerable<Command> Create()
    {
        yield return Make("pause", "Pause a running VM: every vCPU stops and guest time stands still.",
            async (client, json, _, ct) =>
            {
                var r = await client.PauseAsync(ct);
                Console.WriteLine(json ? JsonSerializer.Serialize(r, ApiJson.Default.PauseResult) : $"paused (all vCPUs out in {r.PauseMicroseconds:F0} µs)");
            });
        var force = new Option<bool>("--force")
        {
            Description = "Resume a VM held after a migration whose outcome is unknown. Only once you are sure it runs nowhere else.",
        };
        var resume = Make("resume", "Resume a paused VM where it stopped.",
            async (client, json, parse, ct) =>
            {
                var r = await client.ResumeAsync(parse.GetValue(force), ct);
                Console.WriteLine(json ? JsonSerializer.Serialize(r, ApiJson.Default.ApiOk) : "running");
            });
        resume.Options.Add(force);
        yield return resume;
        yield return Make("status", "Show a VM's state, size and uptime.",
            async (client, json, _, ct) =>
            {
                var s = await client.StatusAsync(ct);
                Console.WriteLine(json ? JsonSerializer.Serialize(s, ApiJson.Default.VmStatus)
                    : s.State == ApiServer.ReceivingState
                        ? $"{s.Name}: receiving, pid {s.Pid} (its progress: ferry migrate-status)"
                        : $"{s.Name}: {s.State}, {s.Cpus} vCPU, {s.MemoryBytes >> 20} MiB, pid {s.Pid}, up {TimeSpan.FromMilliseconds(s.UptimeMs):g}");
                if (!json)
                    foreach (var (card, i) in (s.Nets ?? []).Select((c, i) => (c, i)))
                        Console.WriteLine($"  net{i} tap {card.Tap} mac {card.Mac}: in {card.ReceivedFrames} frames, {card.ReceiveDropped} dropped, {card.ReceiveTooBig} too big; " +
                                          $"out {card.TransmittedFrames} frames, {card.TransmitDropped} dropped");
            });
        yield return Make("migrate-status", "Show the VM's running or last snapshot or migration: phase, progress and, once finished, its report.",
            async (client, json, _, ct) =>
            {
                var s = await client.OperationAsync(ct);
                Console.WriteLine(json ? JsonSerializer.Serialize(s, ApiJson.Default.OperationStatus)
                    : s.Live is { PagesAtSource: { } left } live
                        ? $"{s.Kind}: {s.Phase}, post-copy: {left} pages still at the source, {live.PagesRequested} requested on faults, {live.PagesPushed} pushed: {s.Message}"
                    : s.Receive is { } r
                        ? $"{s.Kind}: {s.Phase}" + (r.Mode is { } m ? $" ({m})" : "") + $", {r.PagesReceived} pages, {s.BytesTransferred >> 20} MiB received: {r.Step}" +
                          (r.Cancellable ? "" : " (no longer cancellable)")
                        : $"{s.Kind}: {s.Phase}, {s.MemoryBytesDone >> 20} of {s.MemoryBytesTotal >> 20} MiB scanned, {s.BytesTransferred >> 20} MiB sent: {s.Message}");
            });
        yield return Make("migrate-postcopy", "Switch the VM's running hybrid migration to post-copy now: it pauses briefly, resumes at the destination, and its pages follow.",
            async (client, json, _, ct) =>
            {
                var r = await client.SwitchToPostCopyAsync(ct);
                Console.WriteLine(json ? JsonSerializer.Serialize(r, ApiJson.Default.ApiOk) : "post-copy requested: it starts after the round on the wire (see `ferry migrate-status`)");
            });
        var recoverTo = new Option<string?>("--to") { Description = "Reconnect to this ADDR:PORT instead of the original destination (its `ferry receive` still listens there)" };
        var recover = Make("migrate-recover", "Reconnect a post-copy migration whose link broke, now (it retries by itself every second until --recovery-timeout).",
            async (client, json, parse, ct) =>
            {
                var r = await client.RecoverMigrationAsync(parse.GetValue(recoverTo), ct);
                Console.WriteLine(json ? JsonSerializer.Serialize(r, ApiJson.Default.ApiOk) : "reconnecting (see `ferry migrate-status`)");
            });
        recover.Options.Add(recoverTo);
        yield return recover;
        yield return Make("migrate-cancel", "Cancel a running migration. Before its commit point the VM keeps running here; after it, cancelling does nothing. " +
                          "On a receiving VMM: before it says Ready the VM keeps running at its source and the receiver exits; after, the cancel is refused.",
            async (client, json, _, ct) =>
            {
                var r = await client.CancelOperationAsync(ct);
                Console.WriteLine(json ? JsonSerializer.Serialize(r, ApiJson.Default.ApiOk) : "cancel requested (see `ferry migrate-status`)");
            });
        yield return Make("stop", "Stop a VM at once (no guest shutdown) and end its VMM process.",
            async (client, json, _, ct) =>
            {
                var r = await client.StopAsync(ct);
                Console.WriteLine(json ? JsonSerializer.Serialize(r, ApiJson.Default.ApiOk) : "stopped");
            });
    }

    private static Command Make(string name, string description, Func<ApiClient, bool, ParseResult, CancellationToken, Task> action)
    {
        var (socket, vmName) = CommonOptions.VmSelector();
        var json = new Option<bool>("--json") { Description = "Print the API's JSON answer" };
        var command = new Command(name, $"{description}\n\nExample:\n  ferry {name} --name demo\n  ferry {name} --api-socket /run/ferry/demo.sock")
        { socket, vmName, json };
        command.SetAction(async (parse, ct) =>
        {
            var client = new ApiClient(CommonOptions.ResolveSocket(parse, socket, vmName));
            await action(client, parse.GetValue(json), parse, ct);
            return 0;
        });
        return command;
    }
}
