using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Planning;
using ZfsSync.Witness.Core.Tests.Support;
using static ZfsSync.Witness.Core.Tests.Support.Scenario;

namespace ZfsSync.Witness.Core.Tests.Planning;

/// <summary>Dataset guids (docs/PLANNING.md, "Dataset identity"): the guid last known at a path against what is there now.</summary>
internal static class Identity
{
    public const ulong SourceGuid = 700;
    public const ulong OldTarget = 800;
    public const ulong NewTarget = 900;
    public static readonly DateTimeOffset GoneAt = new(2026, 11, 25, 9, 30, 0, TimeSpan.Zero);
}

public class When_a_target_dataset_was_destroyed_and_created_again
{
    private static Scenario Recreated(params SnapshotInfo[] targetSnapshots) => new Scenario()
        .Dataset("nas1", SourceName, [History.A, History.B], d => d with { Guid = Identity.SourceGuid })
        .Dataset("backup1", TargetName, targetSnapshots, d => d with { Guid = Identity.NewTarget })
        .Gone("backup1", TargetName, Identity.OldTarget, Identity.GoneAt);

    [Fact]
    public void Should_say_so_in_the_no_common_snapshot_conflict_of_an_empty_target_with_both_guids()
    {
        var result = Recreated().Plan();
        var conflict = result.SingleConflict();

        conflict.Kind.ShouldBe(ConflictKind.NoCommonSnapshot);
        conflict.Details.ShouldBe(
            "backup1:backup/nas1/data was destroyed and created again (noticed 2026-11-25 09:30:00Z): its dataset guid was 800, now 900; "
            + "its history is gone. backup1:backup/nas1/data exists but has no snapshots; a full receive into it would need -F and destroy what it holds");
        conflict.AllowedResolutions.ShouldBe([ConflictResolution.QuarantineTarget, ConflictResolution.Reseed, ConflictResolution.Ignore]);
        var status = result.Statuses.ShouldHaveSingleItem();
        status.Status.ShouldBe(DatasetSyncStatus.Conflicted);
        status.Detail.ShouldBe(conflict.Details);
    }

    [Fact]
    public void Should_say_so_when_the_new_dataset_has_snapshots_of_its_own()
    {
        var conflict = Recreated(Snap("x", 990, 5)).Plan().SingleConflict();

        conflict.Kind.ShouldBe(ConflictKind.NoCommonSnapshot);
        conflict.Details.ShouldStartWith("backup1:backup/nas1/data was destroyed and created again");
        conflict.Details.ShouldContain("its dataset guid was 800, now 900; its history is gone.");
        conflict.Details.ShouldEndWith("backup1:backup/nas1/data and nas1:tank/data have no snapshot in common");
    }

    [Fact]
    public void Should_keep_the_conflict_id_of_the_evidence_so_a_recorded_resolution_still_applies()
    {
        var plain = new Scenario().Dataset("nas1", SourceName, [History.A, History.B]).Target().Plan().SingleConflict();
        var recreated = Recreated();
        var conflict = recreated.Plan().SingleConflict();
        conflict.ConflictId.ShouldBe(plain.ConflictId);

        recreated.Resolutions.Add(new RecordedResolution { ConflictId = conflict.ConflictId, Resolution = ConflictResolution.Reseed, ResolvedAt = Now.AddMinutes(-1), ResolvedBy = "alice" });
        var instruction = recreated.Plan().SingleInstruction();

        instruction.Kind.ShouldBe(InstructionKind.Reseed);
        instruction.Resolution.ShouldBe(ConflictResolution.Reseed);
    }

    [Fact]
    public void Should_say_nothing_of_identity_when_the_guid_is_the_one_last_known_or_unknown()
    {
        const string Plain = "backup1:backup/nas1/data exists but has no snapshots; a full receive into it would need -F and destroy what it holds";
        var same = new Scenario().Dataset("nas1", SourceName, [History.A]).Dataset("backup1", TargetName, [], d => d with { Guid = Identity.OldTarget })
            .Gone("backup1", TargetName, Identity.OldTarget);
        var olderReporter = new Scenario().Dataset("nas1", SourceName, [History.A]).Target().Gone("backup1", TargetName, Identity.OldTarget);
        var neverGone = new Scenario().Dataset("nas1", SourceName, [History.A]).Dataset("backup1", TargetName, [], d => d with { Guid = Identity.NewTarget });

        same.Plan().SingleConflict().Details.ShouldBe(Plain);
        olderReporter.Plan().SingleConflict().Details.ShouldBe(Plain);
        neverGone.Plan().SingleConflict().Details.ShouldBe(Plain);
    }

    [Fact]
    public void Should_raise_nothing_once_the_new_dataset_shares_history_with_the_source()
    {
        // After a reseed the path holds yet another dataset; its guid differs from the one last known, but the
        // plan follows the snapshots, which are in common again.
        var scenario = Recreated(History.OnTarget(History.A), History.OnTarget(History.B));
        var result = scenario.Plan();

        result.Conflicts.ShouldBeEmpty();
        result.Statuses.ShouldHaveSingleItem().Status.ShouldBe(DatasetSyncStatus.InSync);
    }

    [Fact]
    public void Should_name_the_rename_when_the_old_dataset_moved_away_and_another_took_its_path()
    {
        var scenario = Recreated()
            .Dataset("backup1", "backup/nas1/data-old", [History.OnTarget(History.A)], d => d with { Guid = Identity.OldTarget });
        var conflict = scenario.Plan().SingleConflict();

        conflict.Details.ShouldStartWith(
            "backup1:backup/nas1/data is not the dataset it was: the one with dataset guid 800 was renamed to backup/nas1/data-old "
            + "and another (dataset guid 900) took its path; its history is gone.");
    }

    [Fact]
    public void Should_say_so_from_the_instruction_history_when_no_guid_was_known()
    {
        // An older reporter: no dataset guids. The witness's own full send completed into the target, whose
        // inventory since holds none of what it received.
        var scenario = new Scenario().Source(History.A, History.B).Target(Snap("x", 990, 5));
        scenario.Records.Add(new InstructionRecord
        {
            Instruction = new SyncInstructionIssued
            {
                InstructionId = Guid.NewGuid(),
                Attempt = 1,
                SyncGroup = "critical-data",
                Dataset = SourceName,
                Kind = InstructionKind.Full,
                Target = new InstructionEndpoint { HostId = "backup1", Dataset = TargetName },
                To = new SnapshotReference { Name = "a", Guid = History.A.Guid },
                IssuedAt = Now.AddHours(-5),
                ExpiresAt = Now.AddHours(1),
            },
            CompletedAt = Now.AddHours(-4),
        });
        var conflict = scenario.Plan().SingleConflict();

        conflict.Kind.ShouldBe(ConflictKind.NoCommonSnapshot);
        conflict.Details.ShouldBe(
            "backup1:backup/nas1/data no longer holds a (101), which the witness's instruction received into it at 2026-11-25 08:00:00Z: "
            + "it was destroyed and created again, or that snapshot was destroyed; its history is gone. "
            + "backup1:backup/nas1/data and nas1:tank/data have no snapshot in common");
    }

    [Fact]
    public void Should_say_so_of_a_source_destroyed_and_created_again()
    {
        var scenario = new Scenario()
            .Dataset("nas1", SourceName, [Snap("fresh", 555, 3)], d => d with { Guid = 701 })
            .Target(History.OnTarget(History.A))
            .Gone("nas1", SourceName, Identity.SourceGuid, Identity.GoneAt);
        var conflict = scenario.Plan().SingleConflict();

        conflict.Kind.ShouldBe(ConflictKind.NoCommonSnapshot);
        conflict.Details.ShouldStartWith("nas1:tank/data was destroyed and created again (noticed 2026-11-25 09:30:00Z): its dataset guid was 700, now 701; its history is gone.");
    }
}

public class When_a_source_dataset_was_renamed
{
    private static Scenario Renamed() => new Scenario()
        .Dataset("nas1", "tank/data-2026", [History.A, History.B, History.C], d => d with { Guid = Identity.SourceGuid })
        .Target(History.OnTarget(History.A))
        .Gone("nas1", SourceName, Identity.SourceGuid, Identity.GoneAt);

    [Fact]
    public void Should_block_the_dataset_naming_the_new_path_instead_of_calling_it_vanished()
    {
        var result = Renamed().Plan();

        result.Instructions.ShouldBeEmpty();
        result.Conflicts.ShouldBeEmpty();
        var status = result.Statuses.ShouldHaveSingleItem();
        status.Status.ShouldBe(DatasetSyncStatus.Blocked);
        status.Detail.ShouldBe("nas1:tank/data was renamed to tank/data-2026 (dataset guid 700); update the configuration to name tank/data-2026 on nas1");
    }

    [Fact]
    public void Should_block_rather_than_abort_an_interrupted_receive_from_it()
    {
        var scenario = new Scenario()
            .Dataset("nas1", "tank/data-2026", [Tokens.S1, Tokens.S2], d => d with { Guid = Identity.SourceGuid })
            .Dataset("backup1", TargetName, [Received(Tokens.S1, 300)], d => d with { ReceiveResumeToken = Tokens.Incremental })
            .Gone("nas1", SourceName, Identity.SourceGuid);
        var result = scenario.Plan();

        result.Instructions.ShouldBeEmpty("an abort-resume would throw away the partial receive");
        var status = result.Statuses.ShouldHaveSingleItem();
        status.Status.ShouldBe(DatasetSyncStatus.Blocked);
        status.Detail!.ShouldContain("was renamed to tank/data-2026");
    }

    [Fact]
    public void Should_go_on_incrementally_once_the_configuration_names_the_new_path()
    {
        var scenario = Renamed().With(g => g with
        {
            Datasets = [new GroupDataset { Path = "tank/data-2026", On = new Dictionary<string, string> { ["backup1"] = TargetName } }],
        });
        var instruction = scenario.Plan().SingleInstruction();

        instruction.Kind.ShouldBe(InstructionKind.Incremental);
        instruction.From!.Guid.ShouldBe(History.A.Guid);
        instruction.To.Guid.ShouldBe(History.C.Guid);
        instruction.Source.Dataset.ShouldBe("tank/data-2026");
    }

    [Fact]
    public void Should_stay_source_empty_when_the_vanished_guid_is_nowhere_on_the_host()
    {
        var scenario = new Scenario()
            .Dataset("nas1", "tank/other", [History.A], d => d with { Guid = 1234 })
            .Target(History.OnTarget(History.A))
            .Gone("nas1", SourceName, Identity.SourceGuid, Identity.GoneAt);
        var status = scenario.Plan().Statuses.ShouldHaveSingleItem();

        status.Status.ShouldBe(DatasetSyncStatus.SourceEmpty);
        status.Detail.ShouldBe("nas1 has no dataset tank/data (it vanished at 2026-11-25 09:30:00Z with dataset guid 700; no dataset with that guid is in nas1's report)");
    }

    [Fact]
    public void Should_not_take_a_dataset_with_the_same_snapshots_but_another_dataset_guid_for_the_renamed_one()
    {
        // A local copy (zfs send | zfs receive on the same host) shares snapshot guids, never the dataset guid.
        var scenario = new Scenario()
            .Dataset("nas1", "tank/copy", [History.A, History.B], d => d with { Guid = 4321 })
            .Target(History.OnTarget(History.A))
            .Gone("nas1", SourceName, Identity.SourceGuid);

        scenario.Plan().Statuses.ShouldHaveSingleItem().Status.ShouldBe(DatasetSyncStatus.SourceEmpty);
    }
}
