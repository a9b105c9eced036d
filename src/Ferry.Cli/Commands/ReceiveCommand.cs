using Ferry.Api;
using System.CommandLine;
using System.Runtime.InteropServices;
using System.Net;
using Ferry.Migration.Destination;
using Ferry.Migration.Transport;
using Ferry.Vmm.Api;
using Ferry.Vmm.Operations;

namespace Ferry.Cli.Commands;

/// <summary>`ferry receive`: waits for one migrating VM and becomes its VMM process (the work: Ferry.Vmm's ReceiveOperation).</summary>
public static class ReceiveCommand
{
    /// <summary>The options of `receive`; a standby's claim is parsed against the same ones.</summary>
    private sealed class Options
    {
        public readonly Option<string?> Listen = new("--listen") { Description = "ADDR:PORT to accept the migration on (required, but for --standby)" };
        public readonly Option<string?> Name = CommonOptions.Name();
        public readonly Option<string?> ApiSocket = new("--api-socket") { Description = "Control API socket (default: <run dir>/<name>.sock)" };
        public readonly Option<string> Console = new("--console") { Description = "Guest serial console: stdio or a file to append to", DefaultValueFactory = _ => "stdio" };
        public readonly Option<string[]> NetTaps = CommonOptions.NetTaps();
        public readonly Option<string?> RecoveryTimeout = new("--recovery-timeout")
        {
            Description = "Post-copy: when the link to the source breaks, wait this long for it to reconnect before the VM is given up as lost, e.g. 60s (default 60s)",
        };
        public readonly Option<string[]> DiskPaths = CommonOptions.DiskPaths();
        public readonly Option<bool> Seccomp = CommonOptions.Seccomp();
        public readonly Option<string?> TokenFile = new("--token-file") { Description = "File holding the secret shared with the source (off loopback: this or TLS)" };
        public readonly Option<bool> Standby = new("--standby")
        {
            Description = "Start now and wait, serving only the control API (--api-socket), until a client claims this process for one " +
                          "receive with PUT /receive/claim, whose body gives the other options. ferryd keeps one such process ready " +
                          "so that a migration need not wait for a VMM to start",
        };
        public readonly TlsOptions Tls = new();
    }

    public static Command Create()
    {
        var o = new Options();
        var command = new Command("receive",
            """
            Wait for one VM migrated by `ferry migrate` (cold, precopy, postcopy or hybrid), then
            run it in this process. The VM starts only once the source has committed; if the link
            breaks after this side is ready but before the word to run, the VM is held paused here
            (see `ferry status`). After a post-copy switchover the VM runs while its remaining pages
            arrive (`ferry migrate-status` here shows how many are left); if the source goes away
            before the last one, the VM is lost and this process exits with code 8.

            Disks: by default the storage is shared, and each --disk PATH (or the source's path) must
            hold the image already. A source that migrates with --copy-storage sends its images:
            they are created (or emptied) at those paths, which must be this side's own (an image
            some VM holds, such as the source's on the same host, is refused untouched), and a
            failed receive deletes the images it created.

            With --name (or --api-socket) the VM's control API is served from the start: `ferry
            status` shows it as receiving and `ferry migrate-status` the receive's progress. `ferry
            migrate-cancel` (or SIGTERM) cancels it until this side says Ready: the VM runs on at
            its source and this process exits with code 4. After that it is refused.

            With --standby the process starts before any migration is asked for and waits on its
            control API until it is claimed: the claim's options (as above, but --console and
            --seccomp, which are the standby's own) start the receive, and the claim is answered
            once it listens. A claim that cannot start answers why, and the process exits.

            Examples:
              ferry receive --listen 0.0.0.0:7000 --token-file /etc/ferry/token --name demo
              ferry receive --listen 0.0.0.0:7000 --tls-cert dst.pem --tls-key dst.key --tls-ca ca.pem
              ferry receive --standby --api-socket /run/ferry/standby.sock --console guest.log
            """)
        { o.Listen, o.Name, o.ApiSocket, o.Console, o.TokenFile, o.RecoveryTimeout, o.DiskPaths, o.NetTaps, o.Seccomp, o.Standby };
        foreach (var option in o.Tls.All) command.Options.Add(option);
        command.SetAction((parse, _) => parse.GetValue(o.Standby) ? StandByAsync(command, o, parse) : ReceiveAsync(o, parse, parse, standby: null, started: null));
        return command;
    }

    /// <summary>
    /// --standby: the control API first; the receive's own options come with the claim, parsed as
    /// this command's. The claim is answered when the receive listens, or with why it cannot.
    /// </summary>
    private static async Task<int> StandByAsync(Command command, Options o, ParseResult own)
    {
        string socketPath = own.GetValue(o.ApiSocket) ?? throw new UsageException("--standby needs --api-socket: a standby is claimed through its control API");
        if (own.GetValue(o.Listen) is not null || own.GetValue(o.Name) is not null || own.GetValue(o.TokenFile) is not null)
            throw new UsageException("--standby takes --listen, --name and --token-file with its claim, not on its command line");
        // Opened now: the claimer may move the file with the standby's directory before it claims.
        using var sink = ConsoleSink.Open(own.GetValue(o.Console)!);
        var claims = new TaskCompletionSource<(string[] Arguments, TaskCompletionSource Started)>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var api = ApiServer.StartStandby(ApiSocket.Bind(socketPath), async arguments =>
        {
            var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            claims.TrySetResult((arguments, started));
            await started.Task;
        });
        // What a receive does first, done while nobody waits: loading the handshake's cryptography.
        Ferry.Migration.Transport.Handshake.Prepare();
        Console.Error.WriteLine($"ferry: standing by for a receive (control API: {socketPath})");
        (string[] arguments, TaskCompletionSource started) = await claims.Task;
        try
        {
            var claim = command.Parse(arguments);
            if (claim.Errors.Count > 0) throw new UsageException($"claim: {string.Join("; ", claim.Errors.Select(e => e.Message).Distinct())}");
            if (claim.GetValue(o.Standby)) throw new UsageException("claim: a claim cannot ask for --standby");
            if (claim.GetValue(o.ApiSocket) is { } moved && moved != socketPath) api.SocketMoved(moved);
            return await ReceiveAsync(o, own, claim, (api, sink), started);
        }
        catch (Exception e) when (!started.Task.IsCompleted)
        {
            // The claimer hears why in its answer; the process ends as a receive that could not start.
            started.TrySetException(e);
            return ErrorReport.Print(e);
        }
    }

    /// <param name="own">This process's command line: its console and seccomp.</param>
    /// <param name="parse">The receive's options: the command line, or a standby's claim.</param>
    /// <param name="standby">A standby's API, already served, and its console; null: the receive serves and opens its own.</param>
    /// <param name="started">Completed once the receive listens (a standby's claim is answered then).</param>
    private static async Task<int> ReceiveAsync(Options o, ParseResult own, ParseResult parse, (ApiServer Api, ConsoleSink Console)? standby,
        TaskCompletionSource? started)
    {
        string address = parse.GetValue(o.Listen) ?? throw new UsageException("receive needs --listen ADDR:PORT");
        if (!TcpEndpoint.TryParse(address, out var host, out int port)) throw new UsageException($"--listen {address}: write ADDR:PORT");
        string? tokenPath = parse.GetValue(o.TokenFile);
        var recovery = TimeSpan.FromSeconds(60);
        if (parse.GetValue(o.RecoveryTimeout) is { } r && (!RateParser.TryParseDuration(r, out recovery) || recovery <= TimeSpan.Zero))
            throw new UsageException($"--recovery-timeout {r}: not a duration (write e.g. 30s, 2m)");
        var tlsSettings = o.Tls.Load(parse);
        if (tokenPath is null && tlsSettings is null && !TcpEndpoint.IsLoopback(host))
            throw new UsageException($"a receiver on {host}, which is not a loopback address, needs --token-file or TLS (--tls-cert, --tls-key, --tls-ca)");
        byte[] token = System.Text.Encoding.UTF8.GetBytes(TokenFile.Read(tokenPath));
        if (!IPAddress.TryParse(host == "localhost" ? "127.0.0.1" : host, out var ip)) throw new UsageException($"--listen {address}: not an IP address");

        string[] disks = parse.GetValue(o.DiskPaths) ?? [], taps = parse.GetValue(o.NetTaps) ?? [];
        foreach (string disk in disks)
            if (Path.GetDirectoryName(Path.GetFullPath(disk)) is { } directory && !Directory.Exists(directory))
                throw new UsageException($"--disk {disk}: no such directory {directory}");
        var plan = new ReceivePlan(address, ip, port, token, tlsSettings, recovery, parse.GetValue(o.Name), standby?.Api.SocketPath ?? parse.GetValue(o.ApiSocket))
        {
            MapConfig = config => CommonOptions.MapNets(CommonOptions.MapDisks(config, disks), taps),
        };

        using var opened = standby is null ? ConsoleSink.Open(own.GetValue(o.Console)!) : null;
        var sink = standby?.Console ?? opened!;
        VmHost.ReserveThreads();
        // The API is served from the start when its socket is known (--name, --api-socket),
        // else from when the source's configuration names the VM.
        string? socketPath = plan.ApiSocketPath ?? (plan.Name is { } n ? ApiSocketPaths.ForName(n) : null);
        await using var api = standby?.Api ?? ApiServer.StartReceiving(socketPath is null ? null : ApiSocket.Bind(socketPath), plan.Name);
        if (standby is not null && plan.Name is { } claimedName) api.ReceivingName(claimedName);
        await using var receive = ReceiveOperation.Listen(plan, line => Console.Error.WriteLine($"ferry: {line}"),
            config =>
            {
                api.Receiving(config);
                // Bound before the VM exists: a socket that cannot work fails the migration before its commit.
                if (!api.Serving) api.Serve(ApiSocket.Bind(ApiSocketPaths.ForName(config.Name)));
            });
        // The receive is the API's operation from here, but its work (readying the handshake's
        // crypto, then accepting) begins once the line below is out: whoever waits for that line
        // (ferryd, before it tells the source to send) need not wait for it too, and a source that
        // connects meanwhile waits in the listen queue.
        var announced = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        api.ShowOperation(ReceiveOperation.Kind, async (progress, cancel) =>
        {
            await announced.Task;
            return await receive.RunAsync(sink.Write, progress, cancel);
        });
        Console.Error.WriteLine($"ferry: waiting for a migration on {address}" + (api.Serving ? $" (control API: {api.SocketPath})" : ""));
        started?.TrySetResult();
        announced.SetResult();
        ReceivedVm received;
        // SIGTERM or Ctrl-C cancels a receive that still can be; past its Ready they end the process as before.
        using (var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Cancel))
        using (var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Cancel))
        {
            try { received = await receive.Received; }
            catch (OperationCanceledException)
            {
                Console.Error.WriteLine($"ferry: {ReceiveOperation.CancelledMessage}");
                return (int)ExitCode.MigrationFailed;
            }
        }
        using var vm = received.Vm;
        api.Attach(vm);
        var outcome = received.Outcome;
        if (outcome.Result == DestinationResult.Running && outcome.PostCopy is not null)
            Console.Error.WriteLine($"ferry: {vm.Config.Name}: running; post-copy: its memory still arrives from the source, which must stay up until it has");
        int code;
        if (outcome.Result == DestinationResult.Running)
            code = await VmHost.ServeAsync(vm, api, sink, () => { }, own.GetValue(o.Seccomp) || parse.GetValue(o.Seccomp));
        else
        {
            string reason = ReceiveOperation.HeldReason(outcome);
            Console.Error.WriteLine($"ferry: {vm.Config.Name}: held paused here: {reason}. If the source VM is gone, " +
                                    $"`ferry resume --force --api-socket {api.SocketPath}`; otherwise `ferry stop --api-socket {api.SocketPath}`.");
            code = await VmHost.ServeAsync(vm, api, sink, () => { vm.Start(paused: true); vm.Hold(reason); });
        }
        // The socket goes as soon as the VM has ended, as for `ferry run`: not after the VM's memory is unmapped.
        await api.DisposeAsync();
        return code;

        void Cancel(PosixSignalContext context) => context.Cancel = api.TryCancelOperation();
    }
}
