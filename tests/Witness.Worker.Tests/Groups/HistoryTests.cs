using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Worker.Consumers;
using ZfsSync.Witness.Worker.Groups;
using ZfsSync.Witness.Worker.Hosting;
using ZfsSync.Witness.Worker.Persistence;
using ZfsSync.Witness.Worker.Tests.Support;
using static ZfsSync.Witness.Worker.Tests.Groups.GroupSagaScenario;

namespace ZfsSync.Witness.Worker.Tests.Groups;

/// <summary>
/// A group's timeline (<see cref="GetSyncGroupHistory"/>): what the saga records with each change, the lag samples,
/// retention, and the paged, filtered answer — on the real databases, through the saga in the test harness.
/// </summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class When_a_group_keeps_a_history(InfrastructureFixture infrastructure)
{
    private static async Task<List<HistoryEntry>> HistoryAsync(GroupSagaScenario scenario, params HistoryEntryKind[] kinds)
    {
        var answer = await AskAsync(scenario, new GetSyncGroupHistory { SyncGroup = Group, Kinds = kinds.Length == 0 ? null : kinds, PageSize = Paging.MaxPageSize });
        answer.Is(out Response<SyncGroupHistory>? history).ShouldBeTrue("the witness answers with SyncGroupHistory");
        history!.Message.NextAfter.ShouldBeNull();
        return [.. history.Message.Entries];
    }

    private static Task<Response<SyncGroupHistory, QueryRejected>> AskAsync(GroupSagaScenario scenario, GetSyncGroupHistory request) =>
        scenario.Harness.GetRequestClient<GetSyncGroupHistory>().GetResponse<SyncGroupHistory, QueryRejected>(request);

    [Theory]
    [InlineData("postgresql")]
    [InlineData("sqlite")]
    public async Task Should_record_each_issued_attempt_its_outcome_and_each_status_change_with_the_change(string provider)
    {
        await using var scenario = await StartAsync(infrastructure, provider: provider);
        await scenario.ConfigureAsync();
        await scenario.ReportAsync("nas1", Source(S1, S2));
        var changes = await scenario.ReportAsync("backup1", EmptyTarget());
        var instruction = (await scenario.SentAsync<SyncInstructionIssued>()).Single().Message;
        await scenario.DeliverAsync(changes[0]); // redelivered: nothing new is issued, nothing new is recorded
        scenario.Time.Advance(TimeSpan.FromMinutes(1));
        await scenario.DeliverAsync(new SyncInstructionCompleted
        {
            InstructionId = instruction.InstructionId,
            Attempt = 1,
            SyncGroup = Group,
            ExecutedBy = "cron@backup1",
            CompletedAt = scenario.Time.GetUtcNow(),
            BytesTransferred = 4096,
        });

        var entries = await HistoryAsync(scenario, HistoryEntryKind.InstructionIssued, HistoryEntryKind.InstructionCompleted, HistoryEntryKind.StatusChanged);
        entries.Select(e => e.At).ShouldBeInOrder(SortDirection.Descending, "newest first");
        var issued = entries.Where(e => e.Kind == HistoryEntryKind.InstructionIssued).ShouldHaveSingleItem();
        issued.InstructionId.ShouldBe(instruction.InstructionId);
        issued.Attempt.ShouldBe(1);
        issued.InstructionKind.ShouldBe(InstructionKind.Full);
        issued.Dataset.ShouldBe("tank/data");
        issued.TargetHostId.ShouldBe("backup1");
        var completed = entries.Where(e => e.Kind == HistoryEntryKind.InstructionCompleted).ShouldHaveSingleItem();
        completed.InstructionId.ShouldBe(instruction.InstructionId);
        completed.Attempt.ShouldBe(1);
        completed.By.ShouldBeNull("the executor's validated broker user; the in-memory transport carries no AMQP user-id");
        completed.Detail.ShouldBe("full attempt 1 completed: 4096 bytes transferred");
        issued.Detail.ShouldBe("full attempt 1: nas1:tank/data -> backup1:backup/data, run by backup1");
        completed.At.ShouldBe(scenario.Time.GetUtcNow());
        entries[0].ShouldBe(completed);

        // One status entry per SyncGroupStatusChanged the saga committed, oldest last.
        var announced = (await scenario.SentAsync<SyncGroupStatusChanged>()).Select(s => s.Message.Status).ToList();
        announced.ShouldBe([SyncGroupStatus.Waiting, SyncGroupStatus.OutOfSync]);
        entries.Where(e => e.Kind == HistoryEntryKind.StatusChanged).Select(e => e.Status!.Value).Reverse().ShouldBe(announced);
        entries.Where(e => e.Kind == HistoryEntryKind.StatusChanged).ShouldAllBe(e => e.InstructionId == null && e.Dataset == null);
        // Waiting was degraded (the target had not reported yet); once both have, it no longer is.
        entries.First(e => e.Kind == HistoryEntryKind.StatusChanged).Detail.ShouldBe("out-of-sync, was waiting; no longer degraded");
    }

    [Fact]
    public async Task Should_record_a_failed_attempt_with_its_error_and_an_expired_one_with_the_reason()
    {
        await using var scenario = await StartAsync(infrastructure);
        await scenario.ConfigureAsync();
        await scenario.ReportAsync("nas1", Source(S1, S2));
        await scenario.ReportAsync("backup1", EmptyTarget());
        var first = (await scenario.SentAsync<SyncInstructionIssued>()).Single().Message;
        await scenario.DeliverAsync(new SyncInstructionFailed
        {
            InstructionId = first.InstructionId,
            Attempt = 1,
            SyncGroup = Group,
            ExecutedBy = "cron@backup1",
            ExitCode = 1,
            Error = "cannot receive: pool is busy",
            FailedAt = scenario.Time.GetUtcNow(),
        });
        scenario.Time.Advance(TimeSpan.FromMinutes(6)); // past the back-off
        (await scenario.NudgeAsync(TimeSpan.FromMinutes(5))).ShouldBeTrue();
        (await scenario.SentAsync<SyncInstructionIssued>()).Select(s => s.Message.Attempt).ShouldBe([1, 2]);
        scenario.Time.Advance(TimeSpan.FromHours(6) + TimeSpan.FromMinutes(1));
        (await scenario.ReportAsync("nas1", Source(S1, S2))).ShouldBeEmpty();
        (await scenario.ReportAsync("backup1", EmptyTarget())).ShouldBeEmpty();
        (await scenario.Sweeper().SweepAsync(CancellationToken.None)).ShouldBe(1);
        var (expiryId, expired) = (await scenario.SentAsync<SyncInstructionExpired>()).Single();
        await scenario.DeliverAsync(expired, expiryId);

        var entries = await HistoryAsync(scenario, HistoryEntryKind.InstructionIssued, HistoryEntryKind.InstructionFailed, HistoryEntryKind.InstructionExpired);
        entries.Select(e => (e.Kind, e.Attempt)).Reverse().ShouldBe(
        [
            (HistoryEntryKind.InstructionIssued, 1), (HistoryEntryKind.InstructionFailed, 1),
            (HistoryEntryKind.InstructionIssued, 2), (HistoryEntryKind.InstructionExpired, 2), (HistoryEntryKind.InstructionIssued, 3),
        ]);
        entries.ShouldAllBe(e => e.InstructionId == first.InstructionId && e.InstructionKind == InstructionKind.Full);
        entries.Single(e => e.Kind == HistoryEntryKind.InstructionFailed).Detail.ShouldBe("full attempt 1 failed: exit 1: cannot receive: pool is busy");
        entries.Single(e => e.Kind == HistoryEntryKind.InstructionExpired).Detail.ShouldBe($"full attempt 2 expired: {expired.Reason}");
    }

    [Fact]
    public async Task Should_record_a_conflict_when_detected_and_who_resolved_it()
    {
        await using var scenario = await StartAsync(infrastructure);
        await scenario.ConfigureAsync();
        await scenario.ReportAsync("nas1", Source(S1, S2));
        await scenario.ReportAsync("backup1", [Reports.Dataset("backup"), Reports.Dataset("backup/data", Reports.Snapshot("auto-1", S1.Guid, 5101), Reports.Snapshot("local-9", 9009, 5109))]);
        await scenario.StateAsync(m => m.Conflicted);
        var conflict = (await scenario.SentAsync<SyncConflictDetected>()).Single().Message;
        scenario.Time.Advance(TimeSpan.FromMinutes(3));
        (await scenario.ResolveAsync(conflict.ConflictId, "rollback-target")).Is(out Response<SyncConflictResolutionAccepted>? _).ShouldBeTrue();

        var entries = await HistoryAsync(scenario, HistoryEntryKind.ConflictDetected, HistoryEntryKind.ConflictResolved);
        entries.Select(e => e.Kind).ShouldBe([HistoryEntryKind.ConflictResolved, HistoryEntryKind.ConflictDetected]);
        var (resolved, detected) = (entries[0], entries[1]);
        detected.ConflictId.ShouldBe(conflict.ConflictId);
        detected.ConflictKind.ShouldBe(ConflictKind.Diverged);
        detected.Dataset.ShouldBe("tank/data");
        detected.TargetHostId.ShouldBe("backup1");
        detected.Detail.ShouldBe(conflict.Details);
        detected.By.ShouldBeNull();
        resolved.ConflictId.ShouldBe(conflict.ConflictId);
        resolved.Resolution.ShouldBe(ConflictResolution.RollbackTarget);
        resolved.By.ShouldBe(OperatorUser);
        resolved.Detail.ShouldBe("rollback-target by operator; requested by operator");
        (resolved.At - detected.At).ShouldBe(TimeSpan.FromMinutes(3));

        // The conflicted status, and the instruction the resolution led to, are on the timeline too.
        var all = await HistoryAsync(scenario);
        all.ShouldContain(e => e.Kind == HistoryEntryKind.StatusChanged && e.Status == SyncGroupStatus.Conflicted);
        all.ShouldContain(e => e.Kind == HistoryEntryKind.InstructionIssued && e.InstructionKind == InstructionKind.RollbackAndIncremental);
    }

    [Theory]
    [InlineData("postgresql")]
    [InlineData("sqlite")]
    public async Task Should_sample_each_dataset_and_target_at_most_once_per_interval_with_the_lag_the_status_shows(string provider)
    {
        var options = DefaultOptions();
        options.History.LagSampleInterval = TimeSpan.FromMinutes(10);
        await using var scenario = await StartAsync(infrastructure, options, provider: provider);
        await scenario.ConfigureAsync();
        await scenario.ReportAsync("nas1", Source(S1, S2, S3));
        await scenario.ReportAsync("backup1", Target(S1));
        var status = (await scenario.RequestAsync<GetSyncGroupStatus, SyncGroupStatusReport>(new GetSyncGroupStatus { SyncGroup = Group })).Groups.Single().Datasets.Single();
        status.LagSnapshots.ShouldBe(2);
        status.LagSeconds.ShouldBe((long)(S3.CreatedAt - S1.CreatedAt).TotalSeconds);

        var samples = await HistoryAsync(scenario, HistoryEntryKind.LagSample);
        var first = samples.ShouldHaveSingleItem("no sample while backup1 had not reported; then one");
        first.Dataset.ShouldBe("tank/data");
        first.TargetHostId.ShouldBe("backup1");
        first.LagSnapshots.ShouldBe(status.LagSnapshots);
        first.LagSeconds.ShouldBe(status.LagSeconds);

        async Task PlanAfterAsync(TimeSpan wait)
        {
            scenario.Time.Advance(wait);
            await scenario.DeliverAsync(new GroupHostStatusChanged { SyncGroup = Group, HostId = "backup1", Status = HostStatus.Online });
        }

        await PlanAfterAsync(TimeSpan.FromMinutes(9));
        (await HistoryAsync(scenario, HistoryEntryKind.LagSample)).Count.ShouldBe(1, "9 minutes after the sample: none");
        await PlanAfterAsync(TimeSpan.FromMinutes(1));
        (await HistoryAsync(scenario, HistoryEntryKind.LagSample)).Count.ShouldBe(2, "10 minutes after the sample: the next one");
        await PlanAfterAsync(TimeSpan.FromMinutes(5));
        var after = await HistoryAsync(scenario, HistoryEntryKind.LagSample);
        after.Count.ShouldBe(2, "5 minutes after the second: none");
        (after[0].At - after[1].At).ShouldBe(TimeSpan.FromMinutes(10));
    }

    [Fact]
    public async Task Should_sample_an_in_sync_target_as_no_lag_at_all()
    {
        await using var scenario = await StartAsync(infrastructure);
        await scenario.ConfigureAsync();
        await scenario.ReportAsync("nas1", Source(S1, S2));
        await scenario.ReportAsync("backup1", Target(S1, S2));
        await scenario.StateAsync(m => m.InSync);

        var sample = (await HistoryAsync(scenario, HistoryEntryKind.LagSample)).ShouldHaveSingleItem();
        (sample.LagSnapshots, sample.LagSeconds, sample.Detail).ShouldBe((0, 0L, "in-sync"));
    }

    [Fact]
    public async Task Should_not_compute_a_lag_from_a_snapshot_created_in_the_future()
    {
        await using var scenario = await StartAsync(infrastructure);
        await scenario.ConfigureAsync();
        var future = Reports.Snapshot("auto-9", 1009, 109) with { CreatedAt = scenario.Time.GetUtcNow().AddDays(2) };
        await scenario.ReportAsync("nas1", Source(S1, S2, future));
        await scenario.ReportAsync("backup1", Target(S1));

        var sample = (await HistoryAsync(scenario, HistoryEntryKind.LagSample)).ShouldHaveSingleItem();
        sample.LagSnapshots.ShouldBe(2);
        sample.LagSeconds.ShouldBeNull("the newest snapshot's creation time is two days ahead of the witness's clock");
    }

    [Theory]
    [InlineData("postgresql")]
    [InlineData("sqlite")]
    public async Task Should_delete_the_entries_older_than_the_retention_and_keep_the_newer(string provider)
    {
        await using var scenario = await StartAsync(infrastructure, provider: provider);
        await scenario.ConfigureAsync();
        var now = scenario.Time.GetUtcNow();
        await using (var db = scenario.Database.CreateContext())
        {
            db.AddRange(
                Row(Group, now - TimeSpan.FromDays(91), "old"),
                Row("another group", now - TimeSpan.FromDays(120), "old"),
                Row(Group, now - TimeSpan.FromDays(89), "kept"),
                Row(Group, now - TimeSpan.FromDays(90) + TimeSpan.FromSeconds(1), "kept"));
            await db.SaveChangesAsync();
        }

        var before = (await HistoryAsync(scenario)).Count;
        var sweeper = new HistorySweeper(
            scenario.Provider.GetRequiredService<IServiceScopeFactory>(), new StaticOptionsMonitor<WitnessOptions>(scenario.Options), scenario.Time, NullLogger<HistorySweeper>.Instance);
        (await sweeper.PruneAsync(CancellationToken.None)).ShouldBe(2);

        var entries = await HistoryAsync(scenario);
        entries.Count.ShouldBe(before - 1);
        entries.ShouldNotContain(e => e.Detail == "old");
        entries.Count(e => e.Detail == "kept").ShouldBe(2);
        entries.ShouldContain(e => e.Kind == HistoryEntryKind.StatusChanged, "the group's own recent entries stay");
        await using (var db = scenario.Database.CreateContext())
        {
            (await db.Set<HistoryRecord>().CountAsync(h => h.SyncGroup == "another group")).ShouldBe(0);
        }

        (await sweeper.PruneAsync(CancellationToken.None)).ShouldBe(0, "nothing left to delete");
    }

    [Theory]
    [InlineData("postgresql")]
    [InlineData("sqlite")]
    public async Task Should_page_newest_first_filter_by_kind_and_since_and_reject_a_foreign_token_or_an_unknown_group(string provider)
    {
        await using var scenario = await StartAsync(infrastructure, provider: provider);
        await scenario.ConfigureAsync(); // one status entry (waiting)
        var now = scenario.Time.GetUtcNow();
        await using (var db = scenario.Database.CreateContext())
        {
            // 1200 more, three to a second (ties are ordered by insertion), every third a lag sample.
            db.AddRange(Enumerable.Range(0, 1200).Select(i =>
                Row(Group, now - TimeSpan.FromSeconds(1 + (i / 3)), $"#{i}", i % 3 == 0 ? HistoryEntryKind.LagSample : HistoryEntryKind.InstructionIssued)));
            await db.SaveChangesAsync();
        }

        var pages = new List<SyncGroupHistory>();
        string? after = null;
        do
        {
            var answer = await AskAsync(scenario, new GetSyncGroupHistory { SyncGroup = Group, PageSize = 10_000, After = after });
            answer.Is(out Response<SyncGroupHistory>? page).ShouldBeTrue();
            pages.Add(page!.Message);
            after = page.Message.NextAfter;
        }
        while (after is not null);

        pages.Select(p => p.Entries.Count).ShouldBe([500, 500, 201], "a page is at most 500 entries");
        var entries = pages.SelectMany(p => p.Entries).ToList();
        entries[0].Kind.ShouldBe(HistoryEntryKind.StatusChanged, "the newest");
        entries.Skip(1).Select(e => e.Detail).ShouldBe(Enumerable.Range(0, 1200).Select(i => $"#{(3 * (i / 3)) + 2 - (i % 3)}").ToList(), "newest first, the later inserted first among equal times, none twice, none left out");

        var defaultPage = (await AskAsync(scenario, new GetSyncGroupHistory { SyncGroup = Group })).Is(out Response<SyncGroupHistory>? d) ? d!.Message : null;
        defaultPage!.Entries.Count.ShouldBe(Paging.DefaultPageSize);

        var samples = await HistoryAsync(scenario, HistoryEntryKind.LagSample);
        samples.Count.ShouldBe(400);
        samples.ShouldAllBe(e => e.Kind == HistoryEntryKind.LagSample);

        var since = (await AskAsync(scenario, new GetSyncGroupHistory { SyncGroup = Group, Since = now - TimeSpan.FromSeconds(10), PageSize = 500 })).Is(out Response<SyncGroupHistory>? s) ? s!.Message : null;
        since!.Entries.Count.ShouldBe(1 + 30, "the status entry and the 30 entries of the last 10 seconds");

        foreach (var bad in new[] { "garbage!", PageToken.Write("conflicts", "1", Guid.NewGuid().ToString()), PageToken.Write("history", "x", "1") })
        {
            var rejected = await AskAsync(scenario, new GetSyncGroupHistory { SyncGroup = Group, After = bad });
            rejected.Is(out Response<QueryRejected>? r).ShouldBeTrue($"token {bad}");
            r!.Message.Query.ShouldBe(nameof(GetSyncGroupHistory));
            r.Message.Reason.ShouldStartWith("invalid after token");
        }

        var unknown = await AskAsync(scenario, new GetSyncGroupHistory { SyncGroup = "no such group" });
        unknown.Is(out Response<QueryRejected>? u).ShouldBeTrue();
        u!.Message.Reason.ShouldBe("unknown sync group: the witness has no sync group \"no such group\"");
    }

    private static HistoryRecord Row(string group, DateTimeOffset at, string detail, HistoryEntryKind kind = HistoryEntryKind.InstructionIssued) => new()
    {
        SyncGroup = group,
        At = at,
        Kind = GroupHistory.Wire(kind),
        Dataset = "tank/data",
        TargetHostId = "backup1",
        LagSnapshots = kind == HistoryEntryKind.LagSample ? 1 : null,
        Detail = detail,
    };
}

/// <summary>A status-changed entry's detail reads on its own, also when only the degraded flag changed.</summary>
public sealed class When_a_status_change_is_described
{
    [Theory]
    [InlineData(SyncGroupStatus.OutOfSync, SyncGroupStatus.Waiting, false, false, "out-of-sync, was waiting")]
    [InlineData(SyncGroupStatus.Waiting, null, true, false, "waiting, was new; degraded (a member is late or offline)")]
    [InlineData(SyncGroupStatus.Conflicted, SyncGroupStatus.Conflicted, false, true, "conflicted; no longer degraded")]
    [InlineData(SyncGroupStatus.Conflicted, SyncGroupStatus.Conflicted, true, false, "conflicted; degraded (a member is late or offline)")]
    [InlineData(SyncGroupStatus.InSync, SyncGroupStatus.OutOfSync, false, true, "in-sync, was out-of-sync; no longer degraded")]
    public void Should_say_what_changed_and_never_that_a_status_was_itself(SyncGroupStatus status, SyncGroupStatus? previous, bool degraded, bool wasDegraded, string expected) =>
        GroupHistory.StatusDetail(status, previous, degraded, wasDegraded).ShouldBe(expected);
}
