using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;

namespace ZfsSync.Observability;

/// <summary>
/// A small Kestrel server of its own inside a generic-host program (the witness, the executor), serving the
/// program's health checks and meter provider. Nothing else is reachable through it.
/// </summary>
internal sealed class ObservabilityHttpServer(
    IServiceProvider services,
    IOptions<ObservabilityOptions> options,
    ObservabilityEndpoint endpoint,
    IHostEnvironment environment,
    ILogger<ObservabilityHttpServer> logger) : IHostedService, IAsyncDisposable
{
    private WebApplication? _app;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        if (!settings.Enabled)
        {
            logger.LogInformation("Health and metrics endpoint disabled (Observability:Enabled=false)");
            return;
        }

        ObservabilityOptions.TryParseListen(settings.Listen, out var listen);
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions
        {
            ApplicationName = environment.ApplicationName,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = 0;
            kestrel.Limits.MaxConcurrentConnections = 64;
            kestrel.Listen(listen);
        });
        builder.Services.AddSingleton(services.GetRequiredService<ILoggerFactory>());
        builder.Services.AddSingleton(services.GetRequiredService<HealthCheckService>());
        var app = builder.Build();
        app.MapZfsSyncHealthAndMetrics(services.GetRequiredService<MeterProvider>());
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        _app = app;

        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault();
        var baseAddress = address is not null ? new Uri(address.EndsWith('/') ? address : address + "/") : new Uri($"http://{listen}/");
        endpoint.BaseAddress = baseAddress;
        if (!IPAddress.IsLoopback(listen.Address))
        {
            logger.LogWarning("Health and metrics endpoint listens beyond loopback on {Address} (Observability:Listen)", baseAddress);
        }

        logger.LogInformation("Health and metrics on {Address} (health/live, health/ready, metrics)", baseAddress);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is not null)
        {
            await _app.StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync().ConfigureAwait(false);
            _app = null;
        }
    }
}
