using System.CommandLine;
using Ferry.Migration;
using Ferry.Migration.Transport;

namespace Ferry.Cli.Commands;

/// <summary>--tls-cert/--tls-key/--tls-ca, shared by `ferry migrate` and `ferry receive`.</summary>
public sealed class TlsOptions
{
    public Option<string?> Cert { get; } = new("--tls-cert") { Description = "This side's TLS certificate (PEM); needs --tls-key and --tls-ca" };
    public Option<string?> Key { get; } = new("--tls-key") { Description = "The private key of --tls-cert (PEM)" };
    public Option<string?> Ca { get; } = new("--tls-ca") { Description = "The CA certificate (PEM) the peer's certificate must chain to" };

    public IEnumerable<Option> All => [Cert, Key, Ca];

    /// <summary>Loads the files now, so a bad one is a usage error here and not a failure later; null without TLS.</summary>
    public TlsSettings? Load(ParseResult parse)
    {
        try { return TlsSettings.Load(Absolute(parse.GetValue(Cert)), Absolute(parse.GetValue(Key)), Absolute(parse.GetValue(Ca))); }
        catch (MigrationException e) { throw new UsageException(e.Message); }
    }

    public static string? Absolute(string? path) => path is null ? null : Path.GetFullPath(path);
}
