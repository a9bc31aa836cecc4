using System.Text.Json;
using MassTransit;
using MassTransit.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Core.Planning;
using ZfsSync.Witness.Worker.Consumers;
using ZfsSync.Witness.Worker.Groups;
using ZfsSync.Witness.Worker.Hosting;
using ZfsSync.Witness.Worker.Ingest;
using ZfsSync.Witness.Worker.Persistence;
using ZfsSync.Witness.Worker.Persistence.Outbox;
using ZfsSync.Witness.Worker.StateMachines;
using ZfsSync.Witness.Worker.Tests.Support;

namespace ZfsSync.Witness.Worker.Tests.Groups;

/// <summary>
/// The sync group saga in the MassTransit test harness (fresh per test), stored with our EF Core repository on a real
/// PostgreSQL database. Inventories are stored by the real ingest; what the saga sends is read from the outbox rows it
/// committed with its state (the dispatcher that publishes them is tested with the outbox).
/// </summary>
public sealed class GroupSagaScenario : IAsyncDisposable
{
    public const string Group = "critical";
    public static readonly Guid GroupId = DeterministicIds.SyncGroup(Group);

    private GroupSagaScenario(WitnessTestDatabase database, ServiceProvider provider, WitnessOptions options, FakeTimeProvider time, LogCapture logs)
    {
        Logs = logs;
        Database = database;
        Provider = provider;
        Options = options;
        Time = time;
        Harness = provider.GetRequiredService<ITestHarness>();
        Saga = provider.GetRequiredService<ISagaStateMachineTestHarness<SyncGroupStateMachine, SyncGroupState>>();
        Machine = provider.GetRequiredService<SyncGroupStateMachine>();
    }

    public WitnessTestDatabase Database { get; }
    public ServiceProvider Provider { get; }
    public WitnessOptions Options { get; }
    public FakeTimeProvider Time { get; }

    /// <summary>What the saga and its activities logged (information and above).</summary>
    public LogCapture Logs { get; }

    /// <summary>The broker user the scenario's requests come from (the in-memory transport carries no AMQP user-id).</summary>
    public const string OperatorUser = "operator";

    public FixedSenderIdentity Sender { get; private init; } = new();

    private bool OwnsDatabase { get; init; } = true;
    private bool _stopped;

    /// <summary>Stops this scenario's bus (a witness going down); its database stays for another scenario to start on.</summary>
    public async Task StopAsync()
    {
        if (!_stopped)
        {
            _stopped = true;
            await Harness.Stop();
        }
    }
    public ITestHarness Harness { get; }
    public ISagaStateMachineTestHarness<SyncGroupStateMachine, SyncGroupState> Saga { get; }
    public SyncGroupStateMachine Machine { get; }

    public static WitnessOptions DefaultOptions() => new()
    {
        Hosts =
        [
            new ZfsHostOptions { Id = "nas1", Ssh = new SshOptions { Host = "nas1.lan", User = "zfssync" } },
            new ZfsHostOptions { Id = "backup1", Ssh = new SshOptions { Host = "backup1.lan", User = "zfssync" } },
        ],
        SyncGroups =
        [
            new SyncGroupOptions
            {
                Name = Group,
                Source = "nas1",
                Members = ["nas1", "backup1"],
                Datasets = [new SyncDatasetOptions { Path = "tank/data", On = { ["backup1"] = "backup/data" } }],
            },
        ],
    };

    public static async Task<GroupSagaScenario> StartAsync(
        InfrastructureFixture infrastructure, WitnessOptions? options = null, PlannerOptions? planner = null, string provider = "postgresql",
        WitnessTestDatabase? database = null, DateTimeOffset? now = null)
    {
        // With a database of another scenario: a restarted witness (a new saga repository on the same rows); the other scenario drops it.
        var ownsDatabase = database is null;
        database ??= await WitnessTestDatabase.CreateAsync(infrastructure, provider);
        var time = new FakeTimeProvider(now ?? new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero));
        options ??= DefaultOptions();
        var logs = new LogCapture();
        if (!options.Operators.Contains(OperatorUser))
        {
            options.Operators.Add(OperatorUser);
        }

        var sender = new FixedSenderIdentity { User = OperatorUser };
        var services = new ServiceCollection()
            .AddLogging(b => b.AddProvider(logs))
            .AddSingleton<TimeProvider>(time)
            .AddSingleton<IOptionsMonitor<WitnessOptions>>(new StaticOptionsMonitor<WitnessOptions>(options))
            .AddSingleton(Microsoft.Extensions.Options.Options.Create(planner ?? new PlannerOptions()))
            .AddScoped<GroupPlanning>()
            .AddGroupMemberships()
            .AddSingleton<GroupHistory>()
            .AddSingleton<ISenderIdentity>(sender)
            .AddSingleton<OperatorAuthorization>()
            .AddWitnessOutbox<WitnessDbContext>(o => o.RunDispatcher = false) // the sweeper writes through it; nothing is dispatched here
            .AddDbContext<WitnessDbContext>(o => WitnessHostingExtensions.ConfigureProvider(o, database.Options, Path.GetTempPath()));
        services.AddMassTransitTestHarness(x =>
        {
            x.AddSyncGroupSaga();
            x.AddConfigureEndpointsCallback((context, _, endpoint) =>
            {
                endpoint.UseMessageRetry(r => r.Immediate(10));
                endpoint.UseInMemoryOutbox(context);
            });
        });
        var serviceProvider = services.BuildServiceProvider(validateScopes: true);
        var scenario = new GroupSagaScenario(database, serviceProvider, options, time, logs) { Sender = sender, OwnsDatabase = ownsDatabase };
        await scenario.Harness.Start();
        return scenario;
    }

    /// <summary>Announces the configured groups as a process loaded at <paramref name="loadedAt"/> would.</summary>
    public async Task<SyncGroupConfigured> ConfigureAsync(DateTimeOffset? loadedAt = null, WitnessOptions? options = null)
    {
        var config = options ?? Options;
        SyncGroupConfigured? last = null;
        foreach (var group in config.SyncGroups)
        {
            last = GroupDefinitionDocument.For(group, config).Announce(loadedAt ?? Time.GetUtcNow());
            await DeliverAsync(last);
        }

        return last!;
    }

    /// <summary>Stores a report with the real ingest, marks the host online, and delivers the group notifications to the saga.</summary>
    public async Task<IReadOnlyList<GroupInventoryChanged>> ReportAsync(string hostId, params DatasetInventory[] datasets)
    {
        var report = new SnapshotInventoryReported
        {
            HostId = hostId,
            ReportId = Guid.NewGuid(),
            Sequence = Reports.NextSequence(),
            CapturedAt = Time.GetUtcNow(),
            Roots = [.. datasets.Select(d => d.Name.Split('/')[0]).Distinct()],
            Datasets = datasets,
        };
        var outbox = new RecordingOutbox();
        await using (var db = Database.CreateContext())
        {
            var ingest = new InventoryIngest(db, outbox, Provider.GetRequiredService<GroupMemberships>(), new StaticOptionsMonitor<WitnessOptions>(Options), Time, NullLogger<InventoryIngest>.Instance);
            var result = await ingest.ApplyAsync(report, null, 1000, CancellationToken.None);
            result.IsRejected.ShouldBeFalse(result.Reason);
        }

        await SetHostStatusAsync(hostId, HostStatus.Online);
        var changes = outbox.Of<GroupInventoryChanged>().ToList();
        foreach (var change in changes)
        {
            await DeliverAsync(change);
        }

        return changes;
    }

    public async Task SetHostStatusAsync(string hostId, HostStatus status)
    {
        await using var db = Database.CreateContext();
        var host = await db.Hosts.SingleOrDefaultAsync(h => h.HostId == hostId);
        if (host is null)
        {
            host = new HostRecord { HostId = hostId, Configured = true };
            db.Hosts.Add(host);
        }

        host.Status = status;
        host.LastSeenAt = Time.GetUtcNow();
        await db.SaveChangesAsync();
    }

    /// <summary>Publishes <paramref name="message"/> (with <paramref name="messageId"/> if given) and waits until the saga consumed it.</summary>
    public async Task DeliverAsync<T>(T message, Guid? messageId = null)
        where T : class
    {
        var id = messageId ?? NewId.NextGuid();
        var before = await VersionAsync();
        await Harness.Bus.Publish(message, c => c.MessageId = id);

        // The harness records a consumption inside the repository's transaction (and its waits end early once the bus
        // has been idle for its inactivity timeout): wait for the commit instead, bounded. Every handled message bumps
        // the version; a finalized instance is deleted.
        await Poll.UntilAsync(
            async () => message is SyncGroupRemoved ? await VersionAsync() is null || await VersionAsync() > before : await VersionAsync() > (before ?? 0),
            $"the saga to commit {typeof(T).Name}");
    }

    private async Task<int?> VersionAsync()
    {
        await using var db = Database.CreateContext();
        return await db.Set<SyncGroupState>().AsNoTracking().Where(s => s.CorrelationId == GroupId).Select(s => (int?)s.Version).SingleOrDefaultAsync();
    }

    public async Task<SyncGroupState> StateAsync(Func<SyncGroupStateMachine, State> state)
    {
        (await Saga.Exists(GroupId, state)).ShouldBe(GroupId, $"the group did not reach {state(Machine).Name}");
        await using var db = Database.CreateContext();
        return await db.Set<SyncGroupState>().AsNoTracking().SingleAsync(s => s.CorrelationId == GroupId);
    }

    /// <summary>The messages of type <typeparamref name="T"/> the saga committed to the outbox, in order.</summary>
    public async Task<List<(Guid MessageId, T Message)>> SentAsync<T>() =>
        [.. (await OutboxOfAsync<T>()).Where(r => r.Destination is null).Select(r => (r.MessageId, r.Message))];

    /// <summary>The messages of type <typeparamref name="T"/> the outbox sends to an address (the routed copies), with that address.</summary>
    public async Task<List<(Guid MessageId, string Destination, T Message)>> RoutedAsync<T>() =>
        [.. (await OutboxOfAsync<T>()).Where(r => r.Destination is not null).Select(r => (r.MessageId, r.Destination!, r.Message))];

    private async Task<List<(Guid MessageId, string? Destination, T Message)>> OutboxOfAsync<T>()
    {
        await using var db = Database.CreateContext();
        var prefix = typeof(T).FullName + ",";
        var rows = await db.Set<OutboxMessage>().AsNoTracking().OrderBy(m => m.SequenceNumber).ToListAsync();
        return [.. rows.Where(r => r.MessageType.StartsWith(prefix, StringComparison.Ordinal))
            .Select(r => (r.MessageId, r.DestinationAddress, JsonSerializer.Deserialize<T>(r.Body, StoredJson.Options)!))];
    }

    /// <summary>The expiry sweeper over this scenario's database and clock.</summary>
    public InstructionExpirySweeper Sweeper(TimeSpan? replanAfter = null) => new(
        Provider.GetRequiredService<IServiceScopeFactory>(),
        new StaticOptionsMonitor<WitnessOptions>(Options),
        new StaticOptionsMonitor<SyncGroupSweepOptions>(new SyncGroupSweepOptions { ReplanAfter = replanAfter ?? TimeSpan.FromMinutes(5) }),
        Time,
        NullLogger<InstructionExpirySweeper>.Instance);

    /// <summary>Runs the sweeper's nudge and delivers what it committed to the saga; returns whether it nudged.</summary>
    public async Task<bool> NudgeAsync(TimeSpan? replanAfter = null)
    {
        var before = (await SentAsync<SyncGroupPlanningDue>()).Count;
        if (await Sweeper(replanAfter).NudgeAsync(CancellationToken.None) == 0)
        {
            return false;
        }

        var (id, due) = (await SentAsync<SyncGroupPlanningDue>()).Skip(before).Single();
        await DeliverAsync(due, id);
        return true;
    }

    public async Task<List<InstructionAttemptRecord>> AttemptsAsync()
    {
        await using var db = Database.CreateContext();
        return await db.Set<InstructionAttemptRecord>().AsNoTracking().OrderBy(a => a.IssuedAt).ThenBy(a => a.Attempt).ToListAsync();
    }

    public async Task<List<ConflictRecord>> ConflictsAsync()
    {
        await using var db = Database.CreateContext();
        return await db.Set<ConflictRecord>().AsNoTracking().ToListAsync();
    }

    public async Task<TResponse> RequestAsync<TRequest, TResponse>(TRequest request)
        where TRequest : class
        where TResponse : class
    {
        var client = Harness.GetRequestClient<TRequest>();
        var response = await client.GetResponse<TResponse>(request);
        return response.Message;
    }

    public async Task<Response<SyncConflictResolutionAccepted, SyncConflictResolutionRejected>> ResolveAsync(Guid conflictId, string resolution, string group = Group)
    {
        var client = Harness.GetRequestClient<ResolveSyncConflict>();
        return await client.GetResponse<SyncConflictResolutionAccepted, SyncConflictResolutionRejected>(
            new ResolveSyncConflict { ConflictId = conflictId, SyncGroup = group, Resolution = resolution, RequestedBy = "operator" });
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        await Provider.DisposeAsync();
        if (OwnsDatabase)
        {
            await Database.DisposeAsync();
        }
    }

    // The world: nas1 holds tank/data with s1..s3; backup1 receives into backup/data.
    public static readonly SnapshotInfo S1 = Reports.Snapshot("auto-1", 1001, 101);
    public static readonly SnapshotInfo S2 = Reports.Snapshot("auto-2", 1002, 102);
    public static readonly SnapshotInfo S3 = Reports.Snapshot("auto-3", 1003, 103);

    public static DatasetInventory[] Source(params SnapshotInfo[] snapshots) => [Reports.Dataset("tank"), Reports.Dataset("tank/data", snapshots)];

    public static DatasetInventory[] Target(params SnapshotInfo[] snapshots) =>
        [Reports.Dataset("backup"), Reports.Dataset("backup/data", [.. snapshots.Select(s => s with { CreateTxg = s.CreateTxg + 5000 })])];

    public static DatasetInventory[] EmptyTarget() => [Reports.Dataset("backup")];
}

/// <summary>The validated sender of every message of an in-memory test bus, settable per test.</summary>
public sealed class FixedSenderIdentity : ISenderIdentity
{
    public string? User { get; set; }

    public string? UserIdOf(ConsumeContext context) => User;
}
