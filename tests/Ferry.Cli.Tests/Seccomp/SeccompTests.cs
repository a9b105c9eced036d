using System.Diagnostics;
using Ferry.Cli.Tests.Infrastructure;
using Ferry.Tests.Shared;

namespace Ferry.Cli.Tests.Seccomp;

/// <summary>--seccomp: a VMM confined to its system-call list still does all its work, and dies alone on any other call.</summary>
[Collection(KvmCollection.Name)]
public sealed class SeccompTests
{
    private static string[] Run(string name, string extra = "") =>
        ["run", "--name", name, "--kernel", TestGuest.Kernel, "--initrd", TestGuest.Initrd, "--memory", "256M", "--cpus", "2", "--seccomp",
         "--cmdline", TestGuest.Run("memtouch", $"--mb 16 --rate 1000{extra}", powerOff: false)];

    [KvmFact]
    public void A_confined_vmm_runs_pauses_snapshots_and_migrates_its_vm()
    {
        using var source = FerryProcess.Start(Run("sc-src"));
        source.WaitFor("memtouch ready");
        Assert.Equal(0, FerryProcess.Run("pause", "--name", "sc-src").Code);
        Assert.Equal(0, FerryProcess.Run("resume", "--name", "sc-src").Code);
        string snapshot = Path.Combine(Path.GetTempPath(), $"sc-{Environment.ProcessId}.img");
        try
        {
            var snap = FerryProcess.Run("snapshot", "--name", "sc-src", "--out", snapshot);
            Assert.True(snap.Code == 0, snap.Stderr);
        }
        finally { File.Delete(snapshot); }

        int port = Heartbeats.FreePort();
        using var destination = FerryProcess.Start("receive", "--listen", $"127.0.0.1:{port}", "--name", "sc-dst");
        destination.WaitForStderr("waiting for a migration");
        var moved = FerryProcess.Run("migrate", "--name", "sc-src", "--to", $"127.0.0.1:{port}", "--mode", "postcopy");
        Assert.True(moved.Code == 0, $"{moved.Stdout}\n{moved.Stderr}\n{source.Stderr}");
        int seen = destination.Console.Count;
        destination.WaitFor("HB", from: seen);
        Assert.Equal(0, source.WaitForExit(TimeSpan.FromSeconds(30)));
    }

    [KvmFact]
    public void A_forbidden_call_kills_only_its_own_vmm()
    {
        using var bystander = FerryProcess.Start(Run("sc-by"));
        bystander.WaitFor("memtouch ready");
        string preload = CompileForbiddenCall();
        try
        {
            // forbidden_call.c, preloaded, makes the call once the VMM has confined itself.
            using var culprit = FerryProcess.StartWith(new Dictionary<string, string> { ["LD_PRELOAD"] = preload }, Run("sc-bad"));
            int code = culprit.WaitForExit(TimeSpan.FromSeconds(60));
            Assert.Equal(128 + 31, code); // SIGSYS: the kernel killed it at the call
        }
        finally { File.Delete(preload); }
        int seen = bystander.Console.Count;
        bystander.WaitFor("HB", from: seen);
        Assert.False(bystander.HasExited);
    }

    private static string CompileForbiddenCall()
    {
        string library = Path.Combine(Path.GetTempPath(), $"ferry-forbidden-call-{Environment.ProcessId}.so");
        var start = new ProcessStartInfo("gcc") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in (string[])["-shared", "-fPIC", "-pthread", "-O1", "-o", library, Path.Combine(AppContext.BaseDirectory, "Seccomp", "forbidden_call.c")])
            start.ArgumentList.Add(a);
        using var gcc = Process.Start(start)!;
        string errors = gcc.StandardOutput.ReadToEnd() + gcc.StandardError.ReadToEnd();
        gcc.WaitForExit();
        Assert.True(gcc.ExitCode == 0, $"gcc failed: {errors}");
        return library;
    }
}
