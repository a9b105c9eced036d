using System.Runtime.InteropServices;
using Ferry.Vmm;
using Ferry.Vmm.Api;

namespace Ferry.Cli.Commands;

/// <summary>
/// Everything a VM process does around a VM once it exists, for run, restore and receive alike:
/// serve the control API, stop on SIGTERM/SIGINT, forward keyboard input, wait for the end
/// and turn it into an exit code.
/// </summary>
public static class VmHost
{
    /// <summary>Serves <paramref name="socket"/> (which it takes over) until the VM ends.</summary>
    /// <param name="seccomp">Once the VM runs, confine the process to the system calls of Jail/SeccompPolicy (--seccomp).</param>
    public static async Task<int> ServeAsync(KvmVm vm, ApiSocket socket, ConsoleSink sink, Action start, bool seccomp = false)
    {
        ReserveThreads();
        await using var api = ApiServer.Start(vm, socket);
        return await ServeAsync(vm, api, sink, start, seccomp);
    }

    /// <summary>A migration keeps a pool thread per stream busy; the API must still get threads at once.</summary>
    public static void ReserveThreads()
    {
        ThreadPool.GetMinThreads(out int workers, out int io);
        ThreadPool.SetMinThreads(Math.Max(workers, 16), io);
    }

    /// <summary>Goes on serving <paramref name="api"/> (already serving this VM; the caller disposes it) until the VM ends.</summary>
    public static async Task<int> ServeAsync(KvmVm vm, ApiServer api, ConsoleSink sink, Action start, bool seccomp = false)
    {
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        if (sink.IsStdio) StartKeyboardForwarding(vm);
        start();
        // A migration's handshake is the process's first use of the cryptography library (several
        // ms to load), which would otherwise come inside the migration's set-up: loaded now, aside.
        _ = Task.Run(Ferry.Migration.Transport.Handshake.Prepare);
        if (seccomp) Ferry.Vmm.Jail.SeccompPolicy.Apply();
        var exit = await vm.Exited;
        if (exit.Kind == VmExitKind.Migrated)
        {
            // Whoever started the migration wants its figures: keep answering until they are read.
            await Task.WhenAny(api.OperationResultRead, Task.Delay(TimeSpan.FromSeconds(20)));
        }
        Console.Error.WriteLine($"ferry: {vm.Config.Name}: {exit.Message}");
        return exit.Kind switch
        {
            VmExitKind.GuestDied => (int)ExitCode.GuestDied,
            VmExitKind.Lost => (int)ExitCode.VmLost,
            VmExitKind.VmmError => (int)ExitCode.InternalError,
            _ => (int)ExitCode.Ok,
        };

        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            vm.End(new VmExit(VmExitKind.Stopped, $"stopped by {context.Signal}"));
        }
    }

    /// <summary>Keyboard input goes to the guest's serial port, as bytes arrive.</summary>
    private static void StartKeyboardForwarding(KvmVm vm)
    {
        var thread = new Thread(() =>
        {
            using var stdin = Console.OpenStandardInput();
            var buffer = new byte[256];
            try
            {
                int n;
                while ((n = stdin.Read(buffer)) > 0) vm.Serial.Enqueue(buffer.AsSpan(0, n));
            }
            catch (IOException) { }
        }) { IsBackground = true, Name = "console-input" };
        thread.Start();
    }
}
