using MassTransit;
using Microsoft.Extensions.Options;
using ZfsSync.Client;
using ZfsSync.Contracts;
using ZfsSync.Hosting;
using ZfsSync.Observability;

namespace ZfsSync.Executor;

/// <summary>Receives the instructions of the executor's hosts (only those the witness signed; see <see cref="ClientBus"/>).</summary>
public sealed class InstructionIssuedConsumer(InstructionRunner runner) : IConsumer<SyncInstructionIssued>
{
    public Task Consume(ConsumeContext<SyncInstructionIssued> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return runner.HandleAsync(context.Message, context.CancellationToken);
    }
}

/// <summary>An attempt the witness expired (timed out or hung) is killed here.</summary>
public sealed class InstructionExpiredConsumer(InstructionRunner runner) : IConsumer<SyncInstructionExpired>
{
    public Task Consume(ConsumeContext<SyncInstructionExpired> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        runner.Expire(context.Message.InstructionId, context.Message.Attempt, context.Message.Reason);
        return Task.CompletedTask;
    }
}

/// <summary>Outcomes go to the witness through the executor's entry exchange, with its user-id.</summary>
public sealed class ClientOutcomePublisher(ZfsSyncClient client) : IOutcomePublisher
{
    public Task PublishAsync<T>(T message, CancellationToken cancellationToken)
        where T : class => client.SendAsync(message, cancellationToken);
}

/// <summary>At start, reports the attempts a previous process left unfinished and sends the outcomes left unsent; then sends again those whose send fails; at stop, kills what runs.</summary>
public sealed class ExecutorLifecycle(InstructionRunner runner, ILogger<ExecutorLifecycle> logger, IOptions<ExecutorOptions> options) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        logger.LogInformation("Executor for hosts {Hosts} ({Mode}, {Form}){DryRun}", string.Join(',', o.Hosts), o.Mode, o.UseShell ? "shell" : "steps",
            o.DryRun ? " in DRY RUN: nothing runs (set Executor:DryRun to false)" : "");
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await runner.ReportCutAttemptsAsync(stoppingToken).ConfigureAwait(false);
                break;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning("Could not report cut attempts yet ({Error}); retrying", LogText.Escape(e.Message));
                await Task.Delay(TimeSpan.FromSeconds(5), stoppingToken).ConfigureAwait(false);
            }
        }

        // The outbox: outcomes whose send failed are sent again until the broker takes them.
        await runner.DeliverOutcomesAsync(stoppingToken).ConfigureAwait(false);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        await runner.DisposeAsync().ConfigureAwait(false);
    }
}

public static class ExecutorHostingExtensions
{
    public const string EnvironmentPrefix = "ZFS_SYNC_";

    /// <summary>
    /// Configuration, later sources winning: <c>appsettings.json</c>, <c>/etc/zfssync/executor.yaml</c>,
    /// <c>executor.yaml</c> in the working directory, the file named by <c>ZFS_SYNC_CONFIG</c>, <c>ZFS_SYNC_</c>
    /// environment variables, the command line.
    /// </summary>
    public static IHostApplicationBuilder AddExecutorConfiguration(this IHostApplicationBuilder builder, string[] args)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var configuration = builder.Configuration;
        configuration.AddYamlFile("/etc/zfssync/executor.yaml", optional: true, reloadOnChange: false);
        configuration.AddYamlFile("executor.yaml", optional: true, reloadOnChange: false);
        if (Environment.GetEnvironmentVariable(EnvironmentPrefix + "CONFIG") is { Length: > 0 } file)
        {
            if (file.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            {
                configuration.AddJsonFile(file, optional: false, reloadOnChange: false);
            }
            else
            {
                configuration.AddYamlFile(file, optional: false, reloadOnChange: false);
            }
        }

        configuration.AddEnvironmentVariables(EnvironmentPrefix);
        configuration.AddCommandLine(args);
        return builder;
    }

    /// <summary>
    /// The health and metrics endpoint on <c>Observability:Listen</c> (default <see cref="ExecutorMetrics.DefaultListen"/>,
    /// loopback): <c>/health/live</c>, <c>/health/ready</c> (MassTransit's bus health check: connected to the broker,
    /// inbox consuming) and <c>/metrics</c> (the executor's runs, bytes and durations, MassTransit's and the runtime's meters).
    /// </summary>
    public static IHostApplicationBuilder AddExecutorObservability(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddZfsSyncObservability("zfssync-executor", ExecutorMetrics.DefaultListen, ExecutorMetrics.MeterName);
    }

    /// <summary>Options, the runner and MassTransit as an executor client reading its inbox.</summary>
    public static IHostApplicationBuilder AddExecutor(this IHostApplicationBuilder builder, bool once = false)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddOptions<ExecutorOptions>().BindConfiguration(ExecutorOptions.SectionName).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ExecutorOptions>, ExecutorOptionsValidator>();
        services.AddOptions<BrokerConnectionOptions>().BindConfiguration(BrokerConnectionOptions.SectionName).ValidateOnStart();
        services.AddSingleton<IValidateOptions<BrokerConnectionOptions>, BrokerConnectionOptionsValidator>();
        services.AddSingleton(TimeProvider.System);
        services.AddMetrics();
        services.AddSingleton<ExecutorMetrics>();
        services.AddSingleton(sp => new AttemptStore(sp.GetRequiredService<IOptions<ExecutorOptions>>().Value.StateDirectory));
        services.AddSingleton(sp => new PipelineRunner(sp.GetRequiredService<IOptions<ExecutorOptions>>().Value));
        services.AddSingleton<InstructionRunner>();
        services.AddSingleton<IOutcomePublisher, ClientOutcomePublisher>();
        if (once)
        {
            services.AddSingleton<OnceRunner>();
            services.AddHostedService(sp => sp.GetRequiredService<OnceRunner>());
        }
        else
        {
            services.AddHostedService<ExecutorLifecycle>();
        }

        var connection = builder.Configuration.GetSection(BrokerConnectionOptions.SectionName).Get<BrokerConnectionOptions>() ?? new();
        services.AddZfsSyncClient(
            ClientTopology.ExecutorRole,
            connection,
            readsInbox: true,
            inbox: (context, e) =>
            {
                e.PrefetchCount = 4;
                if (!once)
                {
                    e.ConfigureConsumer<InstructionIssuedConsumer>(context);
                }

                e.ConfigureConsumer<InstructionExpiredConsumer>(context);
            },
            registrations: bus =>
            {
                bus.AddConsumer<InstructionIssuedConsumer>();
                bus.AddConsumer<InstructionExpiredConsumer>();
            });
        services.AddOptions<MassTransitHostOptions>().Configure(o =>
        {
            o.WaitUntilStarted = false;
            o.StopTimeout = TimeSpan.FromSeconds(10);
        });
        services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
        return builder;
    }
}
