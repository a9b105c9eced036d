using System.CommandLine;
using System.Net;
using System.Text.Json;
using Ferry.Agent.Api;
using Ferry.Agent.Security;

namespace Ferry.Agent;

/// <summary>`ferryd init` (credentials and settings, once) and `ferryd serve` (the agent).</summary>
public static class AgentCommands
{
    public static Command Init()
    {
        var stateDir = new Option<string>("--state-dir") { Description = "The agent's own directory (settings, credentials, VMs)", Required = true };
        var name = new Option<string>("--name") { Description = "This host's name (h1, rack3-07...)", Required = true };
        var listen = new Option<string>("--listen") { Description = "ADDR:PORT the agent's API listens on", DefaultValueFactory = _ => "127.0.0.1:7400" };
        var migration = new Option<string?>("--migration-address") { Description = "Address receiving VMMs listen on (default: the --listen address)" };
        var ca = new Option<string>("--ca") { Description = "The cluster's CA directory: created with a client certificate and token if missing, shared by every host", Required = true };
        var maxMigrations = new Option<int>("--max-migrations") { Description = "Migrations in or out of this host at once", DefaultValueFactory = _ => 2 };
        var ferry = new Option<string?>("--ferry") { Description = "The ferry executable VMMs run as (default: the one beside ferryd, else on PATH)" };
        var clientConfig = new Option<string?>("--client-config") { Description = "Add this host to a client configuration file (see FERRY_CONFIG)" };
        var noJail = new Option<bool>("--no-jail") { Description = "Run VMMs as the agent's user in the agent's mount namespace and cgroups (hosts without what the jail needs)" };
        var jailUids = new Option<string>("--jail-uids")
        {
            Description = "START-END: the uids (and gids) jailed VMMs run as, one per VM; no passwd entry needed",
            DefaultValueFactory = _ => $"{AgentSettings.DefaultJailUidStart}-{AgentSettings.DefaultJailUidStart + AgentSettings.DefaultJailUidCount - 1}",
        };
        var overhead = new Option<int>("--jail-memory-overhead-mib")
        {
            Description = "A jailed VM's memory limit is its guest RAM plus this many MiB for its VMM",
            DefaultValueFactory = _ => (int)(AgentSettings.DefaultJailMemoryOverheadBytes >> 20),
        };
        var guestBridge = new Option<string?>("--guest-bridge")
        {
            Description = "The bridge of this host's guest network: a VM's tap that does not exist yet is created on it (default: created unattached)",
        };
        var noStandby = new Option<bool>("--no-standby-receiver")
        {
            Description = "Start a receiving VMM for each migration into this host, instead of keeping one started and claiming it (saves its ~30 MiB while idle)",
        };
        var command = new Command("init", "Create this agent's settings and credentials (once per host)")
            { stateDir, name, listen, migration, ca, maxMigrations, ferry, clientConfig, noJail, jailUids, overhead, guestBridge, noStandby };
        command.SetAction(parse =>
        {
            var state = new StateDirectory(parse.GetValue(stateDir)!);
            var endpoint = ParseEndpoint(parse.GetValue(listen)!);
            string migrationAddress = parse.GetValue(migration) ?? endpoint.Address.ToString();
            if (!IPAddress.TryParse(migrationAddress, out _)) throw new AgentStartException($"--migration-address {migrationAddress} is not an IP address");
            int max = parse.GetValue(maxMigrations);
            if (max < 1) throw new AgentStartException("--max-migrations must be at least 1");
            var (uidStart, uidCount) = ParseUidRange(parse.GetValue(jailUids)!);
            if (parse.GetValue(overhead) < 0) throw new AgentStartException("--jail-memory-overhead-mib must not be negative");
            var settings = new AgentSettings(parse.GetValue(name)!, endpoint.ToString(), migrationAddress, max, Path.GetFullPath(parse.GetValue(ferry) ?? DefaultFerry()))
            {
                Jail = !parse.GetValue(noJail),
                JailUidStart = uidStart,
                JailUidCount = uidCount,
                JailMemoryOverheadBytes = (ulong)parse.GetValue(overhead) << 20,
                GuestBridge = parse.GetValue(guestBridge),
                StandbyReceiver = !parse.GetValue(noStandby),
            };
            // Checked before anything is written: a host that cannot jail says so in one line.
            if (settings.Jail) Jail.VmmJail.Check(settings);
            string hostName = parse.GetValue(name)!;
            string caDir = Path.GetFullPath(parse.GetValue(ca)!);
            var authority = CertificateAuthority.OpenOrCreate(caDir);

            Directory.CreateDirectory(state.TlsDirectory);
            File.Copy(Path.Combine(caDir, CertificateAuthority.CaFile), state.CaPath, overwrite: true);
            File.Copy(Path.Combine(caDir, CertificateAuthority.TokenFile), state.TokenPath, overwrite: true);
            authority.Issue(hostName, [hostName, endpoint.Address.ToString(), migrationAddress], client: false, state.ServerCertificatePath, state.ServerKeyPath);
            authority.Issue($"ferryd {hostName}", [], client: true, state.ClientCertificatePath, state.ClientKeyPath);
            StateDirectory.WriteAtomically(state.SettingsPath, JsonSerializer.SerializeToUtf8Bytes(settings, AgentJson.Default.AgentSettings));

            if (parse.GetValue(clientConfig) is { } configPath)
            {
                var config = ClientConfig.Load(configPath);
                config.Hosts[hostName] = new HostEntry(endpoint.ToString(), Path.Combine(caDir, CertificateAuthority.CaFile),
                    Path.Combine(caDir, CertificateAuthority.ClientFile), Path.Combine(caDir, CertificateAuthority.ClientKeyFile), Path.Combine(caDir, CertificateAuthority.TokenFile));
                config.Save(configPath);
            }
            Console.Error.WriteLine($"ferryd: {hostName} set up in {state.Root}; start it with: ferryd serve --state-dir {state.Root}");
            return 0;
        });
        return command;
    }

    public static Command Serve()
    {
        var stateDir = new Option<string>("--state-dir") { Description = "The directory `ferryd init` set up", Required = true };
        var command = new Command("serve", "Run the agent") { stateDir };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var state = new StateDirectory(parse.GetValue(stateDir)!);
            if (!File.Exists(state.SettingsPath)) throw new AgentStartException($"{state.Root} is not an agent's state directory (run ferryd init first)");
            var settings = JsonSerializer.Deserialize(File.ReadAllBytes(state.SettingsPath), AgentJson.Default.AgentSettings)
                           ?? throw new AgentStartException($"{state.SettingsPath} is empty");
            if (settings.Jail) Jail.VmmJail.Check(settings);
            await using var app = AgentHost.Build(state, settings);
            await app.StartAsync(cancellationToken);
            Console.Error.WriteLine($"ferryd: {settings.Name} serving on {settings.Listen}");
            _ = WarmUpTlsAsync(state, settings);
            await app.WaitForShutdownAsync(cancellationToken);
            return 0;
        });
        return command;
    }

    /// <summary>
    /// One call to itself, as a peer agent would make it, in the background at the start: a process's
    /// first TLS connection, client side and server side, pays for loading OpenSSL and setting up its
    /// first handshakes (20-50 ms here), which would otherwise be added to this host's first
    /// migration, in or out. Its failure changes nothing but that.
    /// </summary>
    private static async Task WarmUpTlsAsync(StateDirectory state, AgentSettings settings)
    {
        try
        {
            using var self = new AgentConnection(settings.Listen, state.PeerCredentials);
            await self.Client.GetHostAsync(new GetHostRequest(), deadline: DateTime.UtcNow.AddSeconds(10));
        }
        catch (Exception e) when (e is Grpc.Core.RpcException or IOException or System.Security.Cryptography.CryptographicException) { }
    }

    public static IPEndPoint ParseEndpoint(string text) =>
        IPEndPoint.TryParse(text, out var endpoint) && endpoint.Port > 0 ? endpoint
            : throw new AgentStartException($"'{text}' is not ADDR:PORT (an IP address and a port)");

    private static (int Start, int Count) ParseUidRange(string text)
    {
        string[] parts = text.Split('-');
        if (parts.Length == 2 && int.TryParse(parts[0], out int start) && int.TryParse(parts[1], out int end) && start > 0 && end >= start)
            return (start, end - start + 1);
        throw new AgentStartException($"--jail-uids '{text}' is not START-END (two uids above 0, END not below START)");
    }

    private static string DefaultFerry()
    {
        string beside = Path.Combine(AppContext.BaseDirectory, "ferry");
        if (File.Exists(beside)) return beside;
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
            if (File.Exists(Path.Combine(dir, "ferry"))) return Path.Combine(dir, "ferry");
        throw new AgentStartException("no ferry executable beside ferryd or on PATH: give --ferry");
    }
}

/// <summary>The agent cannot start as asked; one line for the operator.</summary>
public sealed class AgentStartException(string message) : Exception(message);
