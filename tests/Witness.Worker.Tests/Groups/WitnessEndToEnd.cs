using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Worker.Hosting;
using ZfsSync.Witness.Worker.Persistence;
using ZfsSync.Witness.Worker.Persistence.Outbox;
using ZfsSync.Witness.Worker.StateMachines;
using ZfsSync.Witness.Worker.Tests.Support;

namespace ZfsSync.Witness.Worker.Tests.Groups;

/// <summary>Everything a subscriber (executor, chatops bot, dashboard) received from the witness, with MessageIds.</summary>
public sealed class Received
{
    public ConcurrentQueue<(Guid? MessageId, object Message)> Messages { get; } = new();

    public List<T> Of<T>() => [.. Messages.Select(m => m.Message).OfType<T>()];

    public List<(Guid? MessageId, T Message)> WithIds<T>() => [.. Messages.Where(m => m.Message is T).Select(m => (m.MessageId, (T)m.Message))];
}

public sealed class RecordingSubscriber(Received received) :
    IConsumer<SyncInstructionIssued>,
    IConsumer<SyncInstructionExpired>,
    IConsumer<SyncConflictDetected>,
    IConsumer<SyncConflictResolved>,
    IConsumer<SyncGroupStatusChanged>,
    IConsumer<SyncConflictResolutionRejected>,
    IConsumer<SyncConflictResolutionAccepted>,
    IConsumer<SyncGroupCommandRejected>
{
    public Task Consume(ConsumeContext<SyncConflictResolutionRejected> context) => Record(context);

    public Task Consume(ConsumeContext<SyncGroupCommandRejected> context) => Record(context);
    public Task Consume(ConsumeContext<SyncConflictResolutionAccepted> context) => Record(context);
    public Task Consume(ConsumeContext<SyncInstructionIssued> context) => Record(context);
    public Task Consume(ConsumeContext<SyncInstructionExpired> context) => Record(context);
    public Task Consume(ConsumeContext<SyncConflictDetected> context) => Record(context);
    public Task Consume(ConsumeContext<SyncConflictResolved> context) => Record(context);
    public Task Consume(ConsumeContext<SyncGroupStatusChanged> context) => Record(context);

    private Task Record<T>(ConsumeContext<T> context)
        where T : class
    {
        received.Messages.Enqueue((context.MessageId, context.Message));
        return Task.CompletedTask;
    }
}

/// <summary>Counts what one witness process consumed, by message type.</summary>
public sealed class ConsumedCounter : IConsumeObserver
{
    public ConcurrentDictionary<Type, int> Counts { get; } = new();

    public Task PreConsume<T>(ConsumeContext<T> context)
        where T : class => Task.CompletedTask;

    public Task PostConsume<T>(ConsumeContext<T> context)
        where T : class
    {
        Counts.AddOrUpdate(typeof(T), 1, (_, n) => n + 1);
        return Task.CompletedTask;
    }

    public Task ConsumeFault<T>(ConsumeContext<T> context, Exception exception)
        where T : class => Task.CompletedTask;

    public int Of<T>() => Counts.GetValueOrDefault(typeof(T));
}

/// <summary>
/// A world for end-to-end tests: real witness processes (generic hosts built with <c>AddWitness</c> from configuration
/// pointing at a test vhost and a test PostgreSQL database), and a client process that reports as the hosts would,
/// subscribes to what the witness publishes and sends requests.
/// </summary>
public sealed class WitnessWorld : IAsyncDisposable
{
    public const string Group = "critical";
    private readonly List<IHost> _witnesses = [];

    private WitnessWorld(TestVhost vhost, TestDatabase database, IHost client, Received received, string[] members, int datasets)
    {
        Vhost = vhost;
        Database = database;
        Client = client;
        Received = received;
        Members = members;
        DatasetCount = datasets;
    }

    public TestVhost Vhost { get; }
    public TestDatabase Database { get; }
    public IHost Client { get; }
    public Received Received { get; }
    public string[] Members { get; }
    public int DatasetCount { get; }
    public IBus Bus => Client.Services.GetRequiredService<IBus>();

    public static async Task<WitnessWorld> CreateAsync(InfrastructureFixture infrastructure, string[]? members = null, int datasets = 1)
    {
        var vhost = await infrastructure.CreateVhostAsync();
        var database = await infrastructure.CreateDatabaseAsync();
        var received = new Received();
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddSingleton(received);
        builder.Services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true);
        builder.Services.AddMassTransit(x =>
        {
            x.AddConsumer<RecordingSubscriber>();
            x.AddRequestClient<ResolveSyncConflict>(RequestTimeout.After(s: 30));
            x.AddRequestClient<GetSyncGroupStatus>(RequestTimeout.After(s: 30));
            x.AddRequestClient<GetOutstandingInstructions>(RequestTimeout.After(s: 30));
            x.UsingRabbitMq((context, cfg) =>
            {
                cfg.Host(vhost.AmqpUri);
                SignAs(cfg, vhost.Broker.AdminUser); // the client is the operator (Operators) who resolves conflicts
                cfg.ConfigureEndpoints(context);
            });
        });
        var client = builder.Build();
        await client.StartAsync();
        return new WitnessWorld(vhost, database, client, received, members ?? ["nas1", "backup1", "backup2"], datasets);
    }

    /// <summary>Stamps the AMQP user-id of the connection's user on every send and publish (the broker validates it).</summary>
    public static void SignAs(IRabbitMqBusFactoryConfigurator cfg, string user)
    {
        ArgumentNullException.ThrowIfNull(cfg);
        cfg.ConfigureSend(s => s.UseSendExecute(c =>
        {
            if (c.TryGetPayload<RabbitMqSendContext>(out var rabbit))
            {
                rabbit.BasicProperties.UserId = user;
            }
        }));
        cfg.ConfigurePublish(p => p.UseExecute(c =>
        {
            if (c.TryGetPayload<RabbitMqSendContext>(out var rabbit))
            {
                rabbit.BasicProperties.UserId = user;
            }
        }));
    }

    /// <summary>The witness's configuration, as a deployment would write it.</summary>
    public Dictionary<string, string?> Configuration(IDictionary<string, string?>? overrides = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Database:Provider"] = "postgresql",
            ["Database:ConnectionString"] = Database.ConnectionString,
            ["RabbitMq:Uri"] = Vhost.AmqpUri.ToString(),
            ["Outbox:PollingInterval"] = "00:00:00.500",
            ["Outbox:InitialBackoff"] = "00:00:00.200",
            ["Liveness:SweepInterval"] = "00:00:01",
            ["SyncGroups:0:Name"] = Group,
            ["SyncGroups:0:Source"] = "nas1",
            ["Operators:0"] = Vhost.Broker.AdminUser,
        };
        for (var i = 0; i < Members.Length; i++)
        {
            settings[$"Hosts:{i}:Id"] = Members[i];
            settings[$"Hosts:{i}:Ssh:Host"] = Members[i] + ".lan";
            settings[$"Hosts:{i}:Ssh:User"] = "zfssync";
            settings[$"SyncGroups:0:Members:{i}"] = Members[i];
        }

        for (var d = 0; d < DatasetCount; d++)
        {
            settings[$"SyncGroups:0:Datasets:{d}:Path"] = $"tank/d{d}";
            foreach (var target in Members.Skip(1))
            {
                settings[$"SyncGroups:0:Datasets:{d}:On:{target}"] = $"backup/d{d}";
            }
        }

        foreach (var (key, value) in overrides ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        return settings;
    }

    /// <summary>Starts a witness process (a replica) built with <c>AddWitness</c>.</summary>
    public async Task<IHost> StartWitnessAsync(IDictionary<string, string?>? overrides = null, ConsumedCounter? counter = null, LogCapture? logs = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(Configuration(overrides));
        builder.AddWitness();
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs);
        }

        if (counter is not null)
        {
            builder.Services.AddConsumeObserver(_ => counter);
        }

        var host = builder.Build();
        await host.StartAsync();
        _witnesses.Add(host);
        return host;
    }

    public async Task StopWitnessAsync(IHost host)
    {
        ArgumentNullException.ThrowIfNull(host);
        _witnesses.Remove(host);
        await host.StopAsync(TimeSpan.FromSeconds(30));
        host.Dispose();
    }

    /// <summary>Every member sends a heartbeat; waits until the witness has them online.</summary>
    public async Task HeartbeatsAsync()
    {
        foreach (var member in Members)
        {
            await Bus.Publish(new Heartbeat { HostId = member, SentAt = DateTimeOffset.UtcNow, IntervalSeconds = 3600, AgentVersion = "test", Os = "linux" });
        }

        await Poll.UntilAsync(
            async () =>
            {
                await using var db = CreateContext();
                return await db.Hosts.CountAsync(h => Members.Contains(h.HostId) && h.Status == HostStatus.Online) == Members.Length;
            },
            "every member online");
    }

    public static SnapshotInfo Snap(int n, int dataset = 0) =>
        Reports.Snapshot($"auto-{n}", (ulong)(10_000 + (dataset * 1000) + n), (ulong)(100 + n));

    /// <summary>nas1's report: datasets tank/d0.. with snapshots 1..<paramref name="snapshots"/>.</summary>
    public SnapshotInventoryReported SourceReport(int snapshots) => Report(
        "nas1",
        [Reports.Dataset("tank"), .. Enumerable.Range(0, DatasetCount).Select(d => Reports.Dataset($"tank/d{d}", [.. Enumerable.Range(1, snapshots).Select(n => Snap(n, d))]))]);

    /// <summary>A target's report: backup/d0.. holding snapshots 1..<paramref name="snapshots"/> (none: the datasets do not exist).</summary>
    public static SnapshotInventoryReported TargetReport(string hostId, int snapshots, int datasets = 1, SnapshotInfo? extra = null) => Report(
        hostId,
        [Reports.Dataset("backup"), .. snapshots == 0 ? [] : Enumerable.Range(0, datasets).Select(d => Reports.Dataset(
            $"backup/d{d}",
            [.. Enumerable.Range(1, snapshots).Select(n => Snap(n, d) with { CreateTxg = (ulong)(5000 + n) }), .. extra is null ? [] : new[] { extra }]))]);

    public static SnapshotInventoryReported Report(string hostId, DatasetInventory[] datasets) => new()
    {
        HostId = hostId,
        ReportId = Guid.NewGuid(),
        Sequence = Reports.NextSequence(),
        CapturedAt = DateTimeOffset.UtcNow,
        Roots = [.. datasets.Select(d => d.Name.Split('/')[0]).Distinct()],
        Datasets = datasets,
    };

    public WitnessDbContext CreateContext()
    {
        var builder = new DbContextOptionsBuilder<WitnessDbContext>();
        builder.UseNpgsql(Database.ConnectionString);
        return new WitnessDbContext(builder.Options);
    }

    public async Task<SyncGroupState?> GroupAsync()
    {
        await using var db = CreateContext();
        return await db.Set<SyncGroupState>().AsNoTracking().SingleOrDefaultAsync(s => s.Name == Group);
    }

    public async Task<List<OutboxMessage>> OutboxAsync()
    {
        await using var db = CreateContext();
        return await db.Set<OutboxMessage>().AsNoTracking().OrderBy(m => m.SequenceNumber).ToListAsync();
    }

    public async Task<List<InstructionAttemptRecord>> AttemptsAsync()
    {
        await using var db = CreateContext();
        return await db.Set<InstructionAttemptRecord>().AsNoTracking().ToListAsync();
    }

    /// <summary>Waits until the group is in <paramref name="status"/> and everything the witnesses committed was published.</summary>
    public async Task SettledAsync(SyncGroupStatus status, Func<SyncGroupState, bool>? condition = null, string? what = null) =>
        await Poll.UntilAsync(
            async () => await GroupAsync() is { } group
                && SyncGroupStates.StatusOf(group.CurrentState) == status
                && (condition?.Invoke(group) ?? true)
                && (await OutboxAsync()).All(m => m.DispatchedAt != null),
            what ?? $"the group to be {status} with the outbox drained",
            TimeSpan.FromSeconds(60));

    public Task UntilReceivedAsync<T>(Func<List<T>, bool> condition, string what) =>
        Poll.UntilAsync(() => Task.FromResult(condition(Received.Of<T>())), what, TimeSpan.FromSeconds(60));

    /// <summary>Publishes raw JSON through the management API, as the shell tools do (no MassTransit envelope).</summary>
    public async Task PublishRawAsync<T>(string json)
    {
        var urn = $"urn:message:{typeof(T).Namespace}:{typeof(T).Name}";
        var routed = await Vhost.PublishViaManagementApiAsync(
            $"{typeof(T).Namespace}:{typeof(T).Name}",
            json,
            new Dictionary<string, object>
            {
                ["content_type"] = "application/json",
                ["delivery_mode"] = 2,
                ["message_id"] = Guid.NewGuid().ToString(),
                ["type"] = urn,
                ["user_id"] = Vhost.Broker.AdminUser,
                ["headers"] = new Dictionary<string, object> { ["MT-MessageType"] = urn },
            });
        routed.ShouldBeTrue($"the broker routed the raw {typeof(T).Name}");
    }

    public static T Body<T>(OutboxMessage row) => JsonSerializer.Deserialize<T>(row.Body, StoredJson.Options)!;

    public async ValueTask DisposeAsync()
    {
        foreach (var host in _witnesses)
        {
            await host.StopAsync(TimeSpan.FromSeconds(30));
            host.Dispose();
        }

        await Client.StopAsync(TimeSpan.FromSeconds(30));
        Client.Dispose();
        await Vhost.DisposeAsync();
        await Database.DisposeAsync();
    }

    public static string Ticks(DateTimeOffset at) => at.UtcTicks.ToString(CultureInfo.InvariantCulture);
}
