using Ferry.Api;
using Ferry.Migration.PostCopy;
using Ferry.Migration.Reporting;

namespace Ferry.Vmm.Operations;

/// <summary>The engine's post-copy report as the control API shows it.</summary>
public static class PostCopyPhases
{
    public static PostCopyPhase From(PostCopyReport r)
    {
        var figures = new PostCopyPhase(r.PagesAtSwitchover, r.PagesPushed, r.PagesRequested, r.BytesPushed, r.BytesRequested, r.Window.TotalMilliseconds)
        { Recoveries = r.Recoveries };
        if (r.Destination is not { } d) return figures;
        var bounds = PostCopyFigures.HistogramBoundsMicroseconds;
        return figures with
        {
            Faults = d.Faults,
            ZeroFaults = d.ZeroFaults,
            FaultLatencyP50Us = d.LatencyP50.TotalMicroseconds,
            FaultLatencyP99Us = d.LatencyP99.TotalMicroseconds,
            FaultLatencyMaxUs = d.LatencyMax.TotalMicroseconds,
            FaultLatencyHistogram = d.LatencyHistogram.Select((n, i) => new LatencyBucket(i < bounds.Length ? bounds[i] : -1, n)).ToList(),
            BlockedTime = d.BlockedPerThread.Select(b => new BlockedThread(b.Key, b.Value.TotalMilliseconds)).ToList(),
            AllPresentAfterResumeMs = d.AllPresentAfterResume.TotalMilliseconds,
        };
    }
}
