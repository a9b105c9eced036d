using Ferry.Migration.Vm;

namespace Ferry.Migration.Tests;

public sealed class ArchitectureTests
{
    [Fact]
    public void Migration_references_no_other_ferry_project() =>
        Assert.DoesNotContain(typeof(IMigratableVm).Assembly.GetReferencedAssemblies(),
            a => a.Name!.StartsWith("Ferry.", StringComparison.Ordinal));
}
