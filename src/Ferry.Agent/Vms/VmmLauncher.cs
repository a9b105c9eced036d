using System.Diagnostics;
using System.Globalization;
using Ferry.Agent.Jail;
using Ferry.Api;

namespace Ferry.Agent.Vms;

/// <summary>
/// Starts VMM processes (`ferry run`, `ferry receive`, always with `--seccomp`) that do not belong
/// to the agent: each in a session of its own (setsid), stdin from /dev/null, its messages appended
/// to vms/NAME/vmm.log. An agent that stops or crashes leaves its VMs running; the next agent finds
/// them by their control sockets (run/NAME/api.sock). ferry-jail detaches the VMM so and writes its
/// pid to vms/NAME/vmm.pid before the launch returns. With a <see cref="VmmJail"/> each VMM starts
/// jailed, and sees its files under the jail's own paths.
/// </summary>
public sealed partial class VmmLauncher(StateDirectory state, string ferry, VmmJail? jail, string? guestBridge)
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    public async Task<int> RunAsync(VmRecord vm, CancellationToken cancellationToken)
    {
        // An image can be gone since the create: one a failed --copy-storage receive made is removed.
        for (int i = 0; i < vm.Disks.Count; i++)
            if (!File.Exists(vm.Disks[i].Path)) throw new AgentException($"disk {i}: image {vm.Disks[i].Path} does not exist on this host");
        var files = new List<(string, string, string)> { (vm.Kernel, VmmJail.Kernel, "ro") };
        if (vm.Initrd.Length > 0) files.Add((vm.Initrd, VmmJail.Initrd, "ro"));
        bool jailed = jail is not null;
        List<string> arguments =
        [
            "run", "--name", vm.Name, "--kernel", jailed ? VmmJail.Kernel : vm.Kernel, "--memory", vm.MemoryBytes.ToString(CultureInfo.InvariantCulture),
            "--cpus", vm.Cpus.ToString(CultureInfo.InvariantCulture), "--cmdline", vm.Cmdline, "--seccomp",
            .. ControlArguments(vm.Name),
        ];
        if (vm.Initrd.Length > 0) arguments.AddRange(["--initrd", jailed ? VmmJail.Initrd : vm.Initrd]);
        arguments.AddRange(VmDevices.VmmArguments(vm, JailDisks(vm, files)));
        return await LaunchAsync(vm, files, arguments, "", cancellationToken);
    }

    /// <summary>
    /// Adds the VM's images to the jail's files (opened to its user by an ACL entry, read-write or
    /// read-only); returns where the VMM sees disk N (its jail path, or its own path unjailed).
    /// </summary>
    private Func<int, VmDisk, string> JailDisks(VmRecord vm, List<(string, string, string)> files)
    {
        for (int i = 0; i < vm.Disks.Count; i++)
            if (jail is not null) files.Add((vm.Disks[i].Path, VmmJail.Disk(i), vm.Disks[i].ReadOnly ? "share-ro" : "share"));
        return (i, disk) => jail is not null ? VmmJail.Disk(i) : disk.Path;
    }

    /// <summary>
    /// A receiving VMM for <paramref name="vm"/> on <paramref name="listen"/>, returned once it waits
    /// for the source: the standby receiver claimed (<see cref="TryClaimStandbyAsync"/>) when there is
    /// one that can take this VM, else one started for it. <paramref name="tokenPath"/> holds the
    /// migration's token, in the VM's directory.
    /// </summary>
    public async Task<ReceiverStart> ReceiveAsync(VmRecord vm, string listen, string tokenPath, CancellationToken cancellationToken)
    {
        if (await TryClaimStandbyAsync(vm, listen, tokenPath, cancellationToken) is int claimed) return new ReceiverStart(claimed, Standby: true);
        List<string> arguments =
        [
            "receive", "--name", vm.Name, "--listen", listen, "--token-file", jail is not null ? VmmJail.Token : tokenPath, "--seccomp",
            .. ControlArguments(vm.Name),
        ];
        var files = new List<(string, string, string)> { (tokenPath, VmmJail.Token, "own-ro") };
        // The receiver maps the source's devices onto this host's: where each image is, which tap.
        arguments.AddRange(VmDevices.ReceiverArguments(vm, JailDisks(vm, files)));
        return new ReceiverStart(await LaunchAsync(vm, files, arguments, "waiting for a migration", cancellationToken), Standby: false);
    }

    /// <summary>A receiving VMM's pid, and whether it was the standby receiver.</summary>
    public sealed record ReceiverStart(int Pid, bool Standby);

    /// <summary>
    /// The VMM serves its API: `ferry run` binds the socket before it makes the VM and serves it
    /// after, so a connection alone would count a VMM whose disk or tap then fails as started.
    /// </summary>
    private async Task<bool> AnswersAsync(string name, CancellationToken cancellationToken)
    {
        string socket = state.ApiSocketPath(name);
        if (!ApiClient.IsAlive(socket)) return false;
        try
        {
            await new ApiClient(socket).StatusAsync(cancellationToken);
            return true;
        }
        catch (ApiException) { return false; }
    }

    private string[] ControlArguments(string name) => jail is not null
        ? ["--api-socket", VmmJail.ApiSocket, "--console", VmmJail.Console]
        : ["--api-socket", state.ApiSocketPath(name), "--console", state.ConsolePath(name)];

    /// <param name="readyLine">Text in vmm.log that says the VMM is ready; empty: its control socket answering.</param>
    /// <param name="tun">Passed on to <see cref="VmmJail.Prepare"/>.</param>
    private async Task<int> LaunchAsync(VmRecord vm, IReadOnlyList<(string, string, string)> files, IReadOnlyList<string> arguments, string readyLine,
        CancellationToken cancellationToken, bool tun = false)
    {
        string name = vm.Name;
        Directory.CreateDirectory(state.VmRunDirectory(name));
        var taps = vm.Nets.Select(n => n.Tap).ToList();
        string log = state.VmmLogPath(name), pidFile = state.VmmPidPath(name);
        // ferry-jail detaches the VMM itself and writes its pid before it exits; a host without the
        // jail may lack it (ferryd init --no-jail needs no ferry-jail), and then setsid and a shell do.
        bool detachedByHelper = jail is not null || File.Exists(VmmJail.Helper);
        List<string> command;
        if (jail is not null) command = [VmmJail.Helper, pidFile, log, .. jail.Prepare(name, vm.MemoryBytes, vm.Cpus, files, taps, arguments, tun)];
        else
        {
            foreach (string tap in taps) HostTaps.Ready(tap, owner: null, guestBridge);
            command = detachedByHelper
                ? [VmmJail.Helper, pidFile, log, "--no-jail", ferry, .. arguments]
                // sh writes its own pid, then becomes the VMM (exec keeps the pid).
                : ["setsid", "--fork", "/bin/sh", "-c", "echo $$ > \"$1\"; shift; exec \"$@\" </dev/null >>\"$0\" 2>&1", log, pidFile, ferry, .. arguments];
        }
        File.Delete(pidFile);
        long logStart = File.Exists(log) ? new FileInfo(log).Length : 0;
        var start = new ProcessStartInfo(command[0]) { UseShellExecute = false, RedirectStandardError = detachedByHelper };
        foreach (string a in command.Skip(1)) start.ArgumentList.Add(a);
        start.Environment["FERRY_RUN_DIR"] = jail is not null ? VmmJail.Run : state.VmRunDirectory(name);
        using (var launch = Process.Start(start) ?? throw new AgentException($"cannot start {command[0]}"))
        {
            // Its stderr closes when it exits: the VMM it left behind writes to its log instead.
            string error = detachedByHelper ? await launch.StandardError.ReadToEndAsync(cancellationToken) : "";
            await launch.WaitForExitAsync(cancellationToken);
            if (launch.ExitCode != 0)
            {
                VmCgroup.RemoveListed(state.CgroupListPath(name));
                throw new AgentException($"the VMM of {name} could not be started: {LastLine(error) ?? $"{command[0]} exited with code {launch.ExitCode}"}");
            }
        }

        var deadline = DateTime.UtcNow + StartTimeout;
        var written = new LogTail(log, logStart);
        int pid = 0;
        VmmStartSignal? signal = null;
        try
        {
            while (DateTime.UtcNow < deadline)
            {
                if (pid == 0 && File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), out int p)) pid = p;
                bool ready = readyLine.Length > 0 ? written.Shows(readyLine) : await AnswersAsync(name, cancellationToken);
                if (ready && pid != 0) return pid;
                if (pid != 0 && !ProcessInfo.IsAlive(pid))
                {
                    VmCgroup.RemoveListed(state.CgroupListPath(name));
                    // Read again: it wrote its last words after the read above.
                    throw new AgentException($"the VMM of {name} ended at start: {LastLine(written.All()) ?? "no message"}");
                }
                // A migration waits on this: the agent's own set-up time is what the issue bounds (20 ms).
                // A receiver says it is ready in its log, so its log and its end wake this at once; a
                // VMM whose control socket must answer is looked at every 2 ms.
                if (signal is null && pid != 0 && readyLine.Length > 0 && (signal = VmmStartSignal.TryOpen(log, pid)) is not null)
                    continue; // look again first: what it wrote before the watch began wakes nothing
                if (signal is not null)
                {
                    var wait = signal;
                    await Task.Run(() => wait.Wait(TimeSpan.FromMilliseconds(100)), cancellationToken);
                }
                else await Task.Delay(2, cancellationToken);
            }
        }
        finally { signal?.Dispose(); }
        throw new AgentException($"the VMM of {name} did not start within {StartTimeout.TotalSeconds:F0} s (see {log})");
    }

    /// <summary>What a VMM appended to its log since its launch, read on from where the last look stopped (a start is looked at many times).</summary>
    private sealed class LogTail(string path, long offset)
    {
        private readonly System.Text.StringBuilder _text = new();
        private readonly System.Text.Decoder _decoder = System.Text.Encoding.UTF8.GetDecoder();
        private readonly byte[] _buffer = new byte[4096];
        private readonly char[] _chars = new char[4096];
        private long _offset = offset;
        private int _searched;

        /// <summary>Whether <paramref name="line"/> is in the log now; only what came since the last look is searched (with the overlap a split line needs).</summary>
        public bool Shows(string line)
        {
            ReadMore();
            int from = Math.Max(0, _searched - line.Length + 1);
            bool found = _text.ToString(from, _text.Length - from).Contains(line, StringComparison.Ordinal);
            _searched = _text.Length;
            return found;
        }

        /// <summary>Everything appended since the launch.</summary>
        public string All()
        {
            ReadMore();
            return _text.ToString();
        }

        private void ReadMore()
        {
            if (!File.Exists(path)) return;
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            file.Seek(_offset, SeekOrigin.Begin);
            int n;
            while ((n = file.Read(_buffer)) > 0)
            {
                _offset += n;
                int count = _decoder.GetChars(_buffer, 0, n, _chars, 0);
                _text.Append(_chars, 0, count);
            }
        }
    }

    private static string? LastLine(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault();
}

/// <summary>A request the agent refuses or cannot carry out, in one line for its caller.</summary>
public sealed class AgentException(string message) : Exception(message);
