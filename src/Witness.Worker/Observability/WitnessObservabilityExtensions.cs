using MassTransit;
using ZfsSync.Observability;
using ZfsSync.Witness.Worker.Persistence;

namespace ZfsSync.Witness.Worker.Observability;

public static class WitnessObservabilityExtensions
{
    /// <summary>Where the witness's health and metrics endpoint listens unless <c>Observability:Listen</c> says otherwise.</summary>
    public const string DefaultListen = "127.0.0.1:9470";

    /// <summary>The instruments and the counting observers (part of <c>AddWitness</c>: no port, no background work).</summary>
    public static IServiceCollection AddWitnessMetrics(this IServiceCollection services)
    {
        services.AddMetrics();
        services.AddSingleton<WitnessMetrics>();
        services.AddSingleton<InstructionEventObserver>();
        services.AddPublishObserver(sp => sp.GetRequiredService<InstructionEventObserver>());
        services.AddConsumeObserver(sp => sp.GetRequiredService<InstructionEventObserver>());
        return services;
    }

    /// <summary>
    /// The HTTP endpoint (<c>/health/live</c>, <c>/health/ready</c>: broker through MassTransit's bus check, database
    /// through EF Core's DbContext check; <c>/metrics</c>), the OpenTelemetry meters and the gauge sampler.
    /// </summary>
    public static IHostApplicationBuilder AddWitnessObservability(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddWitnessMetrics();
        builder.Services.AddHealthChecks().AddDbContextCheck<WitnessDbContext>("database", tags: [ObservabilityExtensions.ReadyTag]);
        builder.Services.AddHostedService<WitnessStateSampler>();
        builder.AddZfsSyncObservability("zfssync-witness", DefaultListen, WitnessMetrics.MeterName);
        return builder;
    }
}
