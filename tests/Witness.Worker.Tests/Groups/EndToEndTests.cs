using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Worker.Groups;
using ZfsSync.Witness.Worker.Persistence;
using ZfsSync.Witness.Worker.Tests.Support;

namespace ZfsSync.Witness.Worker.Tests.Groups;

/// <summary>The witness as deployed (AddWitness, configuration) on the real broker and PostgreSQL, driven as reporters, executors and operators drive it.</summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class When_three_hosts_report_to_a_running_witness(InfrastructureFixture infrastructure)
{
    [Fact]
    public async Task Should_publish_the_right_instructions_once_and_become_in_sync_when_the_targets_show_the_snapshots()
    {
        await using var world = await WitnessWorld.CreateAsync(infrastructure);
        await world.StartWitnessAsync();
        await world.HeartbeatsAsync();

        await world.Bus.Publish(world.SourceReport(2));
        await world.Bus.Publish(WitnessWorld.TargetReport("backup1", 0));
        await world.Bus.Publish(WitnessWorld.TargetReport("backup2", 0));

        await world.SettledAsync(SyncGroupStatus.OutOfSync, g => g.OutstandingInstructions == 2);
        await world.UntilReceivedAsync<SyncInstructionIssued>(l => l.Count >= 2, "two instructions");
        var instructions = world.Received.WithIds<SyncInstructionIssued>();
        instructions.Count.ShouldBe(2, "each instruction is published once");
        instructions.Select(i => i.Message.Target.HostId).Order().ShouldBe(["backup1", "backup2"]);
        instructions.ShouldAllBe(i => i.Message.Kind == InstructionKind.Full && i.Message.Attempt == 1 && i.Message.To.Guid == WitnessWorld.Snap(1, 0).Guid);
        instructions.ShouldAllBe(i => i.MessageId == MessageIds.InstructionIssued(i.Message.InstructionId, 1));
        (await world.AttemptsAsync()).Count.ShouldBe(2);

        // The executors ran them: the targets report the snapshots (the next full send carries the rest incrementally).
        await world.Bus.Publish(WitnessWorld.TargetReport("backup1", 2));
        await world.Bus.Publish(WitnessWorld.TargetReport("backup2", 2));
        await world.SettledAsync(SyncGroupStatus.InSync);
        await world.UntilReceivedAsync<SyncGroupStatusChanged>(l => l.Any(s => s.Status == SyncGroupStatus.InSync), "the in-sync status");
        world.Received.Of<SyncInstructionIssued>().Count.ShouldBe(2, "nothing more to do");

        var status = (await world.Client.Services.GetRequiredService<IRequestClient<GetSyncGroupStatus>>()
            .GetResponse<SyncGroupStatusReport>(new GetSyncGroupStatus { SyncGroup = WitnessWorld.Group })).Message;
        var group = status.Groups.ShouldHaveSingleItem();
        group.Status.ShouldBe(SyncGroupStatus.InSync);
        group.Datasets.Count.ShouldBe(2);
        group.Datasets.ShouldAllBe(d => d.Status == DatasetSyncStatus.InSync && d.LagSnapshots == 0);
    }

    [Fact]
    public async Task Should_raise_a_conflict_for_a_diverged_target_and_act_only_on_an_accepted_resolution()
    {
        await using var world = await WitnessWorld.CreateAsync(infrastructure, ["nas1", "backup1"]);
        await world.StartWitnessAsync();
        await world.HeartbeatsAsync();

        await world.Bus.Publish(world.SourceReport(2));
        await world.Bus.Publish(WitnessWorld.TargetReport("backup1", 1, extra: Reports.Snapshot("local", 77_777, 6000)));
        await world.SettledAsync(SyncGroupStatus.Conflicted);
        await world.UntilReceivedAsync<SyncConflictDetected>(l => l.Count == 1, "the conflict");
        var conflict = world.Received.Of<SyncConflictDetected>().Single();
        conflict.Kind.ShouldBe(ConflictKind.Diverged);
        conflict.TargetHostId.ShouldBe("backup1");
        world.Received.Of<SyncInstructionIssued>().ShouldBeEmpty();

        var client = world.Client.Services.GetRequiredService<IRequestClient<ResolveSyncConflict>>();
        var bad = await client.GetResponse<SyncConflictResolutionAccepted, SyncConflictResolutionRejected>(
            new ResolveSyncConflict { ConflictId = conflict.ConflictId, SyncGroup = WitnessWorld.Group, Resolution = "reseed", RequestedBy = "ops" });
        bad.Is(out Response<SyncConflictResolutionRejected>? rejected).ShouldBeTrue();
        rejected!.Message.Reason.ShouldStartWith("resolution not allowed");
        rejected.Message.Reason.ShouldContain("rollback-target");

        // The same from a shell, as raw JSON through the management API: the answer is published.
        await world.PublishRawAsync<ResolveSyncConflict>(
            $$"""{"conflictId":"{{conflict.ConflictId}}","syncGroup":"{{WitnessWorld.Group}}","resolution":"format-disk","requestedBy":"shell"}""");
        await world.UntilReceivedAsync<SyncConflictResolutionRejected>(l => l.Count == 1, "the published rejection");
        world.Received.Of<SyncConflictResolutionRejected>().Single().Reason.ShouldStartWith("resolution not allowed");

        var good = await client.GetResponse<SyncConflictResolutionAccepted, SyncConflictResolutionRejected>(
            new ResolveSyncConflict { ConflictId = conflict.ConflictId, SyncGroup = WitnessWorld.Group, Resolution = "rollback-target", RequestedBy = "ops" });
        good.Is(out Response<SyncConflictResolutionAccepted>? accepted).ShouldBeTrue();
        accepted!.Message.Resolution.ShouldBe(ConflictResolution.RollbackTarget);

        await world.UntilReceivedAsync<SyncInstructionIssued>(l => l.Count == 1, "the rollback instruction");
        var instruction = world.Received.Of<SyncInstructionIssued>().Single();
        instruction.Kind.ShouldBe(InstructionKind.RollbackAndIncremental);
        instruction.Resolution.ShouldBe(ConflictResolution.RollbackTarget);
        await world.UntilReceivedAsync<SyncConflictResolved>(l => l.Count == 1, "the resolution announcement");
        await world.SettledAsync(SyncGroupStatus.OutOfSync);

        // An executor without .NET reports the outcome as raw JSON: recorded on the attempt, and nothing else.
        await world.PublishRawAsync<SyncInstructionFailed>(
            $$"""{"instructionId":"{{instruction.InstructionId}}","attempt":1,"syncGroup":"{{WitnessWorld.Group}}","executedBy":"sh","failedAt":"2026-11-25T12:00:00Z","exitCode":1,"error":"boom"}""");
        await Poll.UntilAsync(async () => (await world.AttemptsAsync()).Any(a => a.Outcome == InstructionOutcomes.Failed), "the failure to be recorded");
        await world.SettledAsync(SyncGroupStatus.OutOfSync);
        world.Received.Of<SyncConflictResolutionRejected>().Count.ShouldBe(1, "the outcome was not mistaken for a resolution request");
    }

    [Fact]
    public async Task Should_log_an_outcome_for_an_unknown_group_and_answer_a_malformed_resolution_request()
    {
        await using var world = await WitnessWorld.CreateAsync(infrastructure, ["nas1", "backup1"]);
        var logs = new LogCapture();
        await world.StartWitnessAsync(logs: logs);
        var instructionId = Guid.NewGuid();

        await world.Bus.Publish(new SyncInstructionCompleted { InstructionId = instructionId, Attempt = 2, SyncGroup = "ghost", ExecutedBy = "sh", CompletedAt = DateTimeOffset.UtcNow });
        await Poll.UntilAsync(
            () => Task.FromResult(logs.Contains(LogLevel.Warning, $"Dropped the outcome of instruction {instructionId} attempt 2 (SyncInstructionCompleted): there is no sync group \"ghost\"")),
            "the log line of the dropped outcome");

        // A shell's request with a conflict id that is no uuid: answered at its reply address, logged, kept in _error.
        var urn = "urn:message:ZfsSync.Contracts:ResolveSyncConflict";
        var requestId = Guid.NewGuid();
        var routed = await world.Vhost.PublishViaManagementApiAsync(
            "ZfsSync.Contracts:ResolveSyncConflict",
            $$"""{"conflictId":"not-a-uuid","syncGroup":"{{WitnessWorld.Group}}","resolution":"reseed","requestedBy":"shell"}""",
            new Dictionary<string, object>
            {
                ["content_type"] = "application/json",
                ["type"] = urn,
                ["headers"] = new Dictionary<string, object>
                {
                    ["MT-MessageType"] = urn,
                    ["MT-Response-Address"] = "queue:RecordingSubscriber",
                    ["MT-Request-Id"] = requestId.ToString(),
                },
            });
        routed.ShouldBeTrue();

        await world.UntilReceivedAsync<SyncConflictResolutionRejected>(l => l.Count == 1, "the rejection of the malformed request");
        var rejected = world.Received.Of<SyncConflictResolutionRejected>().Single();
        rejected.SyncGroup.ShouldBe(WitnessWorld.Group);
        rejected.Resolution.ShouldBe("reseed");
        rejected.Reason.ShouldStartWith("the message could not be read");
        logs.Contains(LogLevel.Warning, "Rejected a malformed ResolveSyncConflict").ShouldBeTrue();
        await Poll.UntilAsync(async () => await world.Vhost.QueueMessageCountAsync("sync-group-state_error") == 1, "the malformed request in the error queue");
    }

    [Fact]
    public async Task Should_issue_an_expired_instruction_again_as_attempt_two()
    {
        await using var world = await WitnessWorld.CreateAsync(infrastructure, ["nas1", "backup1"]);
        await world.StartWitnessAsync(new Dictionary<string, string?>
        {
            ["SyncGroups:0:InstructionTtl"] = "00:00:02",
            ["Planner:RetryBackoff"] = "00:00:00",
        });
        await world.HeartbeatsAsync();

        await world.Bus.Publish(world.SourceReport(2));
        await world.Bus.Publish(WitnessWorld.TargetReport("backup1", 0));

        await world.UntilReceivedAsync<SyncInstructionIssued>(l => l.Any(i => i.Attempt == 2), "attempt 2");
        await world.UntilReceivedAsync<SyncInstructionExpired>(l => l.Any(e => e.Attempt == 1), "the expiry of attempt 1");
        var issued = world.Received.Of<SyncInstructionIssued>();
        issued.Select(i => i.InstructionId).Distinct().ShouldHaveSingleItem("the same decision, attempt after attempt");
        issued.Where(i => i.Attempt == 1).ShouldHaveSingleItem();
        var expired = world.Received.Of<SyncInstructionExpired>().First(e => e.Attempt == 1);
        expired.InstructionId.ShouldBe(issued[0].InstructionId);
        expired.SyncGroup.ShouldBe(WitnessWorld.Group);
    }
}

[Collection(InfrastructureFixture.Collection)]
public sealed class When_a_witness_dies_or_runs_twice(InfrastructureFixture infrastructure)
{
    [Fact]
    public async Task Should_lose_nothing_when_killed_between_commit_and_publish()
    {
        await using var world = await WitnessWorld.CreateAsync(infrastructure, ["nas1", "backup1", "backup2"]);

        // Process A commits everything but never publishes (its dispatcher is off: it "dies" right after each commit).
        // The test relays A's internal messages to it, as A's own dispatcher would have before dying.
        var a = await world.StartWitnessAsync(new Dictionary<string, string?> { ["Outbox:RunDispatcher"] = "false" });
        var relayed = new HashSet<long>();
        async Task RelayInternalAsync()
        {
            foreach (var row in (await world.OutboxAsync()).Where(r => r.DispatchedAt == null && relayed.Add(r.SequenceNumber)))
            {
                if (row.MessageType.StartsWith(typeof(SyncGroupConfigured).FullName + ",", StringComparison.Ordinal))
                {
                    await world.Bus.Publish(WitnessWorld.Body<SyncGroupConfigured>(row), c => c.MessageId = row.MessageId);
                }
                else if (row.MessageType.StartsWith(typeof(GroupInventoryChanged).FullName + ",", StringComparison.Ordinal))
                {
                    await world.Bus.Publish(WitnessWorld.Body<GroupInventoryChanged>(row), c => c.MessageId = row.MessageId);
                }
                else if (row.MessageType.StartsWith(typeof(HostStatusChanged).FullName + ",", StringComparison.Ordinal))
                {
                    await world.Bus.Publish(WitnessWorld.Body<HostStatusChanged>(row), c => c.MessageId = row.MessageId);
                }
            }
        }

        foreach (var member in world.Members)
        {
            await world.Bus.Publish(new Heartbeat { HostId = member, SentAt = DateTimeOffset.UtcNow, IntervalSeconds = 3600, Os = "linux" });
        }

        await world.Bus.Publish(world.SourceReport(2));
        await world.Bus.Publish(WitnessWorld.TargetReport("backup1", 0));
        await world.Bus.Publish(WitnessWorld.TargetReport("backup2", 0));
        await Poll.UntilAsync(
            async () =>
            {
                await RelayInternalAsync();
                return (await world.AttemptsAsync()).Count == 2;
            },
            "process A to commit both instructions",
            TimeSpan.FromSeconds(60));
        var committed = (await world.OutboxAsync()).Where(r => r.MessageType.StartsWith(typeof(SyncInstructionIssued).FullName + ",", StringComparison.Ordinal)).ToList();
        committed.Count.ShouldBe(4, "each instruction published for observers and sent to its executing host's exchange");
        committed.Where(r => r.DestinationAddress is not null).Select(r => r.DestinationAddress).Order()
            .ShouldBe(["exchange:instructions.backup1?type=fanout&durable=true&autodelete=false", "exchange:instructions.backup2?type=fanout&durable=true&autodelete=false"]);
        committed = [.. committed.Where(r => r.DestinationAddress is null)];
        committed.ShouldAllBe(r => r.DispatchedAt == null);
        await world.StopWitnessAsync(a);
        world.Received.Of<SyncInstructionIssued>().ShouldBeEmpty("A published nothing");

        // Process B starts on the same database and queues: what A committed goes out, once.
        await world.StartWitnessAsync();
        await world.SettledAsync(SyncGroupStatus.OutOfSync, g => g.OutstandingInstructions == 2);
        await world.UntilReceivedAsync<SyncInstructionIssued>(l => l.Count >= 2, "A's instructions, published by B");
        var received = world.Received.WithIds<SyncInstructionIssued>();
        received.Count.ShouldBe(2);
        received.Select(r => r.MessageId).Order().ShouldBe(committed.Select(r => (Guid?)r.MessageId).Order());
        (await world.AttemptsAsync()).Count.ShouldBe(2, "B's planning rounds found them outstanding");
    }

    [Fact]
    public async Task Should_remove_a_group_that_a_newer_configuration_no_longer_declares()
    {
        await using var world = await WitnessWorld.CreateAsync(infrastructure, ["nas1", "backup1"]);
        var first = await world.StartWitnessAsync();
        await Poll.UntilAsync(async () => await world.GroupAsync() is not null, "the configured group's saga");
        await world.StopWitnessAsync(first);

        // The group was renamed in the configuration a later process loads.
        await world.StartWitnessAsync(new Dictionary<string, string?> { ["SyncGroups:0:Name"] = "renamed" });
        await Poll.UntilAsync(async () => await world.GroupAsync() is null, "the removed group's saga to be finalized");
        await using var db = world.CreateContext();
        await Poll.UntilAsync(
            async () => await db.Set<StateMachines.SyncGroupState>().AsNoTracking().AnyAsync(s => s.Name == "renamed"),
            "the renamed group's saga");
        (await db.Set<GroupDefinitionRecord>().AsNoTracking().Select(d => d.SyncGroup).ToListAsync()).ShouldBe(["renamed"]);
    }

    [Fact]
    public async Task Should_issue_every_instruction_exactly_once_when_two_replicas_share_a_burst()
    {
        const int datasets = 5;
        await using var world = await WitnessWorld.CreateAsync(infrastructure, ["nas1", "backup1", "backup2"], datasets);
        var (first, second) = (new ConsumedCounter(), new ConsumedCounter());
        await world.StartWitnessAsync(counter: first);
        await world.StartWitnessAsync(counter: second);
        await world.HeartbeatsAsync();

        await world.Bus.Publish(WitnessWorld.TargetReport("backup1", 0));
        await world.Bus.Publish(WitnessWorld.TargetReport("backup2", 0));
        var reports = Enumerable.Range(1, 12).Select(world.SourceReport).ToList();
        await Task.WhenAll(reports.Select(r => world.Bus.Publish(r)));
        await Task.WhenAll(reports.Select(r => world.Bus.Publish(r))); // every report delivered twice

        // Initial: oldest → one full send of snapshot 1 per dataset and target, whatever order the reports were seen in.
        const int expected = datasets * 2;
        await world.SettledAsync(SyncGroupStatus.OutOfSync, g => g.OutstandingInstructions == expected, "every instruction committed and published");
        await world.UntilReceivedAsync<SyncInstructionIssued>(l => l.Count >= expected, $"{expected} instructions");
        var received = world.Received.WithIds<SyncInstructionIssued>();
        received.Count.ShouldBe(expected, "no duplicate");
        received.Select(r => (r.Message.Dataset, r.Message.Target.HostId)).Distinct().Count().ShouldBe(expected, "no lost instruction");
        received.ShouldAllBe(r => r.Message.Attempt == 1 && r.Message.Kind == InstructionKind.Full);
        received.Select(r => r.MessageId).Distinct().Count().ShouldBe(expected);
        (await world.AttemptsAsync()).Count.ShouldBe(expected);
        first.Of<SnapshotInventoryReported>().ShouldBeGreaterThan(0, "both replicas took reports");
        second.Of<SnapshotInventoryReported>().ShouldBeGreaterThan(0, "both replicas took reports");
    }
}
