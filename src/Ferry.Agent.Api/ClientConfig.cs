using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ferry.Agent.Api;

/// <summary>
/// The client configuration (as kubectl's kubeconfig): host names with their agents' addresses
/// and the credentials to call them, so day-to-day commands say `--host h1` and nothing more.
/// Read from $FERRY_CONFIG, else ~/.config/ferry/config.json. `ferryd init --client-config`
/// adds a host to it.
/// </summary>
public sealed record ClientConfig(
    [property: JsonPropertyName("hosts")] Dictionary<string, HostEntry> Hosts)
{
    public static string DefaultPath =>
        Environment.GetEnvironmentVariable("FERRY_CONFIG") is { Length: > 0 } fromEnv ? fromEnv
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config", "ferry", "config.json");

    public static ClientConfig Load(string path)
    {
        if (!File.Exists(path)) return new ClientConfig([]);
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), ClientConfigJson.Default.ClientConfig) ?? new ClientConfig([]);
        }
        catch (JsonException e)
        {
            throw new AgentCallException($"client configuration {path} is not valid: {e.Message}");
        }
    }

    public void Save(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        string temporary = $"{path}.{Environment.ProcessId}.tmp";
        File.WriteAllBytes(temporary, JsonSerializer.SerializeToUtf8Bytes(this, ClientConfigJson.Default.ClientConfig));
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>The address and credentials for HOST: a name in this file, or ADDR:PORT with the credentials of the file's only CA.</summary>
    public (string Address, AgentCredentials Credentials) Resolve(string host, string path)
    {
        if (Hosts.TryGetValue(host, out var entry)) return (entry.Address, entry.Credentials);
        var any = Hosts.Values.FirstOrDefault();
        if (host.Contains(':') && any is not null) return (host, any.Credentials);
        throw new AgentCallException(Hosts.Count == 0
            ? $"unknown host {host}: no client configuration at {path} (set FERRY_CONFIG, or run ferryd init --client-config)"
            : $"unknown host {host}: {path} names {string.Join(", ", Hosts.Keys.Order(StringComparer.Ordinal))}");
    }
}

public sealed record HostEntry(
    [property: JsonPropertyName("address")] string Address,
    [property: JsonPropertyName("ca")] string Ca,
    [property: JsonPropertyName("cert")] string Certificate,
    [property: JsonPropertyName("key")] string Key,
    [property: JsonPropertyName("token_file")] string TokenFile)
{
    [JsonIgnore] public AgentCredentials Credentials => new(Ca, Certificate, Key, TokenFile);
}

[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(ClientConfig))]
internal sealed partial class ClientConfigJson : JsonSerializerContext;
