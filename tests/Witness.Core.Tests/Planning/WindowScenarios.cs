using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Planning;
using ZfsSync.Witness.Core.Tests.Support;
using static ZfsSync.Witness.Core.Tests.Support.Scenario;

namespace ZfsSync.Witness.Core.Tests.Planning;

/// <summary>Replication windows in the planner (docs/PLANNING.md, "Replication windows and bandwidth"). <see cref="Scenario.Now"/> is Wednesday 2026-11-25 12:00 UTC.</summary>
public class When_a_group_has_replication_windows
{
    private static ReplicationWindow W(string days, string start, string end, string zone = "UTC") =>
        new() { Days = days, Start = start, End = end, TimeZone = zone };

    private static Scenario Behind(params ReplicationWindow[] windows) =>
        new Scenario().With(g => g with { Windows = windows }).Source(History.A, History.B).Target(History.OnTarget(History.A));

    private static DateTimeOffset Utc(int day, int hour, int minute = 0) => new(2026, 11, day, hour, minute, 0, TimeSpan.Zero);

    [Fact]
    public void Should_issue_nothing_outside_every_window_and_say_when_the_next_opens()
    {
        var result = Behind(W("mon-fri", "22:00", "06:00")).Plan();

        result.Instructions.ShouldBeEmpty();
        var status = result.Statuses.ShouldHaveSingleItem();
        status.Status.ShouldBe(DatasetSyncStatus.WaitingForWindow);
        status.Detail.ShouldBe("next window opens at 2026-11-25 22:00:00Z");
        status.LagSnapshots.ShouldBe(1, "the work that waits is still counted");
        GroupStatusSummary.From(Behind(W("mon-fri", "22:00", "06:00")).Input(), result).Status.ShouldBe(SyncGroupStatus.OutOfSync);
    }

    [Fact]
    public void Should_give_an_instruction_the_window_end_as_not_after_and_expire_it_no_later()
    {
        var instruction = Behind(W("wed", "10:00", "13:00")).Plan().SingleInstruction();

        instruction.NotAfter.ShouldBe(Utc(25, 13));
        instruction.ExpiresAt.ShouldBe(Utc(25, 13), "expiresAt is capped at the window's end");
    }

    [Fact]
    public void Should_keep_the_ttl_when_the_window_ends_later()
    {
        var instruction = Behind(W("daily", "08:00", "23:00")).Plan().SingleInstruction();

        instruction.NotAfter.ShouldBe(Utc(25, 23));
        instruction.ExpiresAt.ShouldBe(Now + TimeSpan.FromHours(6));
    }

    [Fact]
    public void Should_issue_without_not_after_when_the_group_has_no_windows()
    {
        var instruction = Behind().Plan().SingleInstruction();

        instruction.NotAfter.ShouldBeNull();
        instruction.ExpiresAt.ShouldBe(Now + TimeSpan.FromHours(6));
    }

    [Fact]
    public void Should_be_open_in_a_window_that_started_the_day_before_and_crosses_midnight()
    {
        // Tuesday 20:00 → Wednesday 14:00.
        var instruction = Behind(W("tue", "20:00", "14:00")).Plan().SingleInstruction();

        instruction.NotAfter.ShouldBe(Utc(25, 14));
    }

    [Fact]
    public void Should_read_windows_in_their_time_zone()
    {
        // 12:00 UTC is 13:00 in Berlin (CET) and 07:00 in New York (EST).
        Behind(W("daily", "13:00", "15:00", "Europe/Berlin")).Plan().SingleInstruction().NotAfter.ShouldBe(Utc(25, 14));
        Behind(W("daily", "09:00", "17:00", "America/New_York")).Plan().Statuses.ShouldHaveSingleItem().Detail
            .ShouldBe("next window opens at 2026-11-25 14:00:00Z");
    }

    [Fact]
    public void Should_join_windows_into_one_not_after()
    {
        var instruction = Behind(W("wed", "11:00", "12:30"), W("wed", "12:30", "13:15", "Europe/Berlin"), W("wed", "13:00", "14:00")).Plan().SingleInstruction();

        // 12:30–13:15 Berlin is 11:30–12:15 UTC: inside the first; the third starts after the first ends, so the stretch ends at 12:30.
        instruction.NotAfter.ShouldBe(Utc(25, 12, 30));
    }

    [Fact]
    public void Should_still_report_conflicts_outside_the_windows()
    {
        var result = new Scenario().With(g => g with { Windows = [W("sat", "00:00", "24:00")] })
            .Source(History.A, History.B).Target(History.OnTarget(History.A), Snap("x", 900, 1000)).Plan();

        result.Instructions.ShouldBeEmpty();
        result.SingleConflict().Kind.ShouldBe(ConflictKind.Diverged);
        result.Statuses.ShouldHaveSingleItem().Status.ShouldBe(DatasetSyncStatus.Conflicted);
    }

    [Fact]
    public void Should_show_an_outstanding_instruction_as_syncing_rather_than_waiting()
    {
        var scenario = Behind();
        var issued = scenario.Plan().SingleInstruction();
        scenario.Records.Add(new InstructionRecord { Instruction = issued with { IssuedAt = Now.AddMinutes(-5), ExpiresAt = Now.AddHours(1) } });
        scenario.With(g => g with { Windows = [W("sat", "00:00", "24:00")] });

        var status = scenario.Plan().Statuses.ShouldHaveSingleItem();
        status.Status.ShouldBe(DatasetSyncStatus.Syncing);
        status.OutstandingInstructions.ShouldBe([issued.InstructionId]);
    }

    [Fact]
    public void Should_not_count_runs_stopped_at_the_window_end_as_failures()
    {
        // Three attempts each stopped at the end of its window (a failure at or after notAfter): no back-off, not blocked.
        var scenario = Behind(W("daily", "10:00", "14:00"));
        var issued = scenario.Plan().SingleInstruction();
        var ends = new[] { Utc(22, 14), Utc(23, 14), Utc(24, 14) };
        scenario.Records.Add(new InstructionRecord
        {
            Instruction = issued with { Attempt = 3, IssuedAt = Utc(24, 10), ExpiresAt = ends[2], NotAfter = ends[2] },
            Failures = [.. ends.Select((end, i) => new InstructionFailure
            {
                Attempt = i + 1, FailedAt = end.AddSeconds(1), ExitCode = -1, Error = "stopped at the window's end; the receive keeps its resume token for the next window",
            })],
        });

        var retry = scenario.Plan().SingleInstruction();

        retry.InstructionId.ShouldBe(issued.InstructionId);
        retry.Attempt.ShouldBe(4);
        retry.NotAfter.ShouldBe(Utc(25, 14));
    }

    [Fact]
    public void Should_count_a_failure_inside_the_window_as_usual()
    {
        var scenario = Behind(W("daily", "10:00", "14:00"));
        var issued = scenario.Plan().SingleInstruction();
        scenario.Records.Add(new InstructionRecord
        {
            Instruction = issued with { IssuedAt = Now.AddMinutes(-30), ExpiresAt = Utc(25, 14), NotAfter = Utc(25, 14) },
            Failures = [new InstructionFailure { Attempt = 1, FailedAt = Now.AddMinutes(-2), ExitCode = 1, Error = "broken pipe" }],
        });

        var result = scenario.Plan();

        result.Instructions.ShouldBeEmpty();
        result.Statuses.ShouldHaveSingleItem().Status.ShouldBe(DatasetSyncStatus.Behind);
    }

    [Fact]
    public void Should_resume_in_the_next_window_a_receive_stopped_at_the_previous_end()
    {
        // The run stopped at yesterday's 14:00 left a resume token on the target; today's window resumes it.
        var scenario = new Scenario().With(g => g with { Windows = [W("daily", "10:00", "14:00")] })
            .Source(Tokens.S1, Tokens.S2)
            .Dataset("backup1", TargetName, [Received(Tokens.S1, 300)], d => d with { ReceiveResumeToken = Tokens.Incremental });

        var instruction = scenario.Plan().SingleInstruction();

        instruction.Kind.ShouldBe(InstructionKind.Resume);
        instruction.NotAfter.ShouldBe(Utc(25, 14));
        instruction.Steps.ShouldHaveSingleItem().Pipeline[0].Argv.ShouldContain("-t");
    }

    [Fact]
    public void Should_wait_send_in_the_window_stop_at_its_end_wait_again_and_resume_in_the_next_window()
    {
        var scenario = new Scenario().With(g => g with { Windows = [W("daily", "22:00", "02:00")] })
            .Source(Tokens.S1, Tokens.S2).Dataset("backup1", TargetName, [Received(Tokens.S1, 300)]);
        PlanResult At(DateTimeOffset now)
        {
            foreach (var host in new[] { "nas1", "backup1" })
            {
                scenario.ReceivedAt[host] = now.AddMinutes(-1);
            }

            return Planner.Plan(scenario.Input() with { Now = now });
        }

        // Midday: closed.
        At(Now).Statuses.ShouldHaveSingleItem().Detail.ShouldBe("next window opens at 2026-11-25 22:00:00Z");

        // In the window: the incremental, to end with the window at 02:00.
        var sent = At(Utc(25, 22, 30)).SingleInstruction();
        sent.Kind.ShouldBe(InstructionKind.Incremental);
        sent.NotAfter.ShouldBe(Utc(26, 2));
        sent.ExpiresAt.ShouldBe(Utc(26, 2));

        // The executor stopped it at 02:00; the target holds the partial receive's token.
        scenario.Records.Add(new InstructionRecord
        {
            Instruction = sent,
            Failures = [new InstructionFailure { Attempt = 1, FailedAt = Utc(26, 2).AddSeconds(2), ExitCode = -1, Error = "stopped at the window's end 2026-11-26 02:00:00Z; the receive keeps its resume token for the next window" }],
        });
        scenario.Dataset("backup1", TargetName, [Received(Tokens.S1, 300)], d => d with { ReceiveResumeToken = Tokens.Incremental });
        scenario.ChangedAt["backup1"] = Utc(26, 2).AddMinutes(1);

        var night = At(Utc(26, 3)).Statuses.ShouldHaveSingleItem();
        night.Status.ShouldBe(DatasetSyncStatus.WaitingForWindow, night.Detail);
        night.Detail.ShouldBe("next window opens at 2026-11-26 22:00:00Z");

        // The next window resumes the receive where it stopped.
        var resumed = At(Utc(26, 22, 5)).SingleInstruction();
        resumed.Kind.ShouldBe(InstructionKind.Resume);
        resumed.Steps.ShouldHaveSingleItem().Pipeline[0].Argv.ShouldBe(["zfs", "send", "-t", Tokens.Incremental]);
        resumed.NotAfter.ShouldBe(Utc(27, 2));
    }

    [Fact]
    public void Should_refuse_to_plan_with_windows_that_do_not_parse()
    {
        var result = Behind(W("someday", "22:00", "06:00")).Plan();

        result.Instructions.ShouldBeEmpty();
        var status = result.Statuses.ShouldHaveSingleItem();
        status.Status.ShouldBe(DatasetSyncStatus.Blocked);
        status.Detail!.ShouldContain("Days \"someday\"");
    }
}
