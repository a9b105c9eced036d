using System.Diagnostics;
using Ferry.Vmm.Api;
using Ferry.Api;

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
        using var source = new VmProcess(start, "guest", cancellationToken);
        VmProcess? destination = null;
        try
        {
            await source.Heartbeats.WaitAsync(3, TimeSpan.FromSeconds(60), source.Process, cancellationToken);
            var client = new ApiClient(socket);
            var status = await client.StatusAsync(cancellationToken);
            Step($"the VM is {status.State} (pid {status.Pid}); pausing it");
            var paused = await client.PauseAsync(cancellationToken);
            int before = source.Heartbeats.Count;
            Step($"paused: every vCPU left the guest in {paused.PauseMicroseconds:F0} µs; watching for 2 s...");
            await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
            Step($"heartbeats while paused: {source.Heartbeats.Count - before} (none expected); resuming");
            await client.ResumeAsync(force: false, cancellationToken);
            before = source.Heartbeats.Count;
            await source.Heartbeats.WaitAsync(before + 3, TimeSpan.FromSeconds(30), source.Process, cancellationToken);
            Step($"resumed: heartbeats continue ({source.Heartbeats.Count - before} so far)");

            int port = FreeLoopbackPort();
            string destinationName = name + "-moved";
            Step($"starting a receiver on 127.0.0.1:{port} and live-migrating the VM to it (pre-copy: memory moves while the guest runs)");
            destination = new VmProcess(SelfInvocation("receive", "--listen", $"127.0.0.1:{port}", "--name", destinationName), "moved", cancellationToken);
            await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken);
            await client.MigrateAsync(new MigrateRequest($"127.0.0.1:{port}", "precopy", ""), cancellationToken);
            OperationStatus result;
            do
            {
                await Task.Delay(50, cancellationToken);
                result = await client.OperationAsync(cancellationToken);
            } while (!result.Finished);
            if (result.Phase != OperationStatus.Completed) throw new InvalidOperationException(result.Message);
            var report = result.Report!;
            Step($"migrated: {report.BytesTransferred / 1048576.0:F1} MiB in {report.TotalMs:F0} ms over {report.Rounds?.Count ?? 0} rounds, " +
                 $"downtime {report.DowntimeMs:F1} ms ({report.SwitchoverReason})");
            await source.Process.WaitForExitAsync(cancellationToken);
            Step($"the source VMM process exited with code {source.Process.ExitCode}; the VM runs in the receiver now");
            await destination.Heartbeats.WaitAsync(3, TimeSpan.FromSeconds(30), destination.Process, cancellationToken);
            Step("heartbeats continue at the destination; stopping the VM");
            await new ApiClient(ApiSocketPaths.ForName(destinationName)).StopAsync(cancellationToken);
            await destination.Process.WaitForExitAsync(cancellationToken);
            Step($"the VM process exited with code {destination.Process.ExitCode}. Demo complete.");
            return destination.Process.ExitCode;
        }
        finally
        {
            destination?.Dispose();
        }
    }

    private static int FreeLoopbackPort()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    /// <summary>A VM's ferry process, its console streamed with a label and its heartbeats counted.</summary>
    private sealed class VmProcess : IDisposable
    {
        public VmProcess(ProcessStartInfo start, string label, CancellationToken cancellationToken)
        {
            Process = Process.Start(start) ?? throw new InvalidOperationException("could not start a VM process");
            _ = Task.Run(async () =>
            {
                while (await Process.StandardOutput.ReadLineAsync(cancellationToken) is { } line)
                {
                    Heartbeats.See(line);
                    Console.WriteLine($"  {label,-5} | {line}");
                }
            }, cancellationToken);
            _ = Task.Run(async () =>
            {
                while (await Process.StandardError.ReadLineAsync(cancellationToken) is { } line) Console.WriteLine($"  vmm   | {line}");
            }, cancellationToken);
        }

        public Process Process { get; }
        public HeartbeatCounter Heartbeats { get; } = new();

        public void Dispose()
        {
            if (!Process.HasExited) Process.Kill();
            Process.Dispose();
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
    public sealed class HeartbeatCounter
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
