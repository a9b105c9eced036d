using Ferry.Compare;

namespace Ferry.Compare.Tests;

/// <summary>
/// ferry compare drives the `ferry` executable as a user would and reads its JSON reports: of
/// Ferry it knows only the control API's contracts (Ferry.Api), never the VMM or KVM, and nothing
/// below the CLI refers to it.
/// </summary>
public sealed class ArchitectureTests
{
    [Fact]
    public void Compare_refers_to_no_ferry_project_but_the_api_contracts()
    {
        var ferry = typeof(ComparisonPlan).Assembly.GetReferencedAssemblies().Select(a => a.Name!).Where(n => n.StartsWith("Ferry.", StringComparison.Ordinal));
        Assert.Equal(["Ferry.Api"], ferry);
    }

    [Fact]
    public void Nothing_below_the_cli_refers_to_compare()
    {
        foreach (var assembly in new[] { typeof(Ferry.Api.ApiClient).Assembly, typeof(Ferry.Vmm.VmConfig).Assembly, typeof(Ferry.Migration.MigrationException).Assembly, typeof(Ferry.Kvm.Kvm).Assembly })
            Assert.DoesNotContain(assembly.GetReferencedAssemblies(), a => a.Name == "Ferry.Compare");
    }
}
