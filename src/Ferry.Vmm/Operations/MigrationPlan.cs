using Ferry.Migration;
using Ferry.Migration.Source;
using Ferry.Migration.Transport;
using Ferry.Vmm.Api;
using Ferry.Api;

namespace Ferry.Vmm.Operations;

/// <summary>A migration request, checked: where to, how, with what secret and TLS, and the engine's options (the live-migration knobs).</summary>
public sealed record MigrationPlan(string Host, int Port, MigrationMode Mode, byte[] Token, TlsSettings? Tls, MigrationOptions Options)
{
    public string Destination => $"{Host}:{Port}";

    public static int DefaultStreams => Math.Clamp(Environment.ProcessorCount, 1, 4);

    /// <summary>Validates every field; throws MigrationException with a one-line reason.</summary>
    public static MigrationPlan From(MigrateRequest request)
    {
        // The request may come from any API client, not only ferry's CLI: every field is checked, none assumed.
        if (request.To is null || !TcpEndpoint.TryParse(request.To, out var host, out int port)) throw new MigrationException($"--to {request.To}: write ADDR:PORT");
        CheckDuration(request.PostCopyAfterSeconds, "--postcopy-after");
        CheckDuration(request.TimeoutSeconds, "--timeout");
        CheckDuration(request.RecoveryTimeoutSeconds, "--recovery-timeout");
        CheckDuration(request.MaxDowntimeMs / 1000, "--max-downtime");
        var mode = request.Mode switch
        {
            "cold" => MigrationMode.Cold,
            "precopy" => MigrationMode.PreCopy,
            "postcopy" => MigrationMode.PostCopy,
            "hybrid" => MigrationMode.Hybrid,
            _ => throw new MigrationException($"migration mode {request.Mode} is not supported (this ferry does: cold, precopy, postcopy, hybrid)"),
        };
        NoConvergeAction? onNoConverge = request.OnNoConverge switch
        {
            null => null,
            "abort" => NoConvergeAction.Abort,
            "force" => NoConvergeAction.Force,
            "postcopy" => NoConvergeAction.PostCopy,
            _ => throw new MigrationException($"--on-no-converge {request.OnNoConverge}: use abort, force or postcopy"),
        };
        if (onNoConverge == NoConvergeAction.PostCopy && !mode.MayPostCopy())
            throw new MigrationException("--on-no-converge postcopy needs --mode hybrid (a pre-copy opens no fault stream)");
        if (request.PostCopyAfterSeconds is not null && mode != MigrationMode.Hybrid) throw new MigrationException("--postcopy-after applies to --mode hybrid");
        if (request.PostCopyAfterSeconds is <= 0) throw new MigrationException("--postcopy-after must be positive");
        if (request.RecoveryTimeoutSeconds is <= 0) throw new MigrationException("--recovery-timeout must be positive");
        if (request.RecoveryTimeoutSeconds is not null && !mode.MayPostCopy()) throw new MigrationException("--recovery-timeout applies to --mode postcopy and hybrid");
        if (request.SwitchoverBandwidthBitsPerSecond is < 10_000_000) throw new MigrationException("--switchover-bandwidth must be at least 10Mbit");
        // Post-copy's fault stream is one of the session's streams.
        int maxStreams = mode.MayPostCopy() ? Handshake.MaxStreams - 1 : Handshake.MaxStreams;
        if (request.Streams is { } n && n > maxStreams) throw new MigrationException($"--streams must be 1 to {maxStreams} in {mode.Name()} mode");
        if (request.MaxDowntimeMs is <= 0) throw new MigrationException("--max-downtime must be positive");
        // A 4 MiB section must leave within the destination's 60 s stall timeout even when 16 streams share the limit.
        if (request.BandwidthBitsPerSecond is < 10_000_000) throw new MigrationException("--bandwidth must be at least 10Mbit");
        if (request.Streams is < 1 or > Handshake.MaxStreams) throw new MigrationException($"--streams must be 1 to {Handshake.MaxStreams}");
        if (request.Compress is not (null or "none" or "lz4")) throw new MigrationException($"--compress {request.Compress}: use lz4 or none");
        if (request.MaxRounds is < 1) throw new MigrationException("--max-rounds must be at least 1");
        if (request.TimeoutSeconds is <= 0) throw new MigrationException("--timeout must be positive");
        if (mode == MigrationMode.Cold && (request.Compress is "lz4" || request.AutoConverge || request.MaxDowntimeMs is not null || request.MaxRounds is not null))
            throw new MigrationException("--compress, --auto-converge, --max-downtime and --max-rounds apply to live modes (precopy, postcopy, hybrid)");
        if (mode == MigrationMode.Cold && onNoConverge is not null) throw new MigrationException("--on-no-converge applies to --mode precopy and hybrid");
        var options = new MigrationOptions
        {
            Mode = mode,
            OnNoConverge = onNoConverge,
            PostCopyAfter = request.PostCopyAfterSeconds is { } after ? TimeSpan.FromSeconds(after) : null,
            SwitchoverBandwidthBytesPerSecond = request.SwitchoverBandwidthBitsPerSecond / 8,
            UnlimitedSwitchover = request.UnlimitedSwitchover,
            MaxDowntime = request.MaxDowntimeMs is { } d ? TimeSpan.FromMilliseconds(d) : new MigrationOptions().MaxDowntime,
            BandwidthBytesPerSecond = request.BandwidthBitsPerSecond / 8,
            // One stream per core by default: the destination's work (receive, verify, populate RAM) is the limit here.
            Streams = request.Streams ?? Math.Min(DefaultStreams, maxStreams),
            // On a capped link the CPU is cheaper than the wire: compress unless told not to.
            Compress = request.Compress == "lz4" || request.Compress is null && request.BandwidthBitsPerSecond is not null,
            AutoConverge = request.AutoConverge,
            MaxRounds = request.MaxRounds ?? new MigrationOptions().MaxRounds,
            Timeout = request.TimeoutSeconds is { } t ? TimeSpan.FromSeconds(t) : null,
            VerifyMemory = request.VerifyMemory,
            RecoveryTimeout = request.RecoveryTimeoutSeconds is { } r ? TimeSpan.FromSeconds(r) : new MigrationOptions().RecoveryTimeout,
            CopyStorage = request.CopyStorage,
        };
        // A cold migration moves at the link's full rate, uncompressed and without a digest: of
        // these only the stream count applies to it (--bandwidth and --verify-memory are ignored there).
        if (mode == MigrationMode.Cold) options = new MigrationOptions { Mode = mode, Streams = options.Streams, CopyStorage = request.CopyStorage };
        var tls = TlsSettings.Load(request.TlsCert, request.TlsKey, request.TlsCa);
        return new MigrationPlan(host, port, mode, System.Text.Encoding.UTF8.GetBytes(request.Token ?? ""), tls, options);
    }

    /// <summary>The longest duration any option takes: beyond it a TimeSpan would overflow, and no migration waits that long.</summary>
    private static readonly double MaxSeconds = TimeSpan.FromDays(30).TotalSeconds;

    private static void CheckDuration(double? seconds, string option)
    {
        if (seconds is > 0 && seconds > MaxSeconds) throw new MigrationException($"{option} is longer than 30 days");
    }
}
