using System.Diagnostics;
using Ferry.Vmm.Api;

namespace Ferry.Cli.Commands;

/// <summary>
/// The guided tour behind `./ferry demo`: a second ferry process runs the VM (one process per
/// VM), and this one drives it through its API while streaming its console.
/// </summary>
public static class Demo
{
    public static async Task<int> RunAsync(string guestDir, CancellationToken cancellationToken)
    {
        string kernel = Path.Combine(guestDir, "ferry-guest.elf"), initrd = Path.Combine(guestDir, "initrd.cpio");
        if (!File.Exists(kernel) || !File.Exists(initrd))
            throw new UsageException($"no test guest in {guestDir} (build it with guest/build.sh --out {guestDir})");
        if (!File.Exists(Ferry.Kvm.Kvm.DevicePath)) throw new Ferry.Kvm.KvmUnavailableException("KVM is not available: /dev/kvm is missing");

        string name = $"demo-{Environment.ProcessId}";
        string socket = ApiSocketPaths.ForName(name);
        var start = SelfInvocation("run", "--kernel", kernel, "--initrd", initrd, "--memory", "1G", "--cpus", "2", "--name", name,
            "--cmdline", "ferry.workload=memtouch ferry.args=\"--mb 64 --rate 2000 --hb-ms 200\"");
        Step($"starting a 2-vCPU, 1 GiB VM running memtouch: {string.Join(' ', start.ArgumentList)}");
        using var vmProcess = Process.Start(start) ?? throw new InvalidOperationException("could not start the VM process");
        var heartbeats = new HeartbeatCounter();
        var pump = Task.Run(async () =>
        {
            while (await vmProcess.StandardOutput.ReadLineAsync(cancellationToken) is { } line)
            {
                heartbeats.See(line);
                Console.WriteLine($"  guest | {line}");
            }
        }, cancellationToken);
        var errors = Task.Run(async () =>
        {
            while (await vmProcess.StandardError.ReadLineAsync(cancellationToken) is { } line) Console.WriteLine($"  vmm   | {line}");
        }, cancellationToken);

        try
        {
            await heartbeats.WaitAsync(3, TimeSpan.FromSeconds(60), vmProcess, cancellationToken);
            var client = new ApiClient(socket);
            var status = await client.StatusAsync(cancellationToken);
            Step($"the VM is {status.State} (pid {status.Pid}); pausing it");
            var paused = await client.PauseAsync(cancellationToken);
            int before = heartbeats.Count;
            Step($"paused: every vCPU left the guest in {paused.PauseMicroseconds:F0} µs; watching for 2 s...");
            await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
            Step($"heartbeats while paused: {heartbeats.Count - before} (none expected); resuming");
            await client.ResumeAsync(force: false, cancellationToken);
            before = heartbeats.Count;
            await heartbeats.WaitAsync(before + 3, TimeSpan.FromSeconds(30), vmProcess, cancellationToken);
            Step($"resumed: heartbeats continue ({heartbeats.Count - before} so far); stopping the VM");
            await client.StopAsync(cancellationToken);
            await vmProcess.WaitForExitAsync(cancellationToken);
            await Task.WhenAll(pump, errors);
            Step($"the VM process exited with code {vmProcess.ExitCode}. Demo complete.");
            return vmProcess.ExitCode;
        }
        finally
        {
            if (!vmProcess.HasExited) vmProcess.Kill();
        }
    }

    private static void Step(string text) => Console.WriteLine($"==> {text}");

    /// <summary>Runs this same ferry (the NativeAOT binary, or `dotnet ferry.dll` in development) with the given arguments.</summary>
    internal static ProcessStartInfo SelfInvocation(params string[] args)
    {
        var start = new ProcessStartInfo { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        string self = Environment.ProcessPath!;
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            start.FileName = self;
            start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "ferry.dll"));
        }
        else start.FileName = self;
        foreach (var a in args) start.ArgumentList.Add(a);
        return start;
    }

    /// <summary>Counts memtouch's "HB" lines and lets the demo wait for the next few.</summary>
    private sealed class HeartbeatCounter
    {
        private int _count;
        public int Count => Volatile.Read(ref _count);

        public void See(string line)
        {
            if (line.StartsWith("HB ", StringComparison.Ordinal)) Interlocked.Increment(ref _count);
        }

        public async Task WaitAsync(int count, TimeSpan timeout, Process vm, CancellationToken cancellationToken)
        {
            var deadline = Stopwatch.StartNew();
            while (Count < count)
            {
                if (vm.HasExited) throw new InvalidOperationException($"the VM process ended early (exit code {vm.ExitCode})");
                if (deadline.Elapsed > timeout) throw new TimeoutException($"no heartbeat from the guest within {timeout.TotalSeconds:F0} s");
                await Task.Delay(20, cancellationToken);
            }
        }
    }
}
