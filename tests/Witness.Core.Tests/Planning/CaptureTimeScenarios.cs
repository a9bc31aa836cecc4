using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Planning;
using ZfsSync.Witness.Core.Tests.Support;
using static ZfsSync.Witness.Core.Tests.Support.Scenario;

namespace ZfsSync.Witness.Core.Tests.Planning;

/// <summary>
/// A target's report captured while an instruction ran but received just after its completion was recorded: the
/// report's own capture time (the host's clock, within <see cref="PlannerOptions.MaxClockSkew"/>) says it is stale.
/// </summary>
public class When_a_target_report_was_captured_before_a_completion
{
    private static readonly DateTimeOffset Completed = Now.AddMinutes(-20);
    private static readonly TimeSpan Skew = PlannerOptions.Default.MaxClockSkew;

    /// <summary>
    /// A fresh target: the full send of <c>a</c> went out and completed; backup1's inventory was received after the
    /// completion and changed since (its parent was created), but it does not hold <c>a</c>.
    /// </summary>
    private static (Scenario Scenario, SyncInstructionIssued Full) FullCompleted(DateTimeOffset? capturedAt)
    {
        var scenario = new Scenario().Source(History.A, History.B).Dataset("backup1", "backup/nas1", []);
        var full = scenario.Plan().SingleInstruction();
        full.Kind.ShouldBe(InstructionKind.Full);
        scenario.Records.Add(new InstructionRecord
        {
            Instruction = full with { IssuedAt = Completed.AddMinutes(-2), ExpiresAt = Completed.AddHours(6) },
            CompletedAt = Completed,
        });
        scenario.ReceivedAt["backup1"] = Completed.AddSeconds(1);
        scenario.ChangedAt["backup1"] = Completed.AddSeconds(1);
        if (capturedAt is { } c)
        {
            scenario.CapturedAt["backup1"] = c;
        }

        return (scenario, full);
    }

    [Fact]
    public void Should_not_issue_the_full_send_again_from_a_report_captured_during_the_receive()
    {
        var (scenario, full) = FullCompleted(Completed.AddSeconds(-5));

        var result = scenario.Plan();

        result.Instructions.ShouldBeEmpty("a second full receive would fail with \"destination exists\"");
        var status = result.Statuses.ShouldHaveSingleItem();
        status.Status.ShouldBe(DatasetSyncStatus.Syncing);
        status.Detail!.ShouldContain($"waiting for an inventory of backup1 captured after instruction {full.InstructionId} completed");
        status.OutstandingInstructions.ShouldBe([full.InstructionId]);
    }

    [Fact]
    public void Should_keep_the_receive_time_rule_alone_for_an_inventory_without_a_capture_time()
    {
        // Today's behaviour without a capture time (the race this rule closes): received after the completion and
        // changed since, the report counts, and the decision goes out again as attempt 2.
        var (scenario, full) = FullCompleted(capturedAt: null);

        var retry = scenario.Plan().SingleInstruction();

        retry.InstructionId.ShouldBe(full.InstructionId);
        retry.Attempt.ShouldBe(2);
    }

    [Fact]
    public void Should_issue_the_decision_again_once_a_report_captured_after_the_completion_still_lacks_it()
    {
        var (scenario, full) = FullCompleted(Completed + Skew + TimeSpan.FromSeconds(1));
        scenario.ReceivedAt["backup1"] = scenario.ChangedAt["backup1"] = Completed + Skew + TimeSpan.FromSeconds(2);

        var retry = scenario.Plan().SingleInstruction();

        retry.InstructionId.ShouldBe(full.InstructionId);
        retry.Attempt.ShouldBe(2, "the existing history rules decide from here");
        retry.Argvs().ShouldBe(full.Argvs());
    }

    [Theory]
    [InlineData(-60)]
    [InlineData(0)]
    [InlineData(300)]
    [InlineData(600)]
    public void Should_count_a_capture_within_the_clock_skew_after_the_completion_as_before_it(int secondsAfterCompletion)
    {
        Skew.ShouldBe(TimeSpan.FromMinutes(10), "the offsets below straddle the default skew");
        var captured = Completed.AddSeconds(secondsAfterCompletion);
        var (scenario, full) = FullCompleted(captured);
        scenario.ReceivedAt["backup1"] = scenario.ChangedAt["backup1"] = Max(captured, Completed).AddSeconds(1);

        var result = scenario.Plan();

        result.Instructions.ShouldBeEmpty("backup1's clock may be ahead by up to the skew");
        result.Statuses.ShouldHaveSingleItem().OutstandingInstructions.ShouldBe([full.InstructionId]);
    }

    [Fact]
    public void Should_use_the_configured_clock_skew()
    {
        var (scenario, full) = FullCompleted(Completed.AddMinutes(2));
        scenario.ReceivedAt["backup1"] = scenario.ChangedAt["backup1"] = Completed.AddMinutes(3);
        var options = PlannerOptions.Default with { MaxClockSkew = TimeSpan.FromMinutes(1) };

        var retry = Planner.Plan(scenario.Input(), options).SingleInstruction();

        retry.InstructionId.ShouldBe(full.InstructionId);
        retry.Attempt.ShouldBe(2);
    }

    [Fact]
    public void Should_plan_on_from_a_report_captured_before_the_completion_that_already_shows_the_received_snapshot()
    {
        var (scenario, _) = FullCompleted(Completed.AddSeconds(-5));
        scenario.Target(History.OnTarget(History.A));

        var next = scenario.Plan().SingleInstruction();

        next.Kind.ShouldBe(InstructionKind.Incremental);
        next.From!.Guid.ShouldBe(History.A.Guid, "the report holds what the full send received");
        next.To.Guid.ShouldBe(History.B.Guid);
    }

    [Fact]
    public void Should_not_abort_an_interrupted_receive_twice_from_a_report_captured_before_the_abort_completed()
    {
        // The token's snapshot 2 is gone from the source: abort. The report captured before the abort completed still
        // shows the token; another `zfs receive -A` would fail for lack of a partial receive.
        var scenario = new Scenario().Source(Tokens.S1, Snap("3", 333, 30))
            .Dataset("backup1", TargetName, [Received(Tokens.S1, 300)], d => d with { ReceiveResumeToken = Tokens.Incremental });
        var abort = scenario.Plan().SingleInstruction();
        abort.Kind.ShouldBe(InstructionKind.AbortResume);
        scenario.Records.Add(new InstructionRecord { Instruction = abort, CompletedAt = Completed });
        scenario.ReceivedAt["backup1"] = scenario.ChangedAt["backup1"] = Completed.AddSeconds(1);
        scenario.CapturedAt["backup1"] = Completed.AddSeconds(-1);

        var stale = scenario.Plan();
        stale.Instructions.ShouldBeEmpty();
        stale.Statuses.ShouldHaveSingleItem().Detail!.ShouldContain($"captured after instruction {abort.InstructionId} completed");

        // The same capture time without the token: the abort shows, and the incremental is planned afresh.
        scenario.Target(Received(Tokens.S1, 300));
        var next = scenario.Plan().SingleInstruction();
        next.Kind.ShouldBe(InstructionKind.Incremental);
        next.To.Guid.ShouldBe(333UL);
    }

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;
}
