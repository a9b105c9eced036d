namespace Ferry.Compare.Tests.Infrastructure;

/// <summary>A fresh directory for one test, removed afterwards.</summary>
internal sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("ferry-compare-test-").FullName;
    public void Dispose() => Directory.Delete(Path, recursive: true);
}
