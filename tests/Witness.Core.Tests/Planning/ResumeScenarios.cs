using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Planning;
using ZfsSync.Witness.Core.Tests.Support;
using static ZfsSync.Witness.Core.Tests.Support.Scenario;

namespace ZfsSync.Witness.Core.Tests.Planning;

/// <summary>Real tokens from the fixture: a full stream of zroot/test/a@1 and an incremental @1 → @2.</summary>
internal static class Tokens
{
    public const string Full = "1-9baebea70-b8-789c636064000310a500c4ec50360710e72765a52697303030419460caa7a515a79680647ce0f26c48f2499525a9c5405ac3c90fabfe92fcf4d2cc140686b30972c7850efd0cd24092e704cbe725e6a632305415e5e797e803cd2ad14f743084b805001b201795";
    public const string Incremental = "1-ef01e717e-e0-789c636064000310a501c49c50360710a715e5e7a69766a63040c1d904b9e342877e062900d9ec48eaf293b252934b181898a0ea30e4d3d28a534b40323e70793624f9a4ca92d46220fdc1ce0fabfe927c882bc46c8a0a9f71ad3baf8124cf0996cf4bcc4d6560a82acacf2fd1079a55a29fe86004710b00d8ae1f93";
    public const ulong One = 0x52f9c212c71e60cd;
    public const ulong Two = 0xcfae0ae671723c16;
    public static readonly SnapshotInfo S1 = Snap("1", One, 10);
    public static readonly SnapshotInfo S2 = Snap("2", Two, 20);
}

public class When_the_target_holds_a_resume_token
{
    [Fact]
    public void Should_resume_an_interrupted_full_receive_before_anything_else()
    {
        // The target exists without snapshots: without the token this would be a no-common-snapshot conflict.
        var scenario = new Scenario().Source(Tokens.S1, Tokens.S2)
            .Dataset("backup1", TargetName, [], d => d with { ReceiveResumeToken = Tokens.Full });
        var instruction = scenario.Plan().SingleInstruction();

        instruction.Kind.ShouldBe(InstructionKind.Resume);
        instruction.From.ShouldBeNull();
        instruction.To.Guid.ShouldBe(Tokens.One);
        instruction.Joined().ShouldBe($"nas1: zfs send -t {Tokens.Full} => {History.Receive}");
    }

    [Fact]
    public void Should_resume_an_incremental_whose_base_survives_as_a_bookmark()
    {
        var scenario = new Scenario()
            .Dataset("nas1", SourceName, [Tokens.S2], bookmarks: [Bookmark("1", Tokens.One, 10)])
            .Dataset("backup1", TargetName, [Received(Tokens.S1, 300)], d => d with { ReceiveResumeToken = Tokens.Incremental });
        var instruction = scenario.Plan().SingleInstruction();

        instruction.Kind.ShouldBe(InstructionKind.Resume);
        instruction.From.ShouldBe(new SnapshotReference { Name = "1", Guid = Tokens.One, IsBookmark = true });
        instruction.To.Guid.ShouldBe(Tokens.Two);
    }

    [Fact]
    public void Should_abort_the_resume_when_the_token_snapshot_is_gone_from_the_source()
    {
        var scenario = new Scenario().Source(Tokens.S1, Snap("3", 333, 30))
            .Dataset("backup1", TargetName, [Received(Tokens.S1, 300)], d => d with { ReceiveResumeToken = Tokens.Incremental });
        var instruction = scenario.Plan().SingleInstruction();

        instruction.Kind.ShouldBe(InstructionKind.AbortResume);
        instruction.From.ShouldBeNull();
        instruction.To.Guid.ShouldBe(Tokens.Two);
        instruction.Joined().ShouldBe("backup1: zfs receive -A backup/nas1/data");
        instruction.Commands.Pull.ShouldBe("zfs receive -A backup/nas1/data");
        instruction.InstructionId.ShouldBe(DeterministicIds.Instruction("critical-data", "tank/data", "nas1", "backup1", InstructionKind.AbortResume, null, Tokens.Two));
    }

    [Fact]
    public void Should_abort_the_resume_when_its_base_is_gone_from_source_snapshots_and_bookmarks()
    {
        var scenario = new Scenario().Source(Tokens.S2)
            .Dataset("backup1", TargetName, [Received(Tokens.S1, 300)], d => d with { ReceiveResumeToken = Tokens.Incremental });
        scenario.Plan().SingleInstruction().Kind.ShouldBe(InstructionKind.AbortResume);
    }

    [Fact]
    public void Should_plan_from_the_target_snapshots_once_the_token_is_gone()
    {
        var scenario = new Scenario().Source(Tokens.S1, Snap("3", 333, 30)).Target(Received(Tokens.S1, 300));
        var instruction = scenario.Plan().SingleInstruction();
        instruction.Kind.ShouldBe(InstructionKind.Incremental);
        instruction.To.Guid.ShouldBe(333UL);
    }

    [Fact]
    public void Should_report_a_corrupt_token_as_an_anomaly_and_issue_nothing()
    {
        var corrupt = Tokens.Full[..^1] + "0";
        var scenario = new Scenario().Source(Tokens.S1)
            .Dataset("backup1", TargetName, [], d => d with { ReceiveResumeToken = corrupt });
        var result = scenario.Plan();

        result.Instructions.ShouldBeEmpty();
        result.Conflicts.ShouldBeEmpty();
        result.Anomalies.ShouldHaveSingleItem().Kind.ShouldBe(AnomalyKind.CorruptResumeToken);
        result.Statuses.ShouldHaveSingleItem().Status.ShouldBe(DatasetSyncStatus.Blocked);
    }

    [Fact]
    public void Should_prefer_its_own_decoding_over_the_reporter_one()
    {
        var scenario = new Scenario().Source(Tokens.S1)
            .Dataset("backup1", TargetName, [], d => d with { ReceiveResumeToken = Tokens.Full, Resume = new ResumeTokenInfo { ToGuid = 7 } });
        var result = scenario.Plan();

        result.SingleInstruction().Kind.ShouldBe(InstructionKind.Resume);
        result.Anomalies.ShouldHaveSingleItem().Kind.ShouldBe(AnomalyKind.ResumeTokenDisagrees);
    }
}

public class When_the_filter_excludes_the_snapshot_of_a_resume_token
{
    private static Scenario Excluding(string pattern) =>
        new Scenario().With(g => g with { Snapshots = new SnapshotFilter { Exclude = [pattern] } });

    [Fact]
    public void Should_abort_the_interrupted_incremental_instead_of_resuming_it()
    {
        var scenario = Excluding("2").Source(Tokens.S1, Tokens.S2, Snap("3", 333, 30))
            .Dataset("backup1", TargetName, [Received(Tokens.S1, 300)], d => d with { ReceiveResumeToken = Tokens.Incremental });

        var instruction = scenario.Plan().SingleInstruction();

        instruction.Kind.ShouldBe(InstructionKind.AbortResume);
        instruction.From.ShouldBeNull();
        instruction.To.Guid.ShouldBe(Tokens.Two);
        instruction.SnapshotCount.ShouldBe(0);
        instruction.Joined().ShouldBe("backup1: zfs receive -A backup/nas1/data");
        instruction.Reason.ShouldContain("the group's snapshot filter excludes its snapshot 2");
        instruction.Argvs().ShouldNotContain(a => a.Contains("-t"), "nothing the filter excludes is resumed");
    }

    [Fact]
    public void Should_abort_an_interrupted_full_receive_of_an_excluded_snapshot()
    {
        var scenario = Excluding("1").Source(Tokens.S1, Tokens.S2)
            .Dataset("backup1", TargetName, [], d => d with { ReceiveResumeToken = Tokens.Full });

        var instruction = scenario.Plan().SingleInstruction();

        instruction.Kind.ShouldBe(InstructionKind.AbortResume);
        instruction.To.Guid.ShouldBe(Tokens.One);
    }

    [Fact]
    public void Should_plan_the_transfer_afresh_once_the_abort_shows()
    {
        var scenario = Excluding("2").Source(Tokens.S1, Tokens.S2, Snap("3", 333, 30))
            .Dataset("backup1", TargetName, [Received(Tokens.S1, 300)], d => d with { ReceiveResumeToken = Tokens.Incremental });
        var abort = scenario.Plan().SingleInstruction();
        scenario.Records.Add(new InstructionRecord { Instruction = abort, CompletedAt = Now.AddMinutes(-2) });
        scenario.Target(Received(Tokens.S1, 300));
        scenario.ReceivedAt["backup1"] = scenario.ChangedAt["backup1"] = Now.AddMinutes(-1);

        var next = scenario.Plan().SingleInstruction();

        next.Kind.ShouldBe(InstructionKind.Incremental);
        next.From!.Guid.ShouldBe(Tokens.One);
        next.To.Guid.ShouldBe(333UL);
        next.Joined().ShouldBe($"nas1: zfs send -c -i tank/data@1 tank/data@3 => {History.Receive}", "the excluded 2 is jumped over");
    }

    [Fact]
    public void Should_still_resume_a_token_whose_snapshot_the_filter_selects()
    {
        var scenario = new Scenario().With(g => g with { Snapshots = new SnapshotFilter { Include = ["2", "1"], Exclude = ["3"] } })
            .Source(Tokens.S1, Tokens.S2, Snap("3", 333, 30))
            .Dataset("backup1", TargetName, [Received(Tokens.S1, 300)], d => d with { ReceiveResumeToken = Tokens.Incremental });

        var instruction = scenario.Plan().SingleInstruction();

        instruction.Kind.ShouldBe(InstructionKind.Resume);
        instruction.To.Guid.ShouldBe(Tokens.Two);
    }

    [Fact]
    public void Should_judge_the_snapshot_by_its_name_on_the_source_not_the_name_in_the_token()
    {
        // The source renamed snapshot 2 (same guid) to a name the filter excludes; the token still says @2.
        var scenario = Excluding("renamed-*").Source(Tokens.S1, Tokens.S2 with { Name = "renamed-2" })
            .Dataset("backup1", TargetName, [Received(Tokens.S1, 300)], d => d with { ReceiveResumeToken = Tokens.Incremental });

        var instruction = scenario.Plan().SingleInstruction();

        instruction.Kind.ShouldBe(InstructionKind.AbortResume);
        instruction.Reason.ShouldContain("renamed-2");
    }
}
