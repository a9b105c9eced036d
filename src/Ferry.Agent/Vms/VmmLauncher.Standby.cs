using System.Security.Cryptography;
using Ferry.Agent.Jail;
using Ferry.Api;

namespace Ferry.Agent.Vms;

/// <summary>
/// The standby receiver: one `ferry receive --standby` the agent keeps started (jailed as any VMM,
/// with a VMM's overhead as its only memory), so that a migration into this host claims a VMM that
/// is already up instead of waiting for one to start (the exec of the NativeAOT binary alone is
/// most of a receiver's start). It lives under a name no VM can have (".standby-" and 8 hex
/// digits: a VM's name starts with a letter or digit); claimed, its run directory, log, pid file,
/// console and cgroup list are moved to the VM's paths (the jail's binds follow the moves, which
/// keep the files), its uid and cgroups become the VM's, and the claim gives it the receive's
/// options. A jailed VM with disk images still gets a receiver started for it: images are bound
/// into a jail as it is made.
/// </summary>
public sealed partial class VmmLauncher
{
    /// <summary>What a standby prints when it waits on its control API.</summary>
    public const string StandbyReadyLine = "standing by for a receive";
    public const string StandbyPrefix = ".standby-";

    private readonly Lock _standbyLock = new();
    /// <summary>The standby ready to be claimed, or null.</summary>
    private (string Name, int Pid)? _standby;
    private bool _standbyStarting;
    /// <summary>After a start failed, the next is tried no sooner than this: a host that cannot start one says so twice a minute, not every second.</summary>
    private DateTime _standbyRetryAt;

    /// <summary>Whether this agent keeps a standby receiver (agent.json's standby_receiver).</summary>
    public bool KeepsStandby { get; init; }

    /// <summary>
    /// Starts a standby receiver when this agent keeps one and none is ready (the survey calls this
    /// while no migration runs here, so a start never takes a core from one). A start that fails is
    /// said on stderr and tried again 30 s later.
    /// </summary>
    public async Task EnsureStandbyAsync(CancellationToken cancellationToken)
    {
        lock (_standbyLock)
        {
            if (!KeepsStandby || _standbyStarting || DateTime.UtcNow < _standbyRetryAt) return;
            if (_standby is { } s && ProcessInfo.IsAlive(s.Pid)) return;
            _standby = null;
            _standbyStarting = true;
        }
        try
        {
            // What dead or discarded standbys left (a cgroup the kernel would not remove yet) goes first.
            RemoveStandbyLeftovers();
            string name = StandbyPrefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
            var record = new VmRecord(name, "", "", 0, 1, "", Intent.Receiving);
            try
            {
                Directory.CreateDirectory(state.VmDirectory(name));
                int pid = await LaunchAsync(record, [], ["receive", "--standby", "--seccomp", .. ControlArguments(name)], StandbyReadyLine, cancellationToken, tun: true);
                lock (_standbyLock) _standby = (name, pid);
            }
            catch (Exception e) when (e is AgentException or IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"ferryd: the standby receiver could not start (tried again in 30 s): {e.Message}");
                lock (_standbyLock) _standbyRetryAt = DateTime.UtcNow.AddSeconds(30);
                Discard(name);
            }
        }
        finally
        {
            lock (_standbyLock) _standbyStarting = false;
        }
    }

    /// <summary>
    /// Claims the standby receiver for <paramref name="vm"/>, listening on <paramref name="listen"/>;
    /// returns its pid once it listens, or null when there is no standby that can take this VM (a
    /// fresh receiver is started then). A claim the standby refuses is this receive's failure, as a
    /// receiver that ends at its start is.
    /// </summary>
    private async Task<int?> TryClaimStandbyAsync(VmRecord vm, string listen, string tokenPath, CancellationToken cancellationToken)
    {
        if (jail is not null && vm.Disks.Count > 0) return null;
        (string Name, int Pid) standby;
        lock (_standbyLock)
        {
            if (_standby is not { } s) return null;
            standby = s;
            _standby = null;
        }
        // One that died is left to the next sweep (RemoveStandbyLeftovers): a migration waits for nothing of it.
        // Not probed through its socket: a connection that says nothing costs the VMM a thrown exception,
        // its first, which takes it ~5 ms here, just when the claim comes.
        if (!ProcessInfo.IsAlive(standby.Pid)) return null;

        try
        {
            TakeOver(standby.Name, vm.Name);
            var taps = vm.Nets.Select(n => n.Tap).ToList();
            string token = tokenPath;
            if (jail is not null)
            {
                jail.Claim(standby.Name, vm.Name, vm.MemoryBytes, vm.Cpus, taps);
                // Its /run is the VM's run directory, which only the VM's uid (and root) may enter: the
                // token goes there, readable, since the file itself cannot be given to that uid from here.
                string jailed = Path.Combine(state.VmRunDirectory(vm.Name), Path.GetFileName(VmmJail.Token));
                File.Copy(tokenPath, jailed, overwrite: true);
                File.SetUnixFileMode(jailed, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
                token = VmmJail.Run + VmmJail.Token;
            }
            else foreach (string tap in taps) HostTaps.Ready(tap, owner: null, guestBridge);

            List<string> arguments =
            [
                "--name", vm.Name, "--listen", listen, "--token-file", token,
                "--api-socket", jail is not null ? VmmJail.ApiSocket : state.ApiSocketPath(vm.Name),
                .. VmDevices.ReceiverArguments(vm, (_, disk) => disk.Path),
            ];
            await new ApiClient(state.ApiSocketPath(vm.Name)).ClaimStandbyAsync(arguments, cancellationToken);
            return standby.Pid;
        }
        catch (Exception e)
        {
            // From the take-over on, the process is this failed receive's (a claim it refused ends
            // it; otherwise it is ended here), and its cgroups go once it has: as a receiver that
            // ends at its start, it leaves the VM's record to be settled from its log.
            End(standby.Pid, graceMs: e is ApiException ? 2000 : 0);
            VmCgroup.RemoveListed(state.CgroupListPath(vm.Name));
            if (e is OperationCanceledException or AgentException) throw;
            throw new AgentException($"the VMM of {vm.Name} could not start its receive: {e.Message}");
        }
    }

    /// <summary>Ends a standby's process: waits up to <paramref name="graceMs"/> for it to end by itself, then kills it, and waits for that.</summary>
    private static void End(int pid, int graceMs)
    {
        for (int waited = 0; waited < graceMs && ProcessInfo.IsAlive(pid); waited += 10) Thread.Sleep(10);
        if (!ProcessInfo.IsAlive(pid) || !IsStandby(pid)) return;
        try { System.Diagnostics.Process.GetProcessById(pid).Kill(); }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception) { /* it ended */ }
        for (int i = 0; i < 200 && ProcessInfo.IsAlive(pid); i++) Thread.Sleep(10);
    }

    /// <summary>
    /// Moves a standby's files to the VM's paths: its run directory (a stale one of the VM's, whose
    /// VMM no longer answers, is replaced) and, in the VM's directory, its log, pid file, console and
    /// cgroup list. The open files and the jail's binds follow, since a rename keeps a file.
    /// </summary>
    private void TakeOver(string standby, string name)
    {
        // Cgroups an earlier VMM of this name left (it ended): its list is about to be replaced.
        VmCgroup.RemoveListed(state.CgroupListPath(name));
        string run = state.VmRunDirectory(name);
        if (Directory.Exists(run)) Directory.Delete(run, recursive: true);
        Directory.Move(state.VmRunDirectory(standby), run);
        Directory.CreateDirectory(state.VmDirectory(name));
        foreach (var path in new Func<string, string>[] { state.VmmLogPath, state.VmmPidPath, state.ConsolePath, state.CgroupListPath })
            if (File.Exists(path(standby))) File.Move(path(standby), path(name), overwrite: true);
        Directory.Delete(state.VmDirectory(standby), recursive: true);
    }

    /// <summary>Ends the standby receiver, if any (the agent stops); one being claimed is the VM's already.</summary>
    public void StopStandby()
    {
        (string Name, int Pid)? standby;
        lock (_standbyLock)
        {
            standby = _standby;
            _standby = null;
        }
        if (standby is { } s) Discard(s.Name);
    }

    /// <summary>
    /// Ends and removes what standby receivers left that are not the one ready now: those of an
    /// earlier run of this agent (it was killed, or stopped without ending them), and those that died
    /// or were discarded since. Called at start, before the first survey, and before each standby starts.
    /// </summary>
    public void RemoveStandbyLeftovers()
    {
        string? ready;
        lock (_standbyLock) ready = _standby?.Name;
        foreach (string root in new[] { state.VmsDirectory, state.RunDirectory })
        {
            if (!Directory.Exists(root)) continue;
            foreach (string dir in Directory.EnumerateDirectories(root, StandbyPrefix + "*"))
            {
                string name = Path.GetFileName(dir);
                if (name != ready) Discard(name);
            }
        }
        // An agent killed between making a standby's cgroups and listing them leaves them unlisted.
        jail?.RemoveUnlistedStandbyCgroups(StandbyPrefix, ready);
    }

    /// <summary>
    /// Kills a standby that was never claimed (it holds nothing of a VM's) and removes its cgroups,
    /// directories and uid. While the kernel still counts the ended process in its cgroups, its
    /// directory (holding their list) stays for <see cref="RemoveStandbyLeftovers"/> to finish.
    /// </summary>
    private void Discard(string name)
    {
        int? pid = File.Exists(state.VmmPidPath(name)) && int.TryParse(File.ReadAllText(state.VmmPidPath(name)).Trim(), out int n) ? n : null;
        if (pid is int p)
        {
            End(p, graceMs: 0);
            if (ProcessInfo.IsAlive(p) && IsStandby(p)) return;
        }
        if (Directory.Exists(state.VmRunDirectory(name))) Directory.Delete(state.VmRunDirectory(name), recursive: true);
        for (int i = 0; i < 20 && !VmCgroup.RemoveListed(state.CgroupListPath(name)); i++) Thread.Sleep(50);
        if (File.Exists(state.CgroupListPath(name))) return;
        if (Directory.Exists(state.VmDirectory(name))) Directory.Delete(state.VmDirectory(name), recursive: true);
        jail?.Release(name);
    }

    /// <summary>Whether process <paramref name="pid"/> is a standby receiver (a pid file can outlive its process, and the pid be reused).</summary>
    private static bool IsStandby(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/cmdline").Split('\0').Contains("--standby"); }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }
}
