namespace Ferry.Migration.Vm;

/// <summary>Dirty-page tracking of a running VM. Dispose stops tracking.</summary>
public interface IDirtyLog : IDisposable
{
    /// <summary>The pages written since tracking started or since the last Collect, one set per region; re-arms tracking for them.</summary>
    IReadOnlyList<PageSet> Collect();
}
