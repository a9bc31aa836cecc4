using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using ZfsSync.Hosting;
using ZfsSync.Shared;
using ZfsSync.Witness.Core.Planning;
using ZfsSync.Witness.Worker.Consumers;
using ZfsSync.Witness.Worker.Groups;
using ZfsSync.Witness.Worker.Ingest;
using ZfsSync.Witness.Worker.Liveness;
using ZfsSync.Witness.Worker.Observability;
using ZfsSync.Witness.Worker.Persistence;
using ZfsSync.Witness.Worker.Persistence.Outbox;
using ZfsSync.Witness.Worker.Persistence.Sagas;
using ZfsSync.Witness.Worker.StateMachines;

namespace ZfsSync.Witness.Worker.Hosting;

public static class WitnessHostingExtensions
{
    /// <summary>The environment variable prefix of every setting: <c>ZFS_SYNC_RabbitMq__Password</c>.</summary>
    public const string EnvironmentPrefix = "ZFS_SYNC_";

    /// <summary>The optional YAML file (the name the earlier Python zfs_sync service used); <c>ZFS_SYNC_CONFIG</c> overrides the path.</summary>
    public const string YamlFileName = "zfs_sync.yaml";

    /// <summary>Configuration sources in rising priority: appsettings.json, zfs_sync.yaml, <c>ZFS_SYNC_</c> environment variables.</summary>
    public static IHostApplicationBuilder AddWitnessConfiguration(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var explicitFile = Environment.GetEnvironmentVariable(EnvironmentPrefix + "CONFIG");
        builder.Configuration.AddYamlFile(explicitFile ?? YamlFileName, optional: explicitFile is null, reloadOnChange: false);
        builder.Configuration.AddEnvironmentVariables(EnvironmentPrefix);
        return builder;
    }

    /// <summary>Everything the witness needs: options, database, consumers, sweeper, MassTransit over RabbitMQ.</summary>
    public static IHostApplicationBuilder AddWitness(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.AddWitnessConfiguration();
        var services = builder.Services;
        services.AddWitnessOptions(builder.Configuration);
        services.TryAddSingletonTimeProvider();
        services.AddWitnessDatabase(builder.Configuration, builder.Environment.ContentRootPath);
        services.AddScoped<InventoryIngest>();
        services.AddGroupMemberships();
        services.AddWitnessMetrics();
        services.AddSingleton<UnknownHostHeartbeats>();
        services.AddSingleton<LivenessSweeper>();
        services.AddHostedService(sp => sp.GetRequiredService<LivenessSweeper>());
        services.AddSyncGroups();
        services.AddWitnessResilience();
        services.AddWitnessMassTransit(builder.Configuration);
        services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true);
        services.AddClientTopology(); // after AddMassTransit: the bus has declared the shared exchanges
        services.AddOptions<WitnessOutboxOptions>().BindConfiguration("Outbox");
        services.AddWitnessOutbox<WitnessDbContext>(); // after AddMassTransit: the dispatcher starts after the bus
        return builder;
    }

    /// <summary>
    /// The planning services of the sync group saga, the start-up announcement of the configured groups (after the
    /// schema initializer: hosted services start in registration order), the instruction expiry sweeper and the history
    /// retention sweeper.
    /// </summary>
    public static IServiceCollection AddSyncGroups(this IServiceCollection services)
    {
        services.AddOptions<PlannerOptions>().BindConfiguration("Planner");
        services.AddScoped<GroupPlanning>();
        services.AddGroupMemberships();
        services.AddSingleton<GroupHistory>();
        services.TryAddSingleton<ISenderIdentity, RabbitMqSenderIdentity>();
        services.AddSingleton<OperatorAuthorization>();
        services.AddSingleton<SyncGroupConfigurationPublisher>();
        services.AddHostedService(sp => sp.GetRequiredService<SyncGroupConfigurationPublisher>());
        services.AddOptions<SyncGroupSweepOptions>().BindConfiguration("SyncGroupSweep")
            .Validate(o => o.ReplanAfter > TimeSpan.Zero, "SyncGroupSweep:ReplanAfter: must be positive").ValidateOnStart();
        services.AddSingleton<InstructionExpirySweeper>();
        services.AddHostedService(sp => sp.GetRequiredService<InstructionExpirySweeper>());
        services.AddSingleton<HistorySweeper>();
        services.AddHostedService(sp => sp.GetRequiredService<HistorySweeper>());
        return services;
    }

    /// <summary>The parsed group definitions (one per hash) and the host → groups component that reads them.</summary>
    public static IServiceCollection AddGroupMemberships(this IServiceCollection services)
    {
        services.TryAddSingleton<GroupDefinitionCache>();
        services.TryAddSingleton<GroupMemberships>();
        return services;
    }

    /// <summary>The sync group saga and its consumers, for <c>AddMassTransit</c> (and the test harness).</summary>
    public static void AddSyncGroupSaga(this IBusRegistrationConfigurator x)
    {
        ArgumentNullException.ThrowIfNull(x);
        x.SetEfCoreSagaRepositoryProvider<WitnessDbContext>();
        x.AddSagaStateMachine<SyncGroupStateMachine, SyncGroupState, SyncGroupStateDefinition>();
        x.AddConsumer<HostStatusRouter>();
        x.AddConsumer<SyncGroupQueries, SyncGroupQueriesDefinition>();
        x.AddConsumer<InstructionProgressConsumer, InstructionProgressConsumerDefinition>();
    }

    public static IServiceCollection AddWitnessOptions(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton<IValidateOptions<WitnessOptions>, WitnessOptionsValidator>();
        services.AddOptions<WitnessOptions>().Bind(configuration).ValidateDataAnnotations().ValidateOnStart();
        return services;
    }

    private static void TryAddSingletonTimeProvider(this IServiceCollection services)
    {
        if (!services.Any(d => d.ServiceType == typeof(TimeProvider)))
        {
            services.AddSingleton(TimeProvider.System);
        }
    }

    /// <summary>
    /// The DbContext on PostgreSQL or SQLite (default: <c>zfssync.db</c> in the data directory); the schema migrated at
    /// start (or only checked, with <c>Database:MigrateAtStart = false</c>).
    /// </summary>
    public static IServiceCollection AddWitnessDatabase(this IServiceCollection services, IConfiguration configuration, string contentRoot)
    {
        var database = configuration.GetSection("Database").Get<DatabaseOptions>() ?? new DatabaseOptions();
        services.AddDbContext<WitnessDbContext>(options => ConfigureProvider(options, database, contentRoot));
        services.AddHostedService(sp => new SchemaInitializer(
            sp.GetRequiredService<IServiceScopeFactory>(), database.MigrateAtStart, sp.GetRequiredService<ILogger<SchemaInitializer>>()));
        return services;
    }

    public static void ConfigureProvider(DbContextOptionsBuilder options, DatabaseOptions database, string contentRoot)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(database);
        if (database.Provider == DatabaseProvider.PostgreSql)
        {
            options.UseNpgsql(database.ConnectionString);
            return;
        }

        var connectionString = database.ConnectionString;
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            var directory = Path.GetFullPath(database.DataDirectory, contentRoot);
            Directory.CreateDirectory(directory);
            connectionString = $"Data Source={Path.Combine(directory, "zfssync.db")};Pooling=true";
        }

        options.UseSqlite(connectionString);
    }

    public static IServiceCollection AddWitnessMassTransit(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddMassTransit(x =>
        {
            x.DisableUsageTelemetryUnlessEnabled(configuration);
            x.SetKebabCaseEndpointNameFormatter();
            x.AddConsumer<InventoryIngestConsumer, InventoryIngestConsumerDefinition>();
            x.AddConsumer<HeartbeatConsumer>(HeartbeatConsumer.ConfigureBatch);
            x.AddSyncGroupSaga();
            x.AddConfigureEndpointsCallback((context, name, endpoint) =>
            {
                var witness = context.GetRequiredService<IOptions<WitnessOptions>>().Value;
                var rabbit = witness.RabbitMq;
                var endpoints = witness.Endpoints;
                if (name == InventoryIngestConsumerDefinition.Queue)
                {
                    endpoint.ConcurrentMessageLimit = endpoints.InventoryConcurrency;
                }

                if (endpoint is IRabbitMqReceiveEndpointConfigurator rabbitEndpoint)
                {
                    // The busy endpoints' prefetch follows their concurrency (Endpoints:*); a heartbeat batch is never
                    // larger than the prefetch, so that endpoint takes at least a batch.
                    rabbitEndpoint.PrefetchCount = name switch
                    {
                        HeartbeatConsumer.Queue => endpoints.EffectiveHeartbeatPrefetchCount(witness.Ingest.HeartbeatBatchSize),
                        InventoryIngestConsumerDefinition.Queue => endpoints.EffectiveInventoryPrefetchCount,
                        SyncGroupStateDefinition.Queue => endpoints.EffectiveSagaPrefetchCount,
                        _ => rabbit.PrefetchCount,
                    };
                    if (rabbit.QuorumQueues)
                    {
                        rabbitEndpoint.SetQuorumQueue();
                    }
                }

                endpoint.UseWitnessResilience(context); // retries, kill switch, in-memory outbox: ResilienceConfiguration
            });

            x.UsingRabbitMq((context, cfg) =>
            {
                var rabbit = context.GetRequiredService<IOptions<WitnessOptions>>().Value.RabbitMq;
                cfg.Host(rabbit.Uri, h =>
                {
                    // MassTransit's default, made explicit: a publish completes only when the broker confirmed it, and
                    // the outbox marks a row sent only then.
                    h.PublisherConfirmation = true;
                    h.UseClusterNodes(rabbit.ClusterNodes);
                    if (!string.IsNullOrEmpty(rabbit.User))
                    {
                        h.Username(rabbit.User);
                    }

                    if (!string.IsNullOrEmpty(rabbit.Password))
                    {
                        h.Password(rabbit.Password);
                    }

                    if (rabbit.Tls.Enabled || rabbit.Uri.Scheme is "amqps" or "rabbitmqs")
                    {
                        h.UseSsl(ssl =>
                        {
                            ssl.Protocol = System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13;
                            ssl.ServerName = rabbit.Tls.ServerName ?? rabbit.Uri.Host;
                            if (!string.IsNullOrEmpty(rabbit.Tls.CertificatePath))
                            {
                                ssl.CertificatePath = rabbit.Tls.CertificatePath;
                                ssl.CertificatePassphrase = rabbit.Tls.CertificatePassphrase;
                            }

                            if (!string.IsNullOrEmpty(rabbit.Tls.CaCertificatePath) && File.Exists(rabbit.Tls.CaCertificatePath))
                            {
                                ssl.CertificateValidationCallback = ZfsSync.Shared.BrokerCertificateValidation.TrustOnly(rabbit.Tls.CaCertificatePath);
                            }
                        });
                    }
                });

                cfg.UseWitnessUserId(WitnessSigning.BrokerUser(rabbit));

                // Hosts without .NET publish the bare message object (content type application/json).
                cfg.UseRawJsonDeserializer(RawSerializerOptions.AnyMessageType, isDefault: false);
                cfg.ConfigureEndpoints(context);
            });
        });
        return services;
    }
}
