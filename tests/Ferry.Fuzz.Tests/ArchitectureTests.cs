namespace Ferry.Fuzz.Tests;

/// <summary>The fuzz targets sit on top of the product: nothing Ferry ships refers to them or to SharpFuzz.</summary>
public sealed class ArchitectureTests
{
    [Fact]
    public void No_product_assembly_references_the_fuzz_project_or_sharpfuzz()
    {
        var product = new[] { typeof(Ferry.Migration.MigrationException).Assembly, typeof(Ferry.Vmm.VmConfig).Assembly,
            typeof(Ferry.Kvm.Kvm).Assembly, typeof(Ferry.Cli.SizeParser).Assembly };
        foreach (var assembly in product)
            Assert.DoesNotContain(assembly.GetReferencedAssemblies(), a => a.Name is "Ferry.Fuzz" or "SharpFuzz" or "CsCheck");
    }
}
