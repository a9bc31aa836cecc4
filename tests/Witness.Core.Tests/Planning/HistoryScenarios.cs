using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Planning;
using ZfsSync.Witness.Core.Tests.Support;
using static ZfsSync.Witness.Core.Tests.Support.Scenario;

namespace ZfsSync.Witness.Core.Tests.Planning;

public class When_an_instruction_is_outstanding
{
    private static Scenario Behind() => new Scenario().Source(History.A, History.B).Target(History.OnTarget(History.A));

    private static InstructionRecord Record(SyncInstructionIssued issued, DateTimeOffset issuedAt, int attempt = 1, params InstructionFailure[] failures) => new()
    {
        Instruction = issued with { Attempt = attempt, IssuedAt = issuedAt, ExpiresAt = issuedAt + TimeSpan.FromHours(6) },
        Failures = failures,
    };

    [Fact]
    public void Should_not_issue_the_same_decision_again()
    {
        var scenario = Behind();
        var issued = scenario.Plan().SingleInstruction();
        scenario.Records.Add(Record(issued, Now.AddMinutes(-10)));
        var result = scenario.Plan();

        result.Instructions.ShouldBeEmpty();
        var status = result.Statuses.ShouldHaveSingleItem();
        status.Status.ShouldBe(DatasetSyncStatus.Syncing);
        status.OutstandingInstructions.ShouldBe([issued.InstructionId]);
    }

    [Fact]
    public void Should_make_a_new_source_snapshot_wait_for_the_outstanding_receive()
    {
        var scenario = Behind();
        var issued = scenario.Plan().SingleInstruction();
        scenario.Records.Add(Record(issued, Now.AddMinutes(-10)));
        scenario.Source(History.A, History.B, History.C);
        var result = scenario.Plan();

        result.Instructions.ShouldBeEmpty();
        result.Statuses.ShouldHaveSingleItem().Detail!.ShouldContain("waiting for outstanding instruction");
    }

    [Fact]
    public void Should_issue_the_next_attempt_after_expiry_and_back_off()
    {
        var scenario = Behind();
        var issued = scenario.Plan().SingleInstruction();
        scenario.Records.Add(Record(issued, Now.AddHours(-7)));
        var retry = scenario.Plan().SingleInstruction();

        retry.InstructionId.ShouldBe(issued.InstructionId);
        retry.Attempt.ShouldBe(2);
        (retry with { Attempt = 1, IssuedAt = issued.IssuedAt, ExpiresAt = issued.ExpiresAt }).Commands.ShouldBe(issued.Commands);
    }

    [Fact]
    public void Should_wait_out_the_back_off_after_a_failure()
    {
        var scenario = Behind();
        var issued = scenario.Plan().SingleInstruction();
        scenario.Records.Add(Record(issued, Now.AddMinutes(-10), 1, new InstructionFailure { Attempt = 1, FailedAt = Now.AddMinutes(-2), Error = "broken pipe" }));
        var result = scenario.Plan();

        result.Instructions.ShouldBeEmpty();
        result.Statuses.ShouldHaveSingleItem().Status.ShouldBe(DatasetSyncStatus.Behind);
    }

    [Fact]
    public void Should_grow_the_back_off_with_each_failure()
    {
        var scenario = Behind();
        var issued = scenario.Plan().SingleInstruction();
        // Second failure 10 minutes ago: the first wait was 5 minutes, the second is 15.
        scenario.Records.Add(Record(issued, Now.AddMinutes(-30), 2,
            new InstructionFailure { Attempt = 1, FailedAt = Now.AddMinutes(-25), Error = "x" },
            new InstructionFailure { Attempt = 2, FailedAt = Now.AddMinutes(-10), Error = "y" }));
        scenario.Plan().Instructions.ShouldBeEmpty();

        scenario.Records[0] = scenario.Records[0] with { Failures = [scenario.Records[0].Failures[0], new InstructionFailure { Attempt = 2, FailedAt = Now.AddMinutes(-16), Error = "y" }] };
        scenario.Plan().SingleInstruction().Attempt.ShouldBe(3);
    }

    [Fact]
    public void Should_block_after_three_failed_attempts_until_an_inventory_changes()
    {
        var scenario = Behind();
        scenario.ChangedAt["nas1"] = scenario.ChangedAt["backup1"] = Now.AddHours(-6);
        var issued = scenario.Plan().SingleInstruction();
        scenario.Records.Add(Record(issued, Now.AddHours(-5), 3,
            new InstructionFailure { Attempt = 1, FailedAt = Now.AddHours(-4), Error = "one" },
            new InstructionFailure { Attempt = 2, FailedAt = Now.AddHours(-3), Error = "two" },
            new InstructionFailure { Attempt = 3, FailedAt = Now.AddHours(-2), Error = "cannot receive: dataset is busy" }));
        var result = scenario.Plan();

        result.Instructions.ShouldBeEmpty();
        var status = result.Statuses.ShouldHaveSingleItem();
        status.Status.ShouldBe(DatasetSyncStatus.Blocked);
        status.Detail!.ShouldContain("cannot receive: dataset is busy");

        scenario.ChangedAt["backup1"] = Now.AddMinutes(-1);
        scenario.Plan().SingleInstruction().Attempt.ShouldBe(4);
    }

    [Fact]
    public void Should_read_one_record_per_attempt_like_one_record_per_decision()
    {
        var scenario = Behind();
        scenario.ChangedAt["nas1"] = scenario.ChangedAt["backup1"] = Now.AddHours(-6);
        var issued = scenario.Plan().SingleInstruction();
        scenario.Records.Add(Record(issued, Now.AddHours(-5), 1, new InstructionFailure { Attempt = 1, FailedAt = Now.AddHours(-4), Error = "one" }));
        scenario.Records.Add(Record(issued, Now.AddHours(-3), 2, new InstructionFailure { Attempt = 2, FailedAt = Now.AddHours(-2), Error = "two" }));

        var retry = scenario.Plan().SingleInstruction();
        retry.Attempt.ShouldBe(3);

        scenario.Records.Add(Record(issued, Now.AddHours(-1), 3, new InstructionFailure { Attempt = 3, FailedAt = Now.AddMinutes(-30), Error = "three" }));
        var result = scenario.Plan();
        result.Instructions.ShouldBeEmpty();
        result.Statuses.ShouldHaveSingleItem().Detail!.ShouldContain("three");
    }

    [Fact]
    public void Should_wait_for_the_inventory_after_a_completion()
    {
        var scenario = Behind();
        var issued = scenario.Plan().SingleInstruction();
        scenario.Records.Add(Record(issued, Now.AddMinutes(-10)) with { CompletedAt = Now.AddMinutes(-5) });
        var result = scenario.Plan();

        result.Instructions.ShouldBeEmpty();
        result.Statuses.ShouldHaveSingleItem().Status.ShouldBe(DatasetSyncStatus.Syncing);
    }

    [Fact]
    public void Should_not_plan_a_new_snapshot_from_a_target_inventory_older_than_a_completion()
    {
        var scenario = Behind();
        var issued = scenario.Plan().SingleInstruction();
        scenario.Records.Add(Record(issued, Now.AddMinutes(-10)) with { CompletedAt = Now.AddSeconds(-30) });
        scenario.ReceivedAt["backup1"] = Now.AddMinutes(-1);
        scenario.Source(History.A, History.B, History.C);
        scenario.ChangedAt["nas1"] = Now.AddSeconds(-5);
        var result = scenario.Plan();

        result.Instructions.ShouldBeEmpty("backup1's inventory was taken before the completed receive");
        var status = result.Statuses.ShouldHaveSingleItem();
        status.Status.ShouldBe(DatasetSyncStatus.Syncing);
        status.Detail!.ShouldContain("completed after backup1's last inventory");
        status.OutstandingInstructions.ShouldBe([issued.InstructionId]);
    }

    [Fact]
    public void Should_plan_from_a_target_inventory_received_before_the_completion_when_it_already_holds_the_received_snapshot()
    {
        // The executor's outcome and the target's next report take different queues: the report (showing B) was
        // applied before the outcome was recorded. It holds what the instruction received, so it is not stale.
        var issued = Behind().Plan().SingleInstruction();
        issued.To.Guid.ShouldBe(History.B.Guid);
        var scenario = new Scenario().Source(History.A, History.B, History.C).Target(History.OnTarget(History.A), History.OnTarget(History.B));
        scenario.Records.Add(Record(issued, Now.AddMinutes(-10)) with { CompletedAt = Now.AddSeconds(-30) });
        scenario.ReceivedAt["backup1"] = Now.AddMinutes(-1);
        scenario.ChangedAt["backup1"] = Now.AddMinutes(-1);
        scenario.ChangedAt["nas1"] = Now.AddSeconds(-5);

        var next = scenario.Plan().SingleInstruction();
        next.From!.Guid.ShouldBe(History.B.Guid, "from what the target holds");
        next.To.Guid.ShouldBe(History.C.Guid);
    }

    [Fact]
    public void Should_show_in_sync_at_once_when_the_report_showing_the_receive_came_before_the_outcome()
    {
        var issued = Behind().Plan().SingleInstruction();
        var scenario = new Scenario().Source(History.A, History.B).Target(History.OnTarget(History.A), History.OnTarget(History.B));
        scenario.Records.Add(Record(issued, Now.AddMinutes(-10)) with { CompletedAt = Now.AddSeconds(-30) });
        scenario.ReceivedAt["backup1"] = Now.AddMinutes(-1);

        var result = scenario.Plan();
        result.Instructions.ShouldBeEmpty();
        result.Statuses.ShouldHaveSingleItem().Status.ShouldBe(DatasetSyncStatus.InSync, "nothing waits for a further report");
    }

    [Fact]
    public void Should_plan_the_new_snapshot_once_the_target_reported_after_the_completion()
    {
        var scenario = new Scenario().Source(History.A, History.B, History.C).Target(History.OnTarget(History.A), History.OnTarget(History.B));
        var earlier = Behind().Plan().SingleInstruction();
        scenario.Records.Add(Record(earlier, Now.AddMinutes(-10)) with { CompletedAt = Now.AddMinutes(-2) });
        scenario.ReceivedAt["backup1"] = Now.AddMinutes(-1);
        scenario.ChangedAt["backup1"] = Now.AddMinutes(-1);
        scenario.ChangedAt["nas1"] = Now.AddSeconds(-5);

        var next = scenario.Plan().SingleInstruction();
        next.From!.Guid.ShouldBe(History.B.Guid, "from what the target now holds");
        next.To.Guid.ShouldBe(History.C.Guid);
    }
}

public class When_a_resolution_was_carried_out
{
    private static readonly SnapshotInfo Local = Snap("local-1", 950, 700);

    [Fact]
    public void Should_not_issue_the_destructive_step_again_from_the_inventory_taken_before_it()
    {
        var scenario = new Scenario().Source(History.A, History.B, History.C, History.D)
            .Target(History.OnTarget(History.A), History.OnTarget(History.B), Local);
        var conflict = scenario.Plan().SingleConflict();
        scenario.Resolutions.Add(new RecordedResolution { ConflictId = conflict.ConflictId, Resolution = ConflictResolution.RollbackTarget, ResolvedAt = Now.AddMinutes(-5), ResolvedBy = "alice" });
        var rollback = scenario.Plan().SingleInstruction();
        rollback.Kind.ShouldBe(InstructionKind.RollbackAndIncremental);
        scenario.Records.Add(new InstructionRecord { Instruction = rollback, CompletedAt = Now.AddSeconds(-20) });
        scenario.ReceivedAt["backup1"] = Now.AddMinutes(-1);

        // A new source snapshot arrives before backup1 reported the rolled-back, received state.
        scenario.Source(History.A, History.B, History.C, History.D, Snap("e", 1050, 705));
        scenario.ChangedAt["nas1"] = Now.AddSeconds(-5);
        var result = scenario.Plan();

        result.Instructions.ShouldBeEmpty("the target must not be rolled back a second time");
        result.Statuses.ShouldHaveSingleItem().Status.ShouldBe(DatasetSyncStatus.Syncing);
    }
}

public class When_an_operator_resolved_a_conflict
{
    private static readonly SnapshotInfo Local = Snap("local-1", 950, 700);

    private static Scenario Diverged() => new Scenario().Source(History.A, History.B, History.C, History.D)
        .Target(History.OnTarget(History.A), History.OnTarget(History.B), Local);

    private static Scenario Resolved(Scenario scenario, ConflictResolution resolution)
    {
        var conflict = scenario.Plan().SingleConflict();
        scenario.Resolutions.Add(new RecordedResolution
        {
            ConflictId = conflict.ConflictId,
            Resolution = resolution,
            ResolvedAt = new DateTimeOffset(2026, 11, 25, 11, 30, 5, TimeSpan.Zero),
            ResolvedBy = "alice",
        });
        return scenario;
    }

    [Fact]
    public void Should_roll_back_to_the_base_then_send_incrementally_for_rollback_target()
    {
        var result = Resolved(Diverged(), ConflictResolution.RollbackTarget).Plan();
        var instruction = result.SingleInstruction();

        instruction.Kind.ShouldBe(InstructionKind.RollbackAndIncremental);
        instruction.Resolution.ShouldBe(ConflictResolution.RollbackTarget);
        instruction.From!.Guid.ShouldBe(102UL);
        instruction.To.Guid.ShouldBe(104UL);
        instruction.Joined().ShouldBe($"backup1: zfs rollback -r backup/nas1/data@b | nas1: zfs send -c -I tank/data@b tank/data@d => {History.Receive}");
    }

    [Fact]
    public void Should_rename_the_target_aside_then_send_in_full_for_quarantine_target()
    {
        var instruction = Resolved(Diverged(), ConflictResolution.QuarantineTarget).Plan().SingleInstruction();

        instruction.Kind.ShouldBe(InstructionKind.QuarantineAndFull);
        instruction.Resolution.ShouldBe(ConflictResolution.QuarantineTarget);
        instruction.From.ShouldBeNull();
        instruction.Joined().ShouldBe(
            $"backup1: zfs rename backup/nas1/data backup/nas1/data.conflict-20261125T113005Z | nas1: zfs send -c tank/data@a => {History.Receive}");
    }

    [Fact]
    public void Should_destroy_then_send_in_full_for_reseed()
    {
        var scenario = Resolved(new Scenario().Source(History.A, History.B).Target(Snap("x", 990, 5)), ConflictResolution.Reseed);
        var instruction = scenario.Plan().SingleInstruction();

        instruction.Kind.ShouldBe(InstructionKind.Reseed);
        instruction.Resolution.ShouldBe(ConflictResolution.Reseed);
        instruction.Joined().ShouldBe($"backup1: zfs destroy -r backup/nas1/data | nas1: zfs send -c tank/data@a => {History.Receive}");
    }

    [Fact]
    public void Should_leave_the_dataset_alone_for_ignore()
    {
        var result = Resolved(Diverged(), ConflictResolution.Ignore).Plan();

        result.Instructions.ShouldBeEmpty();
        result.Conflicts.ShouldBeEmpty();
        result.Statuses.ShouldHaveSingleItem().Detail!.ShouldContain("ignored by alice");
    }

    [Fact]
    public void Should_detect_the_conflict_again_when_its_evidence_changes()
    {
        var scenario = Resolved(Diverged(), ConflictResolution.Ignore);
        scenario.Target(History.OnTarget(History.A), History.OnTarget(History.B), Local, Snap("local-2", 951, 710));
        scenario.Plan().SingleConflict().Kind.ShouldBe(ConflictKind.Diverged);
    }

    [Fact]
    public void Should_refuse_a_resolution_the_conflict_does_not_allow()
    {
        var result = Resolved(Diverged(), ConflictResolution.Reseed).Plan();

        result.SingleConflict().Kind.ShouldBe(ConflictKind.Diverged);
        result.Anomalies.ShouldHaveSingleItem().Kind.ShouldBe(AnomalyKind.UnusableResolution);
    }

    [Fact]
    public void Should_roll_back_a_modified_target_for_rollback_target()
    {
        var scenario = Resolved(
            new Scenario().Source(History.A, History.B, History.C)
                .Dataset("backup1", TargetName, [History.OnTarget(History.A), History.OnTarget(History.B)], d => d with { WrittenBytes = 10 }),
            ConflictResolution.RollbackTarget);
        scenario.Plan().SingleInstruction().Joined()
            .ShouldBe($"backup1: zfs rollback -r backup/nas1/data@b | nas1: zfs send -c -i tank/data@b tank/data@c => {History.Receive}");
    }

    [Fact]
    public void Should_quarantine_an_unencrypted_target_of_an_encrypted_source_and_send_raw()
    {
        var scenario = Resolved(
            new Scenario().Dataset("nas1", SourceName, [History.A, History.B], d => d with { Encryption = "aes-256-gcm" })
                .Dataset("backup1", TargetName, [History.OnTarget(History.A)], d => d with { Encryption = "off" }),
            ConflictResolution.QuarantineTarget);
        var instruction = scenario.Plan().SingleInstruction();

        instruction.Kind.ShouldBe(InstructionKind.QuarantineAndFull);
        instruction.Argvs()[1].ShouldBe(["zfs", "send", "-w", "tank/data@a"]);
    }

    [Fact]
    public void Should_raise_the_name_clash_a_rollback_would_hit_and_let_its_own_resolution_decide()
    {
        var oldImpostor = Snap("c", 903, 100);
        var scenario = new Scenario().Source(History.A, History.B, History.C)
            .Target(oldImpostor, History.OnTarget(History.A), History.OnTarget(History.B), Local);
        Resolved(scenario, ConflictResolution.RollbackTarget);

        var clash = scenario.Plan().SingleConflict();
        clash.Kind.ShouldBe(ConflictKind.NameGuidMismatch);

        scenario.Resolutions.Add(new RecordedResolution
        {
            ConflictId = clash.ConflictId,
            Resolution = ConflictResolution.QuarantineTarget,
            ResolvedAt = new DateTimeOffset(2026, 11, 25, 11, 45, 0, TimeSpan.Zero),
        });
        var instruction = scenario.Plan().SingleInstruction();
        instruction.Kind.ShouldBe(InstructionKind.QuarantineAndFull);
        instruction.Argvs().ShouldNotContain(a => a.Contains("rollback"));
    }
}
