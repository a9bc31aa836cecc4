using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using ZfsSync.Contracts;
using ZfsSync.Observability;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Core.Planning;
using ZfsSync.Witness.Worker.Consumers;
using ZfsSync.Witness.Worker.Hosting;
using ZfsSync.Witness.Worker.Observability;
using ZfsSync.Witness.Worker.Persistence;
using ZfsSync.Witness.Worker.Tests.Support;
using static ZfsSync.Witness.Worker.Tests.Groups.GroupSagaScenario;

namespace ZfsSync.Witness.Worker.Tests.Groups;

/// <summary>
/// Hang detection on the real database (the saga and the <c>instruction-progress</c> consumer in the test harness,
/// a fake clock): progress is recorded on the outstanding attempt, an attempt whose bytes (or progress messages)
/// stopped for the group's HangAfter is expired as hung and issued again, a growing one is not, stale progress
/// changes nothing.
/// </summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class When_an_executor_reports_progress(InfrastructureFixture infrastructure)
{
    private static readonly TimeSpan HangAfter = new SyncGroupOptions().HangAfter;

    private static async Task<(GroupSagaScenario Scenario, SyncInstructionIssued Instruction)> IssuedAsync(InfrastructureFixture infrastructure, string provider = "postgresql")
    {
        var scenario = await StartAsync(infrastructure, planner: new PlannerOptions { RetryBackoff = TimeSpan.Zero }, provider: provider);
        await scenario.ConfigureAsync();
        await scenario.ReportAsync("nas1", Source(S1, S2));
        await scenario.ReportAsync("backup1", EmptyTarget());
        scenario.Time.Advance(TimeSpan.FromMinutes(1));
        return (scenario, (await scenario.SentAsync<SyncInstructionIssued>()).Single().Message);
    }

    /// <summary>Publishes to the progress consumer and waits until it consumed that very message (without a fault).</summary>
    private static async Task SendAsync<T>(GroupSagaScenario scenario, T message)
        where T : class
    {
        var id = NewId.NextGuid();
        await scenario.Harness.Bus.Publish(message, c => c.MessageId = id);
        var consumer = scenario.Harness.GetConsumerHarness<InstructionProgressConsumer>();
        // Bounded polling, not the harness's wait (it ends early once the bus has been idle for its inactivity timeout).
        await Poll.UntilAsync(() => Task.FromResult(consumer.Consumed.Select<T>(c => c.Context.MessageId == id).Any()), $"the consumer to take the {typeof(T).Name}");
        consumer.Consumed.Select<T>(c => c.Context.MessageId == id).Single().Exception.ShouldBeNull();
    }

    private static SyncInstructionStarted Started(SyncInstructionIssued i, DateTimeOffset at) =>
        new() { InstructionId = i.InstructionId, Attempt = i.Attempt, SyncGroup = i.SyncGroup, ExecutedBy = "backup1/backup1", StartedAt = at };

    private static SyncInstructionProgressed Progressed(SyncInstructionIssued i, long? bytes, DateTimeOffset at, int? attempt = null) =>
        new() { InstructionId = i.InstructionId, Attempt = attempt ?? i.Attempt, SyncGroup = i.SyncGroup, ExecutedBy = "backup1/backup1", BytesTransferred = bytes, ReportedAt = at };

    private static async Task<InstructionAttemptRecord> AttemptAsync(GroupSagaScenario scenario, int attempt = 1) =>
        (await scenario.AttemptsAsync()).Single(a => a.Attempt == attempt);

    [Theory]
    [InlineData("postgresql")]
    [InlineData("sqlite")]
    public async Task Should_record_the_start_the_last_progress_and_when_the_bytes_last_grew(string provider)
    {
        var (scenario, issued) = await IssuedAsync(infrastructure, provider);
        await using var _ = scenario;
        var executorClock = scenario.Time.GetUtcNow().AddSeconds(-3);
        var t0 = scenario.Time.GetUtcNow();
        await SendAsync(scenario, Started(issued, executorClock));
        var row = await AttemptAsync(scenario);
        row.StartedAt.ShouldBe(executorClock);
        row.ProgressAt.ShouldBe(t0);
        row.BytesGrewAt.ShouldBe(t0);
        row.ProgressBytes.ShouldBeNull();

        scenario.Time.Advance(TimeSpan.FromMinutes(1));
        var t1 = scenario.Time.GetUtcNow();
        await SendAsync(scenario, Progressed(issued, 1_000_000, t1));
        row = await AttemptAsync(scenario);
        (row.ProgressAt, row.ProgressBytes, row.BytesGrewAt).ShouldBe((t1, 1_000_000L, t1));

        scenario.Time.Advance(TimeSpan.FromMinutes(1));
        var t2 = scenario.Time.GetUtcNow();
        await SendAsync(scenario, Progressed(issued, 1_000_000, t2));
        await SendAsync(scenario, Progressed(issued, 10, t2)); // reordered: an older count never lowers the record
        row = await AttemptAsync(scenario);
        (row.ProgressAt, row.ProgressBytes, row.BytesGrewAt).ShouldBe((t2, 1_000_000L, t1), "no growth: BytesGrewAt stays");
        row.StartedAt.ShouldBe(executorClock);
        row.Outcome.ShouldBeNull();
        (await scenario.SentAsync<SyncInstructionIssued>()).Count.ShouldBe(1, "progress is not a planning round");
    }

    [Fact]
    public async Task Should_change_nothing_for_progress_of_an_unknown_a_finished_or_a_later_attempt()
    {
        var (scenario, issued) = await IssuedAsync(infrastructure);
        await using var _ = scenario;
        var now = scenario.Time.GetUtcNow();
        await SendAsync(scenario, Progressed(issued, 5, now) with { InstructionId = Guid.NewGuid() });
        await SendAsync(scenario, Progressed(issued, 5, now, attempt: 2));
        await SendAsync(scenario, Progressed(issued, 5, now) with { SyncGroup = "other\u001b[31m" });
        await SendAsync(scenario, Progressed(issued, -1, now));
        (await AttemptAsync(scenario)).ProgressAt.ShouldBeNull("nothing recorded from stale or hostile progress");
        (await scenario.AttemptsAsync()).Count.ShouldBe(1);

        await scenario.DeliverAsync(new SyncInstructionCompleted
        {
            InstructionId = issued.InstructionId,
            Attempt = 1,
            SyncGroup = Group,
            ExecutedBy = "backup1/backup1",
            CompletedAt = now,
            BytesTransferred = 10,
        });
        await SendAsync(scenario, Started(issued, now));
        await SendAsync(scenario, Progressed(issued, 5, now));
        var row = await AttemptAsync(scenario);
        row.Outcome.ShouldBe(InstructionOutcomes.Completed);
        row.StartedAt.ShouldBeNull("a finished attempt takes no progress");
        row.ProgressAt.ShouldBeNull();
        row.ProgressBytes.ShouldBeNull();

        scenario.Time.Advance(HangAfter * 3);
        (await scenario.Sweeper().SweepAsync(CancellationToken.None)).ShouldBe(0);
    }

    [Theory]
    [InlineData("postgresql")]
    [InlineData("sqlite")]
    public async Task Should_expire_as_hung_an_attempt_whose_bytes_stopped_growing_and_issue_attempt_two(string provider)
    {
        var (scenario, issued) = await IssuedAsync(infrastructure, provider);
        await using var _ = scenario;
        await SendAsync(scenario, Started(issued, scenario.Time.GetUtcNow()));
        await SendAsync(scenario, Progressed(issued, 4096, scenario.Time.GetUtcNow()));
        var grewAt = scenario.Time.GetUtcNow();
        var sweeper = scenario.Sweeper();

        // The executor keeps reporting, the bytes do not move.
        for (var i = 0; i < 5; i++)
        {
            scenario.Time.Advance(HangAfter / 6);
            await SendAsync(scenario, Progressed(issued, 4096, scenario.Time.GetUtcNow()));
            (await sweeper.SweepAsync(CancellationToken.None)).ShouldBe(0, $"not hung yet after {scenario.Time.GetUtcNow() - grewAt}");
        }

        (await Sampler(scenario).SampleAsync(CancellationToken.None)).InstructionsHung.ShouldBe(0);
        scenario.Time.Advance(HangAfter / 6);
        (await Sampler(scenario).SampleAsync(CancellationToken.None)).InstructionsHung.ShouldBe(1, "the gauge shows the hung attempt");
        (await sweeper.SweepAsync(CancellationToken.None)).ShouldBe(1);
        (await sweeper.SweepAsync(CancellationToken.None)).ShouldBe(0, "announced once");
        var (expiryId, expired) = (await scenario.SentAsync<SyncInstructionExpired>()).ShouldHaveSingleItem();
        expired.InstructionId.ShouldBe(issued.InstructionId);
        expired.Attempt.ShouldBe(1);
        expired.ExpiredAt.ShouldBe(scenario.Time.GetUtcNow());
        expired.ExpiredAt.ShouldBeLessThan(issued.ExpiresAt, "long before its deadline");
        expired.Reason.ShouldStartWith("hung: no bytes for 00:30:00");
        expired.Reason.ShouldContain("4096 bytes");

        // The saga records it and issues attempt 2 of the same decision.
        (await scenario.ReportAsync("nas1", Source(S1, S2))).ShouldBeEmpty();
        (await scenario.ReportAsync("backup1", EmptyTarget())).ShouldBeEmpty();
        await scenario.DeliverAsync(expired, expiryId);
        var sent = await scenario.SentAsync<SyncInstructionIssued>();
        sent.Select(s => s.Message.Attempt).ShouldBe([1, 2]);
        sent[1].Message.InstructionId.ShouldBe(issued.InstructionId);
        var first = await AttemptAsync(scenario);
        first.Outcome.ShouldBe(InstructionOutcomes.Expired);
        first.OutcomeAt.ShouldBe(expired.ExpiredAt);
        first.Error.ShouldNotBeNull().ShouldStartWith("hung: no bytes");
        (await Sampler(scenario).SampleAsync(CancellationToken.None)).InstructionsHung.ShouldBe(0, "attempt 2 has not started");

        // Late progress of the hung attempt changes nothing; attempt 2 takes its own.
        await SendAsync(scenario, Progressed(issued, 9999, scenario.Time.GetUtcNow()));
        (await AttemptAsync(scenario)).ProgressBytes.ShouldBe(4096);
        await SendAsync(scenario, Started(issued, scenario.Time.GetUtcNow()) with { Attempt = 2 });
        (await AttemptAsync(scenario, 2)).ProgressAt.ShouldBe(scenario.Time.GetUtcNow());
    }

    [Fact]
    public async Task Should_not_expire_an_attempt_whose_bytes_keep_growing_nor_one_that_never_started()
    {
        var (scenario, issued) = await IssuedAsync(infrastructure);
        await using var _ = scenario;
        var sweeper = scenario.Sweeper();
        scenario.Time.Advance(HangAfter * 2);
        (await sweeper.SweepAsync(CancellationToken.None)).ShouldBe(0, "not started: only its expiresAt bounds it");

        await SendAsync(scenario, Started(issued, scenario.Time.GetUtcNow()));
        for (var i = 1; i <= 8; i++)
        {
            scenario.Time.Advance(HangAfter / 2);
            await SendAsync(scenario, Progressed(issued, i * 1_000_000L, scenario.Time.GetUtcNow()));
            (await sweeper.SweepAsync(CancellationToken.None)).ShouldBe(0, $"growing at step {i}");
        }

        (await scenario.SentAsync<SyncInstructionExpired>()).ShouldBeEmpty();
        (await AttemptAsync(scenario)).Outcome.ShouldBeNull();
    }

    [Fact]
    public async Task Should_expire_as_hung_an_attempt_without_byte_counts_when_its_progress_messages_stop()
    {
        var options = DefaultOptions();
        options.SyncGroups[0].HangAfter = TimeSpan.FromMinutes(10);
        var scenario = await StartAsync(infrastructure, options, new PlannerOptions { RetryBackoff = TimeSpan.Zero });
        await using var _ = scenario;
        await scenario.ConfigureAsync();
        await scenario.ReportAsync("nas1", Source(S1, S2));
        await scenario.ReportAsync("backup1", EmptyTarget());
        var issued = (await scenario.SentAsync<SyncInstructionIssued>()).Single().Message;
        var sweeper = scenario.Sweeper();

        await SendAsync(scenario, Started(issued, scenario.Time.GetUtcNow()));
        for (var i = 0; i < 4; i++)
        {
            scenario.Time.Advance(TimeSpan.FromMinutes(8));
            await SendAsync(scenario, Progressed(issued, null, scenario.Time.GetUtcNow())); // the shell form counts no bytes
            (await sweeper.SweepAsync(CancellationToken.None)).ShouldBe(0, "progress keeps coming");
        }

        scenario.Time.Advance(TimeSpan.FromMinutes(10));
        (await sweeper.SweepAsync(CancellationToken.None)).ShouldBe(1, "the group's HangAfter of 10 minutes, not the default");
        var expired = (await scenario.SentAsync<SyncInstructionExpired>()).Single().Message;
        expired.Reason.ShouldStartWith("hung: no progress for 00:10:00");
    }

    [Fact]
    public async Task Should_say_why_an_attempt_expired_at_its_deadline()
    {
        var (scenario, issued) = await IssuedAsync(infrastructure);
        await using var _ = scenario;
        scenario.Time.Advance(TimeSpan.FromHours(7));
        (await scenario.Sweeper().SweepAsync(CancellationToken.None)).ShouldBe(1);
        var expired = (await scenario.SentAsync<SyncInstructionExpired>()).Single().Message;
        expired.ExpiredAt.ShouldBe(issued.ExpiresAt);
        expired.Reason.ShouldStartWith("expired: expiresAt ");
    }

    private static WitnessStateSampler Sampler(GroupSagaScenario scenario) => new(
        scenario.Provider.GetRequiredService<IServiceScopeFactory>(),
        new WitnessMetrics(new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()),
        Microsoft.Extensions.Options.Options.Create(new ObservabilityOptions()),
        new StaticOptionsMonitor<WitnessOptions>(scenario.Options),
        scenario.Time,
        NullLogger<WitnessStateSampler>.Instance);
}

/// <summary>The witness as deployed on the real broker and PostgreSQL: progress reaches <c>instruction-progress</c>, a stalled attempt is expired as hung and issued again.</summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class When_a_running_witness_sees_a_transfer_stall(InfrastructureFixture infrastructure)
{
    [Fact]
    public async Task Should_record_progress_through_its_own_queue_and_expire_the_stalled_attempt_as_hung()
    {
        // zfssync_witness_instructions_total{event="hung"}, as the witness's meter reports it.
        long hungEvents = 0;
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == WitnessMetrics.MeterName && instrument.Name == "zfssync.witness.instructions")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "event" && Equals(tag.Value, "hung"))
                {
                    Interlocked.Add(ref hungEvents, value);
                }
            }
        });
        listener.Start();

        await using var world = await WitnessWorld.CreateAsync(infrastructure, ["nas1", "backup1"]);
        await world.StartWitnessAsync(new Dictionary<string, string?>
        {
            ["SyncGroups:0:HangAfter"] = "00:00:03",
            ["Planner:RetryBackoff"] = "00:00:00",
        });
        await world.HeartbeatsAsync();
        await world.Bus.Publish(world.SourceReport(2));
        await world.Bus.Publish(WitnessWorld.TargetReport("backup1", 0));
        await world.UntilReceivedAsync<SyncInstructionIssued>(l => l.Count == 1, "attempt 1");
        var issued = world.Received.Of<SyncInstructionIssued>().Single();

        // The executor stand-in starts and reports a count that never grows.
        await world.Bus.Publish(new SyncInstructionStarted
        {
            InstructionId = issued.InstructionId,
            Attempt = 1,
            SyncGroup = issued.SyncGroup,
            ExecutedBy = "backup1/backup1",
            StartedAt = DateTimeOffset.UtcNow,
        });
        await world.Bus.Publish(new SyncInstructionProgressed
        {
            InstructionId = issued.InstructionId,
            Attempt = 1,
            SyncGroup = issued.SyncGroup,
            ExecutedBy = "backup1/backup1",
            BytesTransferred = 65536,
            ReportedAt = DateTimeOffset.UtcNow,
        });
        await Poll.UntilAsync(async () => (await world.AttemptsAsync()).Any(a => a.Attempt == 1 && a.ProgressBytes == 65536 && a.StartedAt != null),
            "the progress recorded on attempt 1", TimeSpan.FromSeconds(60));

        await world.UntilReceivedAsync<SyncInstructionExpired>(l => l.Any(e => e.Attempt == 1), "the hung expiry of attempt 1");
        var expired = world.Received.Of<SyncInstructionExpired>().Single(e => e.Attempt == 1);
        expired.Reason.ShouldStartWith("hung: no bytes for 00:00:03");
        expired.ExpiredAt.ShouldBeLessThan(issued.ExpiresAt);
        await world.UntilReceivedAsync<SyncInstructionIssued>(l => l.Any(i => i.Attempt == 2), "attempt 2");
        world.Received.Of<SyncInstructionIssued>().Single(i => i.Attempt == 2).InstructionId.ShouldBe(issued.InstructionId);
        var first = (await world.AttemptsAsync()).Single(a => a.Attempt == 1);
        first.Outcome.ShouldBe(InstructionOutcomes.Expired);
        first.Error.ShouldNotBeNull().ShouldStartWith("hung:");
        await Poll.UntilAsync(() => Task.FromResult(Interlocked.Read(ref hungEvents) >= 1), "the hung event counted");
    }
}
