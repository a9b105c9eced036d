namespace Ferry.Agent;

/// <summary>
/// The directory an agent owns: its settings, credentials, one folder per VM, and the run
/// directory its VMMs put their control sockets in. Every file is replaced atomically (written
/// beside, flushed, renamed), so a crash mid-write leaves the old version, never half a file. Files
/// that mean nothing after a reboot are not flushed to disk (<see cref="WriteAtomically"/>).
/// </summary>
public sealed class StateDirectory(string root)
{
    public string Root { get; } = Path.GetFullPath(root);
    public string SettingsPath => Path.Combine(Root, "agent.json");
    public string TlsDirectory => Path.Combine(Root, "tls");
    public string VmsDirectory => Path.Combine(Root, "vms");
    public string RunDirectory => Path.Combine(Root, "run");
    public string CaPath => Path.Combine(TlsDirectory, "ca.pem");
    public string ServerCertificatePath => Path.Combine(TlsDirectory, "server.pem");
    public string ServerKeyPath => Path.Combine(TlsDirectory, "server.key");
    public string ClientCertificatePath => Path.Combine(TlsDirectory, "client.pem");
    public string ClientKeyPath => Path.Combine(TlsDirectory, "client.key");
    public string TokenPath => Path.Combine(TlsDirectory, "token");

    public Api.AgentCredentials PeerCredentials => new(CaPath, ClientCertificatePath, ClientKeyPath, TokenPath);

    public string VmDirectory(string name) => Path.Combine(VmsDirectory, name);
    public string VmRecordPath(string name) => Path.Combine(VmDirectory(name), "vm.json");
    public string ConsolePath(string name) => Path.Combine(VmDirectory(name), "console.log");
    public string VmmLogPath(string name) => Path.Combine(VmDirectory(name), "vmm.log");
    /// <summary>vms/NAME/vmm.pid: the VMM's pid, written by ferry-jail (or the shell that detached it) at its launch.</summary>
    public string VmmPidPath(string name) => Path.Combine(VmDirectory(name), "vmm.pid");
    /// <summary>vms/NAME/disks: the images a `--copy-storage` migration into this host wrote the VM's disks to.</summary>
    public string CopiedDisksDirectory(string name) => Path.Combine(VmDirectory(name), "disks");
    public string CopiedDiskPath(string name, int index) => Path.Combine(CopiedDisksDirectory(name), $"disk{index}.img");
    /// <summary>vms/NAME/cgroups: a jailed VM's cgroup directories, removed once its VMM ended.</summary>
    public string CgroupListPath(string name) => Path.Combine(VmDirectory(name), "cgroups");
    /// <summary>The empty directory every jail's root is mounted on, each inside its VMM's own mount namespace only.</summary>
    public string JailMountPoint => Path.Combine(Root, "jail");
    /// <summary>run/NAME: the VM's own run directory (a jailed VMM's /run). Short, since a unix socket path holds at most 107 bytes.</summary>
    public string VmRunDirectory(string name) => Path.Combine(RunDirectory, name);
    public string ApiSocketPath(string name) => Path.Combine(VmRunDirectory(name), "api.sock");

    /// <param name="durable">
    /// False for a file that means nothing after a reboot (a migration's one-time token, a running
    /// VMM's cgroups): it is still replaced atomically, so an agent that crashes leaves it whole, but
    /// not flushed to disk, which on a receive's path costs a disk write for nothing.
    /// </param>
    public static void WriteAtomically(string path, ReadOnlySpan<byte> content, UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        bool durable = true)
    {
        string temporary = $"{path}.{Environment.ProcessId}.tmp";
        using (var file = new FileStream(temporary, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = mode }))
        {
            file.Write(content);
            file.Flush(flushToDisk: durable);
        }
        File.Move(temporary, path, overwrite: true);
    }
}
