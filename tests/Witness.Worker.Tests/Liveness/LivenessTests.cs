using MassTransit;
using MassTransit.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Worker.Consumers;
using ZfsSync.Witness.Worker.Hosting;
using ZfsSync.Witness.Worker.Liveness;
using ZfsSync.Witness.Worker.Persistence;
using ZfsSync.Witness.Worker.Persistence.Outbox;
using ZfsSync.Witness.Worker.Tests.Support;

namespace ZfsSync.Witness.Worker.Tests.Liveness;

[Collection(InfrastructureFixture.Collection)]
public sealed class When_heartbeats_come_and_stop(InfrastructureFixture infrastructure) : IAsyncLifetime
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero));
    private readonly RecordingOutbox _outbox = new();
    private WitnessTestDatabase _database = null!;
    private ServiceProvider _provider = null!;
    private ITestHarness _harness = null!;
    private WitnessOptions _options = null!;

    public async Task InitializeAsync()
    {
        _database = await WitnessTestDatabase.CreateAsync(infrastructure, "postgresql");
        var options = _options = new WitnessOptions
        {
            Hosts = [new ZfsHostOptions { Id = "nas1" }, new ZfsHostOptions { Id = "nas2" }, new ZfsHostOptions { Id = "guarded", ReportsAs = "guarded-user" }],
            Liveness = new LivenessOptions { SweepInterval = TimeSpan.FromSeconds(15), OfflineAfter = TimeSpan.FromMinutes(10) },
            Ingest = new IngestOptions { HeartbeatBatchSize = 4, HeartbeatBatchTimeLimit = TimeSpan.FromMilliseconds(200) },
        };
        _provider = new ServiceCollection()
            .AddSingleton<TimeProvider>(_time)
            .AddSingleton<IOptionsMonitor<WitnessOptions>>(new StaticOptionsMonitor<WitnessOptions>(options))
            .AddSingleton(Options.Create(options))
            .AddSingleton<ITransactionalOutbox>(_outbox)
            .AddDbContext<WitnessDbContext>(o => WitnessHostingExtensions.ConfigureProvider(o, _database.Options, Path.GetTempPath()))
            .AddLogging()
            .AddSingleton<LivenessSweeper>()
            .AddSingleton<UnknownHostHeartbeats>()
            .AddMassTransitTestHarness(x => x.AddConsumer<HeartbeatConsumer>(HeartbeatConsumer.ConfigureBatch))
            .BuildServiceProvider(true);
        _harness = _provider.GetRequiredService<ITestHarness>();
        await _harness.Start();
    }

    public async Task DisposeAsync()
    {
        await _harness.Stop();
        await _provider.DisposeAsync();
        await _database.DisposeAsync();
    }

    private async Task HeartbeatAsync(string hostId, int interval = 30, string? reporterError = null)
    {
        var heartbeat = NewHeartbeat(hostId, interval, reporterError);
        await _harness.Bus.Publish(heartbeat);
        (await ConsumedAsync(heartbeat)).ShouldBeTrue();
    }

    private Task<bool> ConsumedAsync(Heartbeat heartbeat) =>
        _harness.GetConsumerHarness<HeartbeatConsumer>().Consumed.Any<Batch<Heartbeat>>(x =>
            x.Context.Message.Any(m => m.Message.SentAt == heartbeat.SentAt && m.Message.HostId == heartbeat.HostId));

    private Heartbeat NewHeartbeat(string hostId, int interval = 30, string? reporterError = null) =>
        new()
        {
            HostId = hostId,
            SentAt = _time.GetUtcNow(),
            IntervalSeconds = interval,
            Os = "linux",
            ZfsVersion = "zfs-2.2.6",
            Pools = [new PoolHealth { Name = "tank", Health = "ONLINE" }],
            ReporterError = reporterError,
        };

    private async Task<HostRecord?> HostAsync(string hostId)
    {
        await using var db = _database.CreateContext();
        return await db.Hosts.AsNoTracking().SingleOrDefaultAsync(h => h.HostId == hostId);
    }

    private Task<int> SweepAsync() => _provider.GetRequiredService<LivenessSweeper>().SweepAsync(CancellationToken.None);

    private List<(HostStatus Status, HostStatus? Previous)> Transitions(string hostId) =>
        _outbox.Of<HostStatusChanged>().Where(m => m.HostId == hostId).Select(m => (m.Status, m.PreviousStatus)).ToList();

    [Fact]
    public async Task Should_go_online_late_offline_and_back_online_by_the_injected_clock()
    {
        await HeartbeatAsync("nas1", interval: 30, reporterError: "zfs list: exit 1");
        var host = (await HostAsync("nas1")).ShouldNotBeNull();
        host.Status.ShouldBe(HostStatus.Online);
        host.LastSeenAt.ShouldBe(_time.GetUtcNow());
        host.ReporterError.ShouldBe("zfs list: exit 1");
        host.Pools.ShouldBe("tank=ONLINE");
        Transitions("nas1").ShouldBe([(HostStatus.Online, HostStatus.Offline)]);

        _time.Advance(TimeSpan.FromSeconds(60)); // exactly two intervals: not late yet
        (await SweepAsync()).ShouldBe(0);

        _time.Advance(TimeSpan.FromSeconds(1));
        (await SweepAsync()).ShouldBe(1);
        (await HostAsync("nas1"))!.Status.ShouldBe(HostStatus.Late);

        _time.Advance(TimeSpan.FromMinutes(9)); // 10 min 1 s since the heartbeat
        (await SweepAsync()).ShouldBe(1);
        (await HostAsync("nas1"))!.Status.ShouldBe(HostStatus.Offline);
        (await SweepAsync()).ShouldBe(0);

        await HeartbeatAsync("nas1");
        (await HostAsync("nas1"))!.Status.ShouldBe(HostStatus.Online);
        Transitions("nas1").ShouldBe(
        [
            (HostStatus.Online, HostStatus.Offline),
            (HostStatus.Late, HostStatus.Online),
            (HostStatus.Offline, HostStatus.Late),
            (HostStatus.Online, HostStatus.Offline),
        ]);
    }

    [Fact]
    public async Task Should_sweep_on_its_own_when_the_clock_passes_the_sweep_interval()
    {
        await HeartbeatAsync("nas1", interval: 10);
        var sweeper = _provider.GetRequiredService<LivenessSweeper>();
        await sweeper.StartAsync(CancellationToken.None);
        try
        {
            _time.Advance(TimeSpan.FromSeconds(30)); // silent for three intervals; one sweep tick passes
            await Poll.UntilAsync(async () => (await HostAsync("nas1"))!.Status == HostStatus.Late, "the sweeper to mark nas1 late");
        }
        finally
        {
            await sweeper.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task Should_count_and_drop_heartbeats_of_undeclared_hosts_without_storing_or_announcing_anything()
    {
        for (var i = 0; i < 20; i++)
        {
            await HeartbeatAsync($"made-up-{i}");
        }

        _provider.GetRequiredService<UnknownHostHeartbeats>().Total.ShouldBe(20);
        await using var db = _database.CreateContext();
        (await db.Hosts.CountAsync()).ShouldBe(0);
        _outbox.Messages.ShouldBeEmpty();
        (await SweepAsync()).ShouldBe(0);
        _outbox.Messages.ShouldBeEmpty();
    }

    [Fact]
    public async Task Should_record_an_undeclared_host_when_unknown_hosts_are_allowed()
    {
        _options.Ingest.RejectUnknownHosts = false;
        await HeartbeatAsync("stranger");

        var host = (await HostAsync("stranger")).ShouldNotBeNull();
        host.Configured.ShouldBeFalse();
        host.Status.ShouldBe(HostStatus.Online);
        (await HostAsync("nas1")).ShouldBeNull();
    }

    [Fact]
    public async Task Should_apply_a_batch_whose_bad_heartbeats_are_dropped_on_their_own()
    {
        var guarded = NewHeartbeat("guarded"); // no validated user id: refused
        var invalid = NewHeartbeat("Not A Host!"); // invalid host id
        var good = NewHeartbeat("nas1", reporterError: "pool busy");
        var other = NewHeartbeat("nas2");
        await _harness.Bus.PublishBatch([guarded, invalid, good, other]);

        (await ConsumedAsync(good)).ShouldBeTrue();
        (await _harness.GetConsumerHarness<HeartbeatConsumer>().Consumed.Any<Batch<Heartbeat>>(x =>
            x.Context.Message.Length == 4)).ShouldBeTrue(); // the four came as one batch
        (await _harness.Published.Any<Fault<Batch<Heartbeat>>>()).ShouldBeFalse();
        var host = (await HostAsync("nas1")).ShouldNotBeNull();
        host.Status.ShouldBe(HostStatus.Online);
        host.ReporterError.ShouldBe("pool busy");
        (await HostAsync("nas2")).ShouldNotBeNull().Status.ShouldBe(HostStatus.Online);
        (await HostAsync("guarded")).ShouldBeNull();
        Transitions("nas1").ShouldBe([(HostStatus.Online, HostStatus.Offline)]);
    }

    [Fact]
    public async Task Should_drop_a_heartbeat_without_the_validated_user_id_its_host_requires()
    {
        await HeartbeatAsync("guarded"); // the in-memory transport carries no AMQP user-id

        (await HostAsync("guarded")).ShouldBeNull();
        Transitions("guarded").ShouldBeEmpty();
    }
}

[Collection(InfrastructureFixture.Collection)]
public sealed class When_processed_reports_grow_old(InfrastructureFixture infrastructure)
{
    [Theory]
    [InlineData("postgresql")]
    [InlineData("sqlite")]
    public async Task Should_prune_records_older_than_the_retention_and_keep_pending_parts(string provider)
    {
        await using var scenario = await Ingest.IngestScenario.CreateAsync(infrastructure, provider);
        await scenario.ApplyAsync(Reports.Report("nas1", Reports.Dataset("tank")));
        var split = Reports.Report("nas1", Reports.Dataset("tank")) with { PartCount = 2 };
        await scenario.ApplyAsync(split); // part 1 of 2: pending until part 2 arrives
        scenario.Time.Advance(TimeSpan.FromDays(8));
        await scenario.ApplyAsync(Reports.Report("nas1", Reports.Dataset("tank")));

        await using var provider2 = new ServiceCollection()
            .AddSingleton<TimeProvider>(scenario.Time)
            .AddSingleton<IOptionsMonitor<WitnessOptions>>(new StaticOptionsMonitor<WitnessOptions>(scenario.Options))
            .AddDbContext<WitnessDbContext>(o => WitnessHostingExtensions.ConfigureProvider(o, scenario.DatabaseOptions, Path.GetTempPath()))
            .AddSingleton<ITransactionalOutbox>(new RecordingOutbox())
            .AddLogging()
            .AddSingleton<LivenessSweeper>()
            .BuildServiceProvider();

        (await provider2.GetRequiredService<LivenessSweeper>().PruneProcessedReportsAsync(CancellationToken.None)).ShouldBe(1);
        var left = await scenario.QueryAsync(db => db.ProcessedReports.Select(r => r.ReportId).ToListAsync());
        left.Count.ShouldBe(2);
        left.ShouldContain(split.ReportId);
    }
}
