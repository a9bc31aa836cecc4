using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace ZfsSync.Observability;

public static class ObservabilityExtensions
{
    /// <summary>The tag of the health checks <c>/health/ready</c> runs (MassTransit's bus check carries it too).</summary>
    public const string ReadyTag = "ready";

    /// <summary>MassTransit's own meter (consume, publish, send counts and durations).</summary>
    public const string MassTransitMeter = "MassTransit";

    /// <summary>
    /// Health checks, OpenTelemetry metrics with the Prometheus exporter (the given meters, MassTransit's, the .NET
    /// runtime's), the optional JSON console log format, and the HTTP endpoint (<c>/health/live</c>,
    /// <c>/health/ready</c>, <c>/metrics</c>) on <c>Observability:Listen</c> (default <paramref name="defaultListen"/>,
    /// loopback). Call it after the program's own services so its configuration sources are in place.
    /// </summary>
    /// <param name="builder">The program's host builder.</param>
    /// <param name="serviceName">The OpenTelemetry <c>service.name</c>: <c>zfssync-witness</c>, <c>zfssync-executor</c>.</param>
    /// <param name="defaultListen">Where the endpoint listens unless configured: <c>127.0.0.1:9470</c>.</param>
    /// <param name="meterNames">The program's own <see cref="System.Diagnostics.Metrics.Meter"/> names.</param>
    public static IHostApplicationBuilder AddZfsSyncObservability(this IHostApplicationBuilder builder, string serviceName, string defaultListen, params string[] meterNames)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(serviceName);
        ArgumentException.ThrowIfNullOrWhiteSpace(defaultListen);
        ArgumentNullException.ThrowIfNull(meterNames);
        var services = builder.Services;
        services.AddOptions<ObservabilityOptions>()
            .BindConfiguration(ObservabilityOptions.SectionName)
            .PostConfigure(o => o.Listen = string.IsNullOrWhiteSpace(o.Listen) ? defaultListen : o.Listen)
            .Validate(o => ObservabilityOptions.TryParseListen(o.Listen, out _) is null, "Observability:Listen: must be address:port, e.g. 127.0.0.1:9470")
            .Validate(o => o.LogFormat is "simple" or "json", "Observability:LogFormat: must be simple or json")
            .Validate(o => o.SampleInterval > TimeSpan.Zero, "Observability:SampleInterval: must be positive")
            .ValidateOnStart();

        var options = builder.Configuration.GetSection(ObservabilityOptions.SectionName).Get<ObservabilityOptions>() ?? new ObservabilityOptions();
        if (string.Equals(options.LogFormat, "json", StringComparison.OrdinalIgnoreCase))
        {
            builder.Logging.AddJsonConsole(o =>
            {
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            });
            services.PostConfigure<ConsoleLoggerOptions>(o => o.FormatterName = ConsoleFormatterNames.Json);
        }

        services.AddHealthChecks();
        services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(serviceName))
            .WithMetrics(metrics =>
            {
                foreach (var meter in meterNames)
                {
                    metrics.AddMeter(meter);
                }

                metrics.AddMeter(MassTransitMeter);
                metrics.AddRuntimeInstrumentation();
                metrics.AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0);
            });

        services.AddSingleton<ObservabilityEndpoint>();
        services.AddHostedService<ObservabilityHttpServer>();
        return builder;
    }

    /// <summary>
    /// <c>/health/live</c> (the process answers: no check runs), <c>/health/ready</c> (every check tagged
    /// <see cref="ReadyTag"/>: 200 when all are healthy, else 503) and <c>/metrics</c> (Prometheus text format).
    /// </summary>
    public static IApplicationBuilder MapZfsSyncHealthAndMetrics(this IApplicationBuilder app, MeterProvider? meterProvider = null)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false, ResponseWriter = WriteHealthAsync });
        app.UseHealthChecks("/health/ready", new HealthCheckOptions
        {
            Predicate = r => r.Tags.Contains(ReadyTag),
            ResponseWriter = WriteHealthAsync,
            ResultStatusCodes =
            {
                [HealthStatus.Healthy] = StatusCodes.Status200OK,
                [HealthStatus.Degraded] = StatusCodes.Status503ServiceUnavailable,
                [HealthStatus.Unhealthy] = StatusCodes.Status503ServiceUnavailable,
            },
        });
        app.UseOpenTelemetryPrometheusScrapingEndpoint(
            meterProvider ?? app.ApplicationServices.GetRequiredService<MeterProvider>(),
            context => context.Request.Path == "/metrics",
            path: null,
            configureBranchedPipeline: null,
            optionsName: null);
        app.Run(context =>
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        });
        return app;
    }

    /// <summary>The overall status and each check's status and description as JSON (no exception details).</summary>
    private static async Task WriteHealthAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json; charset=utf-8";
        await using var json = new Utf8JsonWriter(context.Response.Body);
        json.WriteStartObject();
        json.WriteString("status", report.Status.ToString());
        json.WriteStartObject("checks");
        foreach (var (name, entry) in report.Entries)
        {
            json.WriteStartObject(name);
            json.WriteString("status", entry.Status.ToString());
            if (entry.Description is { Length: > 0 } description)
            {
                json.WriteString("description", description);
            }

            json.WriteEndObject();
        }

        json.WriteEndObject();
        json.WriteEndObject();
        await json.FlushAsync(context.RequestAborted);
    }
}
