using System.Diagnostics;
using Ferry.Tests.Shared;
using Ferry.Vmm.Boot;
using Ferry.Vmm.Memory;
using Ferry.Vmm.Tests.Infrastructure;

namespace Ferry.Vmm.Tests.Guest;

/// <summary>Debian's stock kernel, booted through its PVH entry (guest/linux/fetch-vmlinux.sh extracts vmlinux).</summary>
[Collection(KvmCollection.Name)]
public sealed class LinuxBootTests
{
    private static readonly Lazy<string> LinuxDir = new(() =>
    {
        string dir = Path.Combine(TestGuest.RepositoryRoot, "artifacts", "linux");
        Run(Path.Combine(TestGuest.RepositoryRoot, "guest", "linux", "fetch-vmlinux.sh"), dir);
        return dir;
    });

    private static string Run(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var p = Process.Start(start)!;
        string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} failed: {output}");
        return output;
    }

    [KvmFact]
    public void Debian_kernel_prints_its_banner_our_command_line_and_our_memory_map()
    {
        const ulong Memory = 512UL << 20;
        const string CommandLine = "console=ttyS0 earlyprintk=serial,ttyS0,115200 noxsave ferry.marker=42 quiet=0";
        var console = new ConsoleLines();
        using var vm = KvmVm.Create(new VmConfig("linux", Path.Combine(LinuxDir.Value, "vmlinux"), null, Memory, 1, CommandLine), console.Write);
        vm.Start();
        bool alive() => !vm.Exited.IsCompleted;

        console.WaitFor(@"Linux version \d+\.\d+", TimeSpan.FromSeconds(120), stillAlive: alive);
        console.WaitFor("Command line: " + System.Text.RegularExpressions.Regex.Escape(CommandLine) + "$", TimeSpan.FromSeconds(60), stillAlive: alive);
        foreach (var ram in E820Map.For(new GuestMemoryMap(Memory)).Where(e => e.Type == E820Type.Ram))
            console.WaitFor($@"BIOS-e820: \[mem 0x{ram.Address:x16}-0x{ram.Address + ram.SizeBytes - 1:x16}\] usable", TimeSpan.FromSeconds(60), stillAlive: alive);
    }

    [HardwareVirtualizationFact]
    public async Task Debian_kernel_boots_to_a_userland_init()
    {
        string work = Directory.CreateTempSubdirectory("ferry-linux-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(work, "init.c"),
                "#include <stdio.h>\n#include <unistd.h>\nint main(void){puts(\"ferry-linux-userland-ok\");fflush(stdout);for(;;)pause();}\n");
            Run("gcc", "-static", "-O2", "-o", Path.Combine(work, "init"), Path.Combine(work, "init.c"));
            Run(Path.Combine(TestGuest.RepositoryRoot, "guest", "build.sh"), "--out", work, "--add", Path.Combine(work, "init") + ":/init");
            var console = new ConsoleLines();
            using var vm = KvmVm.Create(new VmConfig("linux-full", Path.Combine(LinuxDir.Value, "vmlinux"), Path.Combine(work, "initrd.cpio"),
                1UL << 30, 2, "console=ttyS0 rdinit=/init"), console.Write);
            vm.Start();
            console.WaitFor("ferry-linux-userland-ok", TimeSpan.FromSeconds(120), stillAlive: () => !vm.Exited.IsCompleted);
            vm.End(new VmExit(VmExitKind.Stopped, "test done"));
            await vm.Exited;
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }
}
