using System.Diagnostics;
using CsCheck;
using Xunit.Abstractions;

namespace Ferry.Fuzz.Tests;

/// <summary>
/// A bounded fuzzing run of every target from the committed corpus (fuzz/corpus): a few seconds
/// each, mutated inputs (Mutation), and for each input: no crash (only clean refusals escape),
/// no hang, no runaway allocation. A failure prints the seed CsCheck needs to replay it and
/// keeps the input under artifacts/fuzz-failures. The long, coverage-guided campaign is
/// scripts/fuzz-campaign.sh.
/// </summary>
public sealed class BoundedFuzzTests(ITestOutputHelper output)
{
    private const int SecondsPerTarget = 3;
    private const long MaxAllocatedBytes = 256L << 20; // a section may claim up to 64 MiB; four times that is runaway
    private static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(10);

    /// <summary>Every target but vm-state, which needs /dev/kvm and has its own test.</summary>
    public static TheoryData<string> Targets() => [.. FuzzTargets.All.Select(t => t.Name).Where(n => n != "vm-state")];

    private static string Root
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Ferry.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("the repository root (Ferry.sln) is not above the test's directory");
        }
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void Target_survives_mutated_inputs(string name)
    {
        var target = FuzzTargets.Named(name);
        string corpus = Path.Combine(Root, "fuzz", "corpus", name);
        var seeds = Directory.GetFiles(corpus).Select(File.ReadAllBytes).ToList();
        Assert.NotEmpty(seeds);
        foreach (var seed in seeds) RunOne(target, seed); // every seed itself runs cleanly

        bool sectioned = name is "sections" or "image" or "live-stream" or "memory-stream";
        long executions = 0, refused = 0;
        var clock = Stopwatch.StartNew();
        Mutation.Of(seeds, sectioned).Sample(input =>
        {
            Interlocked.Increment(ref executions);
            if (!RunOne(target, input)) Interlocked.Increment(ref refused);
        }, time: SecondsPerTarget, threads: 1);
        output.WriteLine($"fuzz {name}: {executions} executions in {clock.Elapsed.TotalSeconds:F1} s, {refused} refused, {executions - refused} accepted");
    }

    /// <summary>The device state decoder checks against this host's KVM: it runs where /dev/kvm is.</summary>
    [Ferry.Tests.Shared.KvmFact]
    public void The_vm_state_target_survives_mutated_inputs() => Target_survives_mutated_inputs("vm-state");

    /// <summary>True when the input was accepted, false when cleanly refused; anything else fails the test.</summary>
    private static bool RunOne(FuzzTarget target, byte[] input)
    {
        bool accepted = false;
        Exception? crash = null;
        long allocated = 0;
        var run = new Thread(() =>
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            try { target.Run(input); accepted = true; }
            catch (Exception e) when (Refusals.IsClean(e)) { }
            catch (Exception e) { crash = e; }
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        }, 16 << 20);
        run.Start();
        if (!run.Join(HangLimit)) Fail(target, input, $"hung for {HangLimit.TotalSeconds:F0} s");
        if (crash is not null) Fail(target, input, $"{crash.GetType().Name}: {crash.Message}\n{crash.StackTrace}");
        if (allocated > MaxAllocatedBytes) Fail(target, input, $"allocated {allocated >> 20} MiB for a {input.Length}-byte input");
        return accepted;
    }

    private static void Fail(FuzzTarget target, byte[] input, string what)
    {
        string dir = Path.Combine(Root, "artifacts", "fuzz-failures");
        Directory.CreateDirectory(dir);
        string file = Path.Combine(dir, $"{target.Name}-{Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(input))[..16]}");
        File.WriteAllBytes(file, input);
        throw new Xunit.Sdk.XunitException($"fuzz target {target.Name}: {what}\nreproducer: {file} (replay: dotnet Ferry.Fuzz.dll --replay {target.Name} {file})");
    }
}
