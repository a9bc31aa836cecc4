using MassTransit;
using Microsoft.Extensions.Logging;
using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Core.Planning;
using ZfsSync.Witness.Worker.Persistence;
using ZfsSync.Witness.Worker.Tests.Support;
using static ZfsSync.Witness.Worker.Tests.Groups.GroupSagaScenario;

namespace ZfsSync.Witness.Worker.Tests.Groups;

/// <summary>An operator's pause of a sync group (PauseSyncGroup, ResumeSyncGroup, ReplanSyncGroup) in the saga, on the real databases.</summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class When_an_operator_pauses_a_group(InfrastructureFixture infrastructure)
{
    private static Task<Response<SyncGroupCommandAccepted, SyncGroupCommandRejected>> CommandAsync<T>(GroupSagaScenario scenario, T command)
        where T : class => scenario.Harness.GetRequestClient<T>().GetResponse<SyncGroupCommandAccepted, SyncGroupCommandRejected>(command);

    private static async Task<SyncGroupCommandAccepted> AcceptedAsync<T>(GroupSagaScenario scenario, T command)
        where T : class
    {
        var response = await CommandAsync(scenario, command);
        response.Is(out Response<SyncGroupCommandRejected>? rejected).ShouldBeFalse(rejected?.Message.Reason);
        response.Is(out Response<SyncGroupCommandAccepted>? accepted).ShouldBeTrue();
        return accepted!.Message;
    }

    private static async Task<SyncGroupStatusEntry> StatusAsync(GroupSagaScenario scenario) =>
        (await scenario.RequestAsync<GetSyncGroupStatus, SyncGroupStatusReport>(new GetSyncGroupStatus { SyncGroup = Group })).Groups.ShouldHaveSingleItem();

    [Theory]
    [InlineData("postgresql")]
    [InlineData("sqlite")]
    public async Task Should_issue_nothing_while_paused_keep_the_flag_across_a_restart_and_issue_at_once_on_resume(string provider)
    {
        var first = await StartAsync(infrastructure, provider: provider);
        await using var _ = first;
        await first.ConfigureAsync();
        await first.ReportAsync("nas1", Source(S1, S2));

        var paused = await AcceptedAsync(first, new PauseSyncGroup { SyncGroup = Group, RequestedByName = "alice", Note = "disk swap on backup1, INC-7" });
        (paused.Paused, paused.PausedBy, paused.PausedAt, paused.RequestedBy).ShouldBe((true, OperatorUser, first.Time.GetUtcNow(), OperatorUser));
        paused.Detail.ShouldContain("nothing new is issued until resumed");

        // The target reports an empty dataset: a full send is due, and withheld.
        first.Time.Advance(TimeSpan.FromMinutes(1));
        await first.ReportAsync("backup1", EmptyTarget());
        (await first.SentAsync<SyncInstructionIssued>()).ShouldBeEmpty("a paused group issues nothing");
        (await first.AttemptsAsync()).ShouldBeEmpty();
        var state = await first.StateAsync(m => m.OutOfSync);
        state.OutstandingInstructions.ShouldBe(0);
        var status = await StatusAsync(first);
        (status.Paused, status.PausedBy, status.PausedByName, status.PauseNote).ShouldBe((true, OperatorUser, "alice", "disk swap on backup1, INC-7"));
        status.PausedAt.ShouldBe(paused.PausedAt);
        status.Status.ShouldBe(SyncGroupStatus.OutOfSync, "the pause does not hide what the group needs");
        var dataset = status.Datasets.ShouldHaveSingleItem();
        dataset.Status.ShouldBe(DatasetSyncStatus.Behind);
        dataset.OutstandingInstructions.ShouldBeEmpty();
        dataset.Detail.ShouldNotBeNull().ShouldContain("nothing issued: the group is paused by operator (alice)");

        // Replan: accepted, planned, nothing issued, and the answer says why.
        var replan = await AcceptedAsync(first, new ReplanSyncGroup { SyncGroup = Group, RequestedByName = "alice" });
        (replan.Paused, replan.InstructionsIssued, replan.InstructionsWithheld, replan.Status).ShouldBe((true, 0, 1, SyncGroupStatus.OutOfSync));
        replan.Detail.ShouldContain("nothing was issued");
        (await first.SentAsync<SyncInstructionIssued>()).ShouldBeEmpty();

        // Pausing again changes nothing (who and since when stay).
        var again = await AcceptedAsync(first, new PauseSyncGroup { SyncGroup = Group, RequestedByName = "bob", Note = "other" });
        again.Detail.ShouldStartWith("already paused by operator (alice)");
        (await StatusAsync(first)).PauseNote.ShouldBe("disk swap on backup1, INC-7");

        // The witness restarts: a new bus and saga repository on the same rows. Still paused.
        await first.StopAsync();
        await using var second = await StartAsync(infrastructure, provider: provider, database: first.Database, now: first.Time.GetUtcNow() + TimeSpan.FromMinutes(5));
        await second.DeliverAsync(new GroupHostStatusChanged { SyncGroup = Group, HostId = "backup1", Status = HostStatus.Online });
        (await second.SentAsync<SyncInstructionIssued>()).ShouldBeEmpty("still paused after the restart");
        (await StatusAsync(second)).Paused.ShouldBeTrue();

        // Resume: planned at once, the full send goes out.
        var resumed = await AcceptedAsync(second, new ResumeSyncGroup { SyncGroup = Group, RequestedByName = "alice", Note = "done" });
        (resumed.Paused, resumed.PausedBy, resumed.InstructionsIssued, resumed.InstructionsWithheld).ShouldBe((false, null, 1, 0));
        var instruction = (await second.SentAsync<SyncInstructionIssued>()).ShouldHaveSingleItem().Message;
        (instruction.Kind, instruction.Attempt).ShouldBe((InstructionKind.Full, 1));
        var after = await StatusAsync(second);
        (after.Paused, after.PausedBy, after.PausedAt, after.PauseNote).ShouldBe((false, null, null, null));
        after.Datasets.ShouldHaveSingleItem().Status.ShouldBe(DatasetSyncStatus.Syncing);

        // The timeline has the pause (once: the second pause changed nothing) and the resume, newest first, by whom and why.
        var history = await second.RequestAsync<GetSyncGroupHistory, SyncGroupHistory>(
            new GetSyncGroupHistory { SyncGroup = Group, Kinds = [HistoryEntryKind.Paused, HistoryEntryKind.Resumed] });
        history.Entries.Select(e => e.Kind).ShouldBe([HistoryEntryKind.Resumed, HistoryEntryKind.Paused]);
        history.Entries.ShouldAllBe(e => e.By == OperatorUser);
        history.Entries[1].Detail.ShouldNotBeNull().ShouldContain("disk swap on backup1, INC-7");
        history.Entries[0].Detail.ShouldNotBeNull().ShouldContain("resumed (alice): done");
    }

    [Fact]
    public async Task Should_not_retry_while_paused_yet_record_the_outcome_and_retry_on_resume()
    {
        await using var scenario = await StartAsync(infrastructure, planner: new PlannerOptions { RetryBackoff = TimeSpan.FromMinutes(5), BackoffFactor = 3 });
        await scenario.ConfigureAsync();
        await scenario.ReportAsync("nas1", Source(S1, S2));
        await scenario.ReportAsync("backup1", EmptyTarget());
        var first = (await scenario.SentAsync<SyncInstructionIssued>()).ShouldHaveSingleItem().Message;
        scenario.Time.Advance(TimeSpan.FromMinutes(1));

        var paused = await AcceptedAsync(scenario, new PauseSyncGroup { SyncGroup = Group, RequestedByName = "alice" });
        paused.Detail.ShouldContain("1 outstanding instruction(s) stay outstanding");
        (await scenario.RequestAsync<GetOutstandingInstructions, OutstandingInstructions>(new GetOutstandingInstructions { SyncGroup = Group }))
            .Instructions.ShouldHaveSingleItem().InstructionId.ShouldBe(first.InstructionId, "the outstanding instruction stays outstanding");

        // The attempt fails while paused: the outcome is recorded, and past the back-off nothing is retried.
        await scenario.DeliverAsync(new SyncInstructionFailed
        {
            InstructionId = first.InstructionId,
            Attempt = 1,
            SyncGroup = Group,
            ExecutedBy = "cron",
            ExitCode = 1,
            Error = "boom",
            FailedAt = scenario.Time.GetUtcNow(),
        });
        (await scenario.AttemptsAsync()).ShouldHaveSingleItem().Outcome.ShouldBe(InstructionOutcomes.Failed);
        scenario.Time.Advance(TimeSpan.FromMinutes(10));
        await scenario.NudgeAsync();
        var replan = await AcceptedAsync(scenario, new ReplanSyncGroup { SyncGroup = Group, RequestedByName = "alice" });
        (replan.InstructionsIssued, replan.InstructionsWithheld).ShouldBe((0, 1));
        (await scenario.SentAsync<SyncInstructionIssued>()).Count.ShouldBe(1, "no retry while paused");

        var resumed = await AcceptedAsync(scenario, new ResumeSyncGroup { SyncGroup = Group, RequestedByName = "alice" });
        resumed.InstructionsIssued.ShouldBe(1);
        (await scenario.SentAsync<SyncInstructionIssued>()).Select(s => (s.Message.InstructionId, s.Message.Attempt))
            .ShouldBe([(first.InstructionId, 1), (first.InstructionId, 2)], "the retry goes out once resumed");
    }

    [Fact]
    public async Task Should_reject_a_command_from_a_non_operator_or_for_an_unknown_group_and_change_nothing()
    {
        await using var scenario = await StartAsync(infrastructure);
        await scenario.ConfigureAsync();
        await scenario.ReportAsync("nas1", Source(S1, S2));
        var before = await scenario.StateAsync(m => m.Waiting);

        scenario.Sender.User = "viewer";
        foreach (var command in new object[]
        {
            new PauseSyncGroup { SyncGroup = Group, RequestedByName = "mallory" },
            new ResumeSyncGroup { SyncGroup = Group, RequestedByName = "mallory" },
            new ReplanSyncGroup { SyncGroup = Group, RequestedByName = "mallory" },
        })
        {
            var response = command switch
            {
                PauseSyncGroup p => await CommandAsync(scenario, p),
                ResumeSyncGroup r => await CommandAsync(scenario, r),
                ReplanSyncGroup r => await CommandAsync(scenario, r),
                _ => throw new InvalidOperationException(),
            };
            response.Is(out Response<SyncGroupCommandRejected>? rejected).ShouldBeTrue(command.GetType().Name);
            rejected!.Message.Command.ShouldBe(command.GetType().Name);
            rejected.Message.Reason.ShouldBe("not an operator: RabbitMQ user \"viewer\" is not one of the witness's Operators");
        }

        scenario.Sender.User = null;
        var anonymous = await CommandAsync(scenario, new PauseSyncGroup { SyncGroup = Group, RequestedByName = "operator" });
        anonymous.Is(out Response<SyncGroupCommandRejected>? noUser).ShouldBeTrue();
        noUser!.Message.Reason.ShouldStartWith("not an operator: the request carries no validated user-id");

        var after = await scenario.StateAsync(m => m.Waiting);
        (after.PausedAt, after.PausedBy, after.PausedByName, after.PauseNote).ShouldBe((null, null, null, null), "a rejected command changes nothing");
        after.PlannedAt.ShouldBe(before.PlannedAt, "a rejected replan plans nothing");

        scenario.Sender.User = OperatorUser;
        var unknown = await CommandAsync(scenario, new PauseSyncGroup { SyncGroup = "no-such-group", RequestedByName = "alice" });
        unknown.Is(out Response<SyncGroupCommandRejected>? missing).ShouldBeTrue();
        missing!.Message.Reason.ShouldBe("unknown sync group: the witness has no sync group \"no-such-group\"");
    }
}

/// <summary>A maintenance command that cannot be read, sent as raw JSON on the real broker.</summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class When_a_group_command_cannot_be_read(InfrastructureFixture infrastructure)
{
    [Fact]
    public async Task Should_answer_it_at_its_reply_address_and_keep_it_in_the_error_queue()
    {
        await using var world = await WitnessWorld.CreateAsync(infrastructure, ["nas1", "backup1"]);
        var logs = new LogCapture();
        await world.StartWitnessAsync(logs: logs);

        var urn = "urn:message:ZfsSync.Contracts:PauseSyncGroup";
        var routed = await world.Vhost.PublishViaManagementApiAsync(
            "ZfsSync.Contracts:PauseSyncGroup",
            $$"""{"syncGroup":"{{WitnessWorld.Group}}","requestedByName":["not","text"]}""",
            new Dictionary<string, object>
            {
                ["content_type"] = "application/json",
                ["type"] = urn,
                ["headers"] = new Dictionary<string, object>
                {
                    ["MT-MessageType"] = urn,
                    ["MT-Response-Address"] = "queue:RecordingSubscriber",
                    ["MT-Request-Id"] = Guid.NewGuid().ToString(),
                },
            });
        routed.ShouldBeTrue();

        await world.UntilReceivedAsync<SyncGroupCommandRejected>(l => l.Count == 1, "the rejection of the malformed command");
        var rejected = world.Received.Of<SyncGroupCommandRejected>().Single();
        (rejected.Command, rejected.SyncGroup).ShouldBe(("PauseSyncGroup", WitnessWorld.Group));
        rejected.Reason.ShouldStartWith("the message could not be read");
        logs.Contains(LogLevel.Warning, "Rejected a malformed PauseSyncGroup").ShouldBeTrue();
        await Poll.UntilAsync(async () => await world.Vhost.QueueMessageCountAsync("sync-group-state_error") == 1, "the malformed command in the error queue");
    }
}
