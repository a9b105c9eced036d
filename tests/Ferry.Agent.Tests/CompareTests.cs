using System.Text.Json;
using Ferry.Agent.Api;
using Ferry.Agent.Tests.Infrastructure;
using Ferry.Compare;
using Ferry.Tests.Shared;

namespace Ferry.Agent.Tests;

/// <summary>`ferry compare --from HOST --to HOST`: each technique measured between two agents, guests booted and moved through them.</summary>
[Collection(AgentCollection.Name)]
public sealed class CompareTests : IDisposable
{
    private readonly TestCluster _cluster = new(hosts: 2);

    public void Dispose() => _cluster.Dispose();

    [KvmFact]
    public void A_comparison_between_agents_measures_each_technique_and_leaves_no_vm_behind()
    {
        string out_ = Path.Combine(_cluster.Root, "compare");
        var (code, table, stderr) = _cluster.Ferry("compare", "--from", "h1", "--to", "h2", "--kernel", TestGuest.Kernel, "--initrd", TestGuest.Initrd,
            "--memory", "128M", "--cpus", "1", "--workload", "memtouch --mb 16 --rate 1000", "--techniques", "precopy,postcopy", "--runs", "1",
            "--settle", "1s", "--out", out_);
        Assert.True(code == 0, $"exit {code}\n{stderr}");

        var report = JsonSerializer.Deserialize(File.ReadAllText(Path.Combine(out_, "report.json")), CompareJson.Default.ComparisonReport)!;
        Assert.True(report.Complete);
        Assert.Equal(("h1", "h2"), (report.Plan.From, report.Plan.To));
        Assert.Contains(_cluster.AddressOf("h1"), report.Conditions.Link);
        Assert.Contains(_cluster.AddressOf("h2"), report.Conditions.Link);
        Assert.Contains("--from h1 --to h2", report.Conditions.CommandLine);
        Assert.Equal(2, report.Runs.Count);
        foreach (var r in report.Runs)
        {
            Assert.True(r.Ok, $"{r.Technique}: {r.Error}");
            Assert.True(r.TotalMs > 0);
            Assert.True(r.BytesSent > 15L << 20);
            // The heartbeats came through the agents in batches and were placed by the guest's clock:
            // a downtime of batches (200 ms polls) would be the noise floor, not the figure.
            Assert.NotNull(r.GuestDowntimeMs);
            Assert.NotNull(r.Slowdown);
        }
        Assert.True(Assert.Single(report.Runs, r => r.Technique == "postcopy").WindowMs > 0);
        Assert.Contains("| postcopy ", table);

        // Every VM it made is stopped and deleted on both hosts.
        foreach (var host in new[] { "h1", "h2" })
        {
            using var agent = _cluster.Connect(host);
            Assert.Empty(agent.Client.ListVms(new ListVmsRequest()).Vms);
        }
    }

    [Fact]
    public void An_agent_that_cannot_be_reached_is_named_before_any_vm_starts()
    {
        var (code, _, stderr) = _cluster.Ferry("compare", "--from", "h1", "--to", $"127.0.0.1:{TestCluster.FreePort()}", "--kernel", TestGuest.Kernel,
            "--initrd", TestGuest.Initrd, "--workload", "memtouch", "--out", Path.Combine(_cluster.Root, "unreachable"));
        Assert.Equal(2, code);
        Assert.StartsWith("ferry compare: --to 127.0.0.1:", stderr);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        using var agent = _cluster.Connect("h1");
        Assert.Empty(agent.Client.ListVms(new ListVmsRequest()).Vms);
    }
}
