using Ferry.Api;

namespace Ferry.Vmm.Tests;

/// <summary>
/// The control API's contracts (Ferry.Api: its requests, answers, JSON and client) know nothing of
/// Ferry, so an agent, the CLI and later a controller share them without the VMM or KVM; the VMM
/// serves them.
/// </summary>
public sealed class ApiArchitectureTests
{
    [Fact]
    public void The_api_contracts_refer_to_no_other_ferry_project() =>
        Assert.DoesNotContain(typeof(ApiClient).Assembly.GetReferencedAssemblies(), a => a.Name!.StartsWith("Ferry.", StringComparison.Ordinal));

    [Fact]
    public void The_vmm_serves_the_contracts() =>
        Assert.Contains(typeof(KvmVm).Assembly.GetReferencedAssemblies(), a => a.Name == "Ferry.Api");
}
