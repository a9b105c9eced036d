using Ferry.Tests.Shared;

namespace Ferry.Vmm.Tests.Infrastructure;

/// <summary>A test-guest VM running in the test process, with its console captured as lines.</summary>
public sealed class RunningGuest : IDisposable
{
    private RunningGuest(KvmVm vm, ConsoleLines console) { Vm = vm; Console = console; }

    public KvmVm Vm { get; }
    public ConsoleLines Console { get; }

    public static RunningGuest Start(int cpus, ulong memoryBytes, string commandLine, params DiskConfig[] disks)
    {
        var guest = Create(cpus, memoryBytes, commandLine, disks);
        guest.Vm.Start();
        return guest;
    }

    /// <summary>A VM built and loaded but not started: a destination to load state into.</summary>
    public static RunningGuest Create(int cpus, ulong memoryBytes, string commandLine, params DiskConfig[] disks)
    {
        var console = new ConsoleLines();
        var config = new VmConfig($"test-{Guid.NewGuid():N}"[..16], TestGuest.Kernel, TestGuest.Initrd, memoryBytes, cpus, commandLine) { Disks = disks };
        return new RunningGuest(KvmVm.Create(config, console.Write), console);
    }

    public System.Text.RegularExpressions.Match WaitFor(string pattern, int seconds = 60, int from = 0) =>
        Console.WaitFor(pattern, TimeSpan.FromSeconds(seconds), from, () => !Vm.Exited.IsCompleted);

    /// <summary>Waits for the VM to end and returns how.</summary>
    public async Task<VmExit> ExitAsync(int seconds = 120) => await Vm.Exited.WaitAsync(TimeSpan.FromSeconds(seconds));

    public void Dispose() => Vm.Dispose();
}
