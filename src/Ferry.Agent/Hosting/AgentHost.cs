using System.Security.Cryptography.X509Certificates;
using Ferry.Agent.Api;
using Ferry.Agent.Migrations;
using Ferry.Agent.Security;
using Ferry.Agent.Vms;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Ferry.Agent;

/// <summary>
/// The agent's web host: Kestrel on the --listen address, HTTP/2 over TLS only, a client
/// certificate from the cluster's CA required before a byte of gRPC is read, the token checked
/// on every call, and the survey of the VMs every second.
/// </summary>
public static class AgentHost
{
    public static WebApplication Build(StateDirectory state, AgentSettings settings)
    {
        var ca = X509Certificate2.CreateFromPem(File.ReadAllText(state.CaPath));
        var serverCertificate = X509Certificate2.CreateFromPemFile(state.ServerCertificatePath, state.ServerKeyPath);
        byte[] token = System.Text.Encoding.UTF8.GetBytes(File.ReadAllText(state.TokenPath).Trim());
        var endpoint = AgentCommands.ParseEndpoint(settings.Listen);

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(endpoint, listen =>
        {
            listen.Protocols = HttpProtocols.Http2;
            listen.UseHttps(https =>
            {
                https.ServerCertificate = serverCertificate;
                https.ClientCertificateMode = ClientCertificateMode.RequireCertificate;
                https.ClientCertificateValidation = (certificate, _, _) => ChainCheck.IssuedBy(ca, certificate, ChainCheck.ClientAuth);
            });
        }));
        var events = new EventHub();
        var jail = settings.Jail ? new Jail.VmmJail(state, settings) : null;
        var launcher = new VmmLauncher(state, settings.Ferry, jail, settings.GuestBridge) { KeepsStandby = settings.StandbyReceiver };
        // Before the first survey: a standby an earlier run left holds a uid and cgroups, and nothing of a VM's.
        launcher.RemoveStandbyLeftovers();
        var registry = new VmRegistry(state, new VmStore(state), launcher, events);
        var migrations = new MigrationCoordinator(state, settings, registry, launcher, events);
        var load = new HostLoad(settings.Name);
        // Built by a factory so the container disposes it (and its channels to peer agents) at shutdown.
        builder.Services.AddSingleton(state).AddSingleton(settings).AddSingleton(events).AddSingleton(registry)
            .AddSingleton(_ => migrations).AddSingleton(load);
        builder.Services.AddGrpc(grpc => grpc.Interceptors.Add<TokenCheck>(token));
        builder.Services.AddHostedService(_ => new Survey(registry, migrations, launcher, load));

        var app = builder.Build();
        app.MapGrpcService<AgentService>();
        return app;
    }

    /// <summary>
    /// Looks at every VM once a second: events for what changed, CPU samples for the load, migrations
    /// to settle; and, while no migration runs here, starts the standby receiver if there is none.
    /// Ends the standby when the agent stops.
    /// </summary>
    private sealed class Survey(VmRegistry registry, MigrationCoordinator migrations, VmmLauncher launcher, HostLoad load) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    load.Sample(await registry.SurveyAsync(stoppingToken));
                    await migrations.SettleAsync(stoppingToken);
                    if (migrations.Quiet) await launcher.EnsureStandbyAsync(stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException) { Console.Error.WriteLine($"ferryd: survey: {e.Message}"); }
                await Task.Delay(1000, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }

        public override async Task StopAsync(CancellationToken cancellationToken)
        {
            await base.StopAsync(cancellationToken);
            launcher.StopStandby();
        }
    }
}
