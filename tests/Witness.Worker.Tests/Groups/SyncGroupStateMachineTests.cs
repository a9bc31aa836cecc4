using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Core.Planning;
using ZfsSync.Witness.Worker.Groups;
using ZfsSync.Witness.Worker.Persistence;
using ZfsSync.Witness.Worker.Tests.Support;
using static ZfsSync.Witness.Worker.Tests.Groups.GroupSagaScenario;

namespace ZfsSync.Witness.Worker.Tests.Groups;

[Collection(InfrastructureFixture.Collection)]
public sealed class When_a_group_is_configured_and_its_members_report(InfrastructureFixture infrastructure)
{
    [Fact]
    public async Task Should_wait_until_every_member_has_reported()
    {
        await using var scenario = await StartAsync(infrastructure);
        await scenario.ConfigureAsync();
        var state = await scenario.StateAsync(m => m.Waiting);
        state.Name.ShouldBe(Group);
        state.DefinitionHash.ShouldNotBeNullOrEmpty();

        await scenario.ReportAsync("nas1", Source(S1, S2));
        await scenario.StateAsync(m => m.Waiting);
        (await scenario.SentAsync<SyncInstructionIssued>()).ShouldBeEmpty();
        var status = (await scenario.SentAsync<SyncGroupStatusChanged>()).ShouldHaveSingleItem().Message;
        status.Status.ShouldBe(SyncGroupStatus.Waiting);
        status.PreviousStatus.ShouldBeNull();
        status.Degraded.ShouldBeTrue("backup1 has not been seen");
    }

    [Theory]
    [InlineData("postgresql")]
    [InlineData("sqlite")]
    public async Task Should_issue_a_full_send_once_and_go_out_of_sync(string provider)
    {
        await using var scenario = await StartAsync(infrastructure, provider: provider);
        await scenario.ConfigureAsync();
        await scenario.ReportAsync("nas1", Source(S1, S2));
        var changes = await scenario.ReportAsync("backup1", EmptyTarget());

        var state = await scenario.StateAsync(m => m.OutOfSync);
        state.OutstandingInstructions.ShouldBe(1);
        var (messageId, instruction) = (await scenario.SentAsync<SyncInstructionIssued>()).ShouldHaveSingleItem();
        instruction.Kind.ShouldBe(InstructionKind.Full);
        instruction.Attempt.ShouldBe(1);
        instruction.Target.HostId.ShouldBe("backup1");
        messageId.ShouldBe(MessageIds.InstructionIssued(instruction.InstructionId, 1));
        (await scenario.AttemptsAsync()).ShouldHaveSingleItem().Outcome.ShouldBeNull();

        // The same notification redelivered, and another planning trigger: nothing is sent twice.
        await scenario.DeliverAsync(changes[0]);
        await scenario.DeliverAsync(new GroupHostStatusChanged { SyncGroup = Group, HostId = "backup1", Status = HostStatus.Online });
        (await scenario.SentAsync<SyncInstructionIssued>()).Count.ShouldBe(1);
        (await scenario.AttemptsAsync()).Count.ShouldBe(1);
        (await scenario.SentAsync<SyncGroupStatusChanged>()).Select(s => (s.Message.Status, s.Message.Degraded))
            .ShouldBe([(SyncGroupStatus.Waiting, true), (SyncGroupStatus.OutOfSync, false)], "waiting (degraded: backup1 was never seen), then out of sync");
    }

    [Fact]
    public async Task Should_be_in_sync_once_the_target_reports_the_snapshots_and_out_of_sync_when_the_source_moves_on()
    {
        await using var scenario = await StartAsync(infrastructure);
        await scenario.ConfigureAsync();
        await scenario.ReportAsync("nas1", Source(S1, S2));
        await scenario.ReportAsync("backup1", EmptyTarget());
        var instruction = (await scenario.SentAsync<SyncInstructionIssued>()).Single().Message;
        await scenario.DeliverAsync(new SyncInstructionCompleted
        {
            InstructionId = instruction.InstructionId,
            Attempt = 1,
            SyncGroup = Group,
            ExecutedBy = "cron@backup1",
            CompletedAt = scenario.Time.GetUtcNow(),
        });
        (await scenario.AttemptsAsync()).Single().Outcome.ShouldBe(InstructionOutcomes.Completed);
        await scenario.StateAsync(m => m.OutOfSync); // completed, but not yet shown by the target's inventory

        scenario.Time.Advance(TimeSpan.FromMinutes(1));
        await scenario.ReportAsync("backup1", Target(S1, S2));
        var state = await scenario.StateAsync(m => m.InSync);
        state.DatasetsInSync.ShouldBe(1);
        state.DatasetsTotal.ShouldBe(1);
        state.Degraded.ShouldBeFalse();

        scenario.Time.Advance(TimeSpan.FromMinutes(1));
        await scenario.ReportAsync("nas1", Source(S1, S2, S3));
        await scenario.StateAsync(m => m.OutOfSync);
        var incremental = (await scenario.SentAsync<SyncInstructionIssued>()).Last().Message;
        incremental.Kind.ShouldBe(InstructionKind.Incremental);
        incremental.From!.Guid.ShouldBe(S2.Guid);
        (await scenario.SentAsync<SyncGroupStatusChanged>()).Select(s => s.Message.Status)
            .ShouldBe([SyncGroupStatus.Waiting, SyncGroupStatus.OutOfSync, SyncGroupStatus.InSync, SyncGroupStatus.OutOfSync]);
    }

    [Fact]
    public async Task Should_flag_the_group_degraded_when_a_member_goes_offline()
    {
        await using var scenario = await StartAsync(infrastructure);
        await scenario.ConfigureAsync();
        await scenario.ReportAsync("nas1", Source(S1, S2));
        await scenario.ReportAsync("backup1", Target(S1, S2));
        (await scenario.StateAsync(m => m.InSync)).Degraded.ShouldBeFalse();

        await scenario.SetHostStatusAsync("backup1", HostStatus.Offline);
        await scenario.DeliverAsync(new GroupHostStatusChanged { SyncGroup = Group, HostId = "backup1", Status = HostStatus.Offline });
        var state = await scenario.StateAsync(m => m.InSync);
        state.Degraded.ShouldBeTrue();
        var last = (await scenario.SentAsync<SyncGroupStatusChanged>()).Last().Message;
        last.Degraded.ShouldBeTrue();
        last.Status.ShouldBe(SyncGroupStatus.InSync);
    }

    [Fact]
    public async Task Should_route_a_host_status_change_to_the_groups_of_that_host()
    {
        await using var scenario = await StartAsync(infrastructure);
        await scenario.ConfigureAsync();
        await scenario.ReportAsync("nas1", Source(S1, S2));
        await scenario.ReportAsync("backup1", Target(S1, S2));
        (await scenario.StateAsync(m => m.InSync)).Degraded.ShouldBeFalse();

        await scenario.SetHostStatusAsync("backup1", HostStatus.Late);
        await scenario.Harness.Bus.Publish(new HostStatusChanged { HostId = "backup1", Status = HostStatus.Late, PreviousStatus = HostStatus.Online });

        (await scenario.Harness.Published.Any<GroupHostStatusChanged>(m => m.Context.Message.SyncGroup == Group && m.Context.Message.HostId == "backup1"))
            .ShouldBeTrue();
        await Poll.UntilAsync(async () => (await scenario.StateAsync(m => m.InSync)).Degraded, "the group to be flagged degraded");
    }
}

[Collection(InfrastructureFixture.Collection)]
public sealed class When_the_target_has_diverged(InfrastructureFixture infrastructure)
{
    private static readonly SnapshotInfo TargetOnly = Reports.Snapshot("local-9", 9009, 5109);

    private static async Task<(GroupSagaScenario Scenario, SyncConflictDetected Conflict)> DivergedAsync(InfrastructureFixture infrastructure)
    {
        var scenario = await StartAsync(infrastructure);
        await scenario.ConfigureAsync();
        await scenario.ReportAsync("nas1", Source(S1, S2));
        await scenario.ReportAsync("backup1", [Reports.Dataset("backup"), Reports.Dataset("backup/data", Reports.Snapshot("auto-1", S1.Guid, 5101), TargetOnly)]);
        await scenario.StateAsync(m => m.Conflicted);
        var conflict = (await scenario.SentAsync<SyncConflictDetected>()).ShouldHaveSingleItem().Message;
        return (scenario, conflict);
    }

    [Fact]
    public async Task Should_raise_a_diverged_conflict_and_issue_nothing()
    {
        var (scenario, conflict) = await DivergedAsync(infrastructure);
        await using var _ = scenario;
        conflict.Kind.ShouldBe(ConflictKind.Diverged);
        conflict.AllowedResolutions.ShouldContain(ConflictResolution.RollbackTarget);
        (await scenario.SentAsync<SyncInstructionIssued>()).ShouldBeEmpty();
        (await scenario.ConflictsAsync()).ShouldHaveSingleItem().ClearedAt.ShouldBeNull();
        (await scenario.StateAsync(m => m.Conflicted)).OpenConflicts.ShouldBe(1);
    }

    [Fact]
    public async Task Should_accept_rollback_target_and_issue_a_rollback_and_incremental_instruction()
    {
        var (scenario, conflict) = await DivergedAsync(infrastructure);
        await using var _ = scenario;
        var response = await scenario.ResolveAsync(conflict.ConflictId, "rollback-target");

        response.Is(out Response<SyncConflictResolutionAccepted>? accepted).ShouldBeTrue();
        accepted!.Message.Resolution.ShouldBe(ConflictResolution.RollbackTarget);
        await scenario.StateAsync(m => m.OutOfSync);
        var instruction = (await scenario.SentAsync<SyncInstructionIssued>()).ShouldHaveSingleItem().Message;
        instruction.Kind.ShouldBe(InstructionKind.RollbackAndIncremental);
        instruction.Resolution.ShouldBe(ConflictResolution.RollbackTarget);
        var resolved = (await scenario.SentAsync<SyncConflictResolved>()).ShouldHaveSingleItem().Message;
        resolved.ConflictId.ShouldBe(conflict.ConflictId);
        resolved.ResolvedBy.ShouldBe("operator");

        // Asking again for the same resolution (a lost reply) is accepted again and changes nothing.
        (await scenario.ResolveAsync(conflict.ConflictId, "rollback-target")).Is(out Response<SyncConflictResolutionAccepted>? _).ShouldBeTrue();
        (await scenario.SentAsync<SyncConflictResolved>()).Count.ShouldBe(1);
        (await scenario.SentAsync<SyncInstructionIssued>()).Count.ShouldBe(1);
    }

    [Fact]
    public async Task Should_go_from_in_sync_to_conflicted_and_back_when_the_evidence_goes_away()
    {
        await using var scenario = await StartAsync(infrastructure);
        await scenario.ConfigureAsync();
        await scenario.ReportAsync("nas1", Source(S1, S2));
        await scenario.ReportAsync("backup1", Target(S1, S2));
        await scenario.StateAsync(m => m.InSync);

        scenario.Time.Advance(TimeSpan.FromMinutes(1));
        await scenario.ReportAsync("backup1", [Reports.Dataset("backup"), Reports.Dataset("backup/data", [.. Target(S1, S2)[1].Snapshots, TargetOnly])]);
        await scenario.StateAsync(m => m.Conflicted);
        (await scenario.SentAsync<SyncConflictDetected>()).ShouldHaveSingleItem();

        // Someone removed the local snapshot by hand: the conflict is no longer detected, and nothing was sent for it.
        scenario.Time.Advance(TimeSpan.FromMinutes(1));
        await scenario.ReportAsync("backup1", Target(S1, S2));
        (await scenario.StateAsync(m => m.InSync)).OpenConflicts.ShouldBe(0);
        (await scenario.ConflictsAsync()).ShouldHaveSingleItem().ClearedAt.ShouldNotBeNull();
        (await scenario.SentAsync<SyncInstructionIssued>()).ShouldBeEmpty();
        (await scenario.SentAsync<SyncGroupStatusChanged>()).Select(s => s.Message.Status)
            .ShouldBe([SyncGroupStatus.Waiting, SyncGroupStatus.InSync, SyncGroupStatus.Conflicted, SyncGroupStatus.InSync]);
    }

    [Theory]
    [InlineData("reseed", "resolution not allowed")]
    [InlineData("format-everything", "resolution not allowed")]
    [InlineData("unknown-conflict", "unknown conflict")]
    [InlineData("other-group", "unknown conflict")]
    [InlineData("already-resolved", "already resolved")]
    public async Task Should_reject_a_bad_resolution_with_its_reason_and_change_nothing(string request, string reason)
    {
        var (scenario, conflict) = await DivergedAsync(infrastructure);
        await using var _ = scenario;
        var (conflictId, resolution, group) = request switch
        {
            "unknown-conflict" => (Guid.NewGuid(), "ignore", Group),
            "other-group" => (conflict.ConflictId, "ignore", "no-such-group"),
            "already-resolved" => (conflict.ConflictId, "quarantine-target", Group),
            _ => (conflict.ConflictId, request, Group),
        };
        if (request == "already-resolved")
        {
            (await scenario.ResolveAsync(conflict.ConflictId, "ignore")).Is(out Response<SyncConflictResolutionAccepted>? _).ShouldBeTrue();
        }

        var instructionsBefore = (await scenario.SentAsync<SyncInstructionIssued>()).Count;
        var resolvedBefore = (await scenario.SentAsync<SyncConflictResolved>()).Count;
        var response = await scenario.ResolveAsync(conflictId, resolution, group);

        response.Is(out Response<SyncConflictResolutionRejected>? rejected).ShouldBeTrue();
        rejected!.Message.Reason.ShouldStartWith(reason);
        (await scenario.SentAsync<SyncInstructionIssued>()).Count.ShouldBe(instructionsBefore);
        (await scenario.SentAsync<SyncConflictResolved>()).Count.ShouldBe(resolvedBefore);
        var row = (await scenario.ConflictsAsync()).Single();
        row.Resolution.ShouldBe(request == "already-resolved" ? "ignore" : null);
    }
}

[Collection(InfrastructureFixture.Collection)]
public sealed class When_an_instruction_fails_or_expires(InfrastructureFixture infrastructure)
{
    private static async Task<(GroupSagaScenario Scenario, SyncInstructionIssued Instruction)> IssuedAsync(InfrastructureFixture infrastructure)
    {
        var scenario = await StartAsync(infrastructure, planner: new PlannerOptions { RetryBackoff = TimeSpan.FromMinutes(5), BackoffFactor = 3 });
        await scenario.ConfigureAsync();
        await scenario.ReportAsync("nas1", Source(S1, S2));
        await scenario.ReportAsync("backup1", EmptyTarget());
        scenario.Time.Advance(TimeSpan.FromMinutes(1)); // outcomes come after the inventories
        return (scenario, (await scenario.SentAsync<SyncInstructionIssued>()).Single().Message);
    }

    [Fact]
    public async Task Should_retry_with_back_off_and_block_after_three_failed_attempts()
    {
        var (scenario, first) = await IssuedAsync(infrastructure);
        await using var _ = scenario;
        var backoff = TimeSpan.FromMinutes(5);
        for (var attempt = 1; attempt <= 3; attempt++)
        {
            await scenario.DeliverAsync(new SyncInstructionFailed
            {
                InstructionId = first.InstructionId,
                Attempt = attempt,
                SyncGroup = Group,
                ExecutedBy = "cron",
                ExitCode = 1,
                Error = $"boom {attempt}",
                FailedAt = scenario.Time.GetUtcNow(),
            });
            (await scenario.SentAsync<SyncInstructionIssued>()).Count.ShouldBe(attempt, "no retry before the back-off has passed");
            scenario.Time.Advance(backoff);
            backoff *= 3;
            await scenario.DeliverAsync(new GroupHostStatusChanged { SyncGroup = Group, HostId = "nas1", Status = HostStatus.Online });
        }

        var sent = await scenario.SentAsync<SyncInstructionIssued>();
        sent.Select(s => s.Message.Attempt).ShouldBe([1, 2, 3], "attempt 4 is never issued");
        sent.Select(s => s.Message.InstructionId).Distinct().ShouldHaveSingleItem();
        var attempts = await scenario.AttemptsAsync();
        attempts.Select(a => a.Outcome).ShouldAllBe(o => o == InstructionOutcomes.Failed);
        attempts.Last().Error.ShouldBe("boom 3");
        await scenario.StateAsync(m => m.OutOfSync);
        var report = await scenario.RequestAsync<GetSyncGroupStatus, SyncGroupStatusReport>(new GetSyncGroupStatus { SyncGroup = Group });
        var dataset = report.Groups.ShouldHaveSingleItem().Datasets.ShouldHaveSingleItem();
        dataset.Status.ShouldBe(DatasetSyncStatus.Blocked);
        dataset.Detail.ShouldNotBeNull().ShouldContain("boom 3");
    }

    [Fact]
    public async Task Should_issue_attempt_two_after_the_sweeper_announces_the_expiry()
    {
        var (scenario, first) = await IssuedAsync(infrastructure);
        await using var _ = scenario;
        scenario.Time.Advance(TimeSpan.FromHours(6) + TimeSpan.FromMinutes(5));
        var sweeper = new InstructionExpirySweeper(
            scenario.Provider.GetRequiredService<IServiceScopeFactory>(),
            new StaticOptionsMonitor<ZfsSync.Witness.Worker.Hosting.WitnessOptions>(scenario.Options),
            scenario.Time,
            Microsoft.Extensions.Logging.Abstractions.NullLogger<InstructionExpirySweeper>.Instance);
        (await sweeper.SweepAsync(CancellationToken.None)).ShouldBe(1);
        (await sweeper.SweepAsync(CancellationToken.None)).ShouldBe(0, "an expiry is announced once");
        var (expiryId, expired) = (await scenario.SentAsync<SyncInstructionExpired>()).ShouldHaveSingleItem();
        expired.InstructionId.ShouldBe(first.InstructionId);
        expired.Attempt.ShouldBe(1);

        // The members keep reporting (unchanged: no planning round), so their inventories are not stale.
        (await scenario.ReportAsync("nas1", Source(S1, S2))).ShouldBeEmpty();
        (await scenario.ReportAsync("backup1", EmptyTarget())).ShouldBeEmpty();
        await scenario.DeliverAsync(expired, expiryId);
        var sent = await scenario.SentAsync<SyncInstructionIssued>();
        sent.Select(s => s.Message.Attempt).ShouldBe([1, 2]);
        sent[1].Message.InstructionId.ShouldBe(first.InstructionId);
        sent[1].Message.ExpiresAt.ShouldBe(scenario.Time.GetUtcNow() + TimeSpan.FromHours(6));
        (await scenario.AttemptsAsync()).Select(a => a.Outcome).ShouldBe([InstructionOutcomes.Expired, null]);

        var outstanding = await scenario.RequestAsync<GetOutstandingInstructions, OutstandingInstructions>(new GetOutstandingInstructions { HostId = "backup1" });
        outstanding.Instructions.ShouldHaveSingleItem().Attempt.ShouldBe(2);
    }
}

[Collection(InfrastructureFixture.Collection)]
public sealed class When_configurations_compete(InfrastructureFixture infrastructure)
{
    [Fact]
    public async Task Should_keep_the_newest_configuration_and_let_only_a_newer_one_remove_the_group()
    {
        await using var scenario = await StartAsync(infrastructure);
        var t0 = scenario.Time.GetUtcNow();
        var newest = await scenario.ConfigureAsync(t0);
        await scenario.StateAsync(m => m.Waiting);

        // An older process announces a different definition: ignored.
        var older = DefaultOptions();
        older.SyncGroups[0].InstructionTtl = TimeSpan.FromHours(1);
        var stale = await scenario.ConfigureAsync(t0.AddMinutes(-10), older);
        stale.DefinitionHash.ShouldNotBe(newest.DefinitionHash);
        (await scenario.StateAsync(m => m.Waiting)).DefinitionHash.ShouldBe(newest.DefinitionHash);

        // An older process that no longer declares the group cannot remove it…
        await scenario.DeliverAsync(new SyncGroupRemoved { SyncGroup = Group, LoadedAt = t0.AddMinutes(-5) });
        await scenario.StateAsync(m => m.Waiting);

        // …a newer one can.
        await scenario.DeliverAsync(new SyncGroupRemoved { SyncGroup = Group, LoadedAt = t0.AddMinutes(5) });
        (await scenario.Saga.NotExists(GroupId)).ShouldBeNull();
    }

    [Fact]
    public async Task Should_wait_again_when_a_newer_configuration_adds_a_member()
    {
        await using var scenario = await StartAsync(infrastructure);
        await scenario.ConfigureAsync();
        await scenario.ReportAsync("nas1", Source(S1, S2));
        await scenario.ReportAsync("backup1", Target(S1, S2));
        await scenario.StateAsync(m => m.InSync);

        var grown = DefaultOptions();
        grown.Hosts.Add(new ZfsSync.Witness.Worker.Hosting.ZfsHostOptions { Id = "backup2" });
        grown.SyncGroups[0].Members.Add("backup2");
        var newer = await scenario.ConfigureAsync(scenario.Time.GetUtcNow().AddMinutes(1), grown);

        var state = await scenario.StateAsync(m => m.Waiting);
        state.DefinitionHash.ShouldBe(newer.DefinitionHash);
        (await scenario.SentAsync<SyncGroupStatusChanged>()).Last().Message.PreviousStatus.ShouldBe(SyncGroupStatus.InSync);
    }

    [Fact]
    public async Task Should_answer_status_for_every_group()
    {
        await using var scenario = await StartAsync(infrastructure);
        await scenario.ConfigureAsync();
        await scenario.ReportAsync("nas1", Source(S1, S2));
        await scenario.ReportAsync("backup1", Target(S1));
        await scenario.StateAsync(m => m.OutOfSync);

        var report = await scenario.RequestAsync<GetSyncGroupStatus, SyncGroupStatusReport>(new GetSyncGroupStatus());
        var group = report.Groups.ShouldHaveSingleItem();
        group.Status.ShouldBe(SyncGroupStatus.OutOfSync);
        var dataset = group.Datasets.ShouldHaveSingleItem();
        dataset.TargetHostId.ShouldBe("backup1");
        dataset.NewestCommon!.Guid.ShouldBe(S1.Guid);
        dataset.LagSnapshots.ShouldBe(1);
        (await scenario.RequestAsync<GetSyncGroupStatus, SyncGroupStatusReport>(new GetSyncGroupStatus { SyncGroup = "nope" })).Groups.ShouldBeEmpty();
    }
}
