using Microsoft.Data.Sqlite;
using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;

namespace ZfsSync.Executor.Tests;

/// <summary>
/// The executor's outbox in <c>attempts.db</c> (real SQLite, real processes): an outcome is recorded with the end of its
/// attempt and sent until a send succeeds, once; one a killed executor recorded and never sent goes out at the next
/// start; the run is never repeated; a state directory of an older executor keeps working.
/// </summary>
public sealed class When_an_outcome_cannot_be_sent : IDisposable
{
    private readonly StubZfs _zfs = new();

    public void Dispose() => _zfs.Dispose();

    [Fact]
    public async Task Should_send_the_outcomes_again_in_finishing_order_until_the_broker_takes_them_each_exactly_once()
    {
        var publisher = new FlakyPublisher(failures: 3);
        await using var runner = Instructions.Runner(Instructions.Options(_zfs), publisher);
        using var stop = new CancellationTokenSource();
        var loop = runner.DeliverOutcomesAsync(stop.Token);
        var first = Instructions.Transfer();
        var second = Instructions.Transfer(receiveVerb: "fail");

        var (_, run1) = await runner.HandleAsync(first, default);
        (await run1)!.ExitCode.ShouldBe(0);
        var (_, run2) = await runner.HandleAsync(second, default);
        (await run2)!.ExitCode.ShouldNotBe(0);

        // Sent, then marked sent: wait for both (the mark follows the send).
        await Poll.UntilAsync(() => Task.FromResult(publisher.Published.Count == 2 && runner.UnsentOutcomes == 0), "both outcomes sent and marked sent once the broker is back");
        publisher.Published.Count.ShouldBe(2);
        publisher.Calls.ShouldBe(5, "three failed sends, then one send per outcome");
        var sent = publisher.Published.ToArray();
        sent[0].ShouldBeOfType<SyncInstructionCompleted>().InstructionId.ShouldBe(first.InstructionId);
        ((SyncInstructionCompleted)sent[0]).BytesTransferred.ShouldBe(300000);
        sent[1].ShouldBeOfType<SyncInstructionFailed>().InstructionId.ShouldBe(second.InstructionId);
        ((SyncInstructionFailed)sent[1]).Error.ShouldContain("destination has been modified");
        _zfs.CallLines.Count(l => l.StartsWith("send", StringComparison.Ordinal)).ShouldBe(2, "each run ran once");

        // Sent means sent: a later outcome goes out alone, the earlier ones are not sent again.
        var third = Instructions.Transfer();
        var (_, run3) = await runner.HandleAsync(third, default);
        await run3;
        await Poll.UntilAsync(() => Task.FromResult(publisher.Published.Count >= 3 && runner.UnsentOutcomes == 0), "the third outcome sent and marked sent");
        publisher.Published.Count.ShouldBe(3);
        publisher.Published.Last().ShouldBeOfType<SyncInstructionCompleted>().InstructionId.ShouldBe(third.InstructionId);
        await stop.CancelAsync();
        await Should.ThrowAsync<OperationCanceledException>(loop);
    }

    [Fact]
    public async Task Should_send_at_the_next_start_an_outcome_recorded_before_a_kill_and_never_run_it_again()
    {
        // The kill: the run finished and its outcome was recorded, the process died before the send.
        var instruction = Instructions.Transfer();
        var store = new AttemptStore(_zfs.State);
        store.TryClaim(instruction.InstructionId, 1, instruction.SyncGroup, DateTimeOffset.UtcNow).ShouldBeTrue();
        var finishedAt = DateTimeOffset.UtcNow;
        store.Finish(instruction.InstructionId, 1, "completed", finishedAt, new SyncInstructionCompleted
        {
            InstructionId = instruction.InstructionId,
            Attempt = 1,
            SyncGroup = instruction.SyncGroup,
            ExecutedBy = "backup1-host/backup1",
            CompletedAt = finishedAt,
            BytesTransferred = 1234,
        });
        store.PendingOutcomes().Count.ShouldBe(1);

        var publisher = new RecordingPublisher();
        await using var restarted = Instructions.Runner(Instructions.Options(_zfs), publisher);
        await restarted.ReportCutAttemptsAsync(default);

        var completed = publisher.Published.ShouldHaveSingleItem().ShouldBeOfType<SyncInstructionCompleted>();
        completed.InstructionId.ShouldBe(instruction.InstructionId);
        completed.BytesTransferred.ShouldBe(1234);
        completed.CompletedAt.ShouldBe(finishedAt);
        restarted.UnsentOutcomes.ShouldBe(0);
        var (decision, _) = await restarted.HandleAsync(instruction, default);
        decision.ShouldBe(InstructionRunner.Decision.Duplicate);
        _zfs.CallLines.ShouldBeEmpty();

        // A second start sends nothing again.
        await using var again = Instructions.Runner(Instructions.Options(_zfs), publisher);
        await again.ReportCutAttemptsAsync(default);
        publisher.Published.Count.ShouldBe(1);
    }

    [Fact]
    public async Task Should_report_a_cut_attempt_through_the_outbox_when_the_broker_is_away_at_start()
    {
        var instruction = Instructions.Transfer();
        new AttemptStore(_zfs.State).TryClaim(instruction.InstructionId, 1, instruction.SyncGroup, DateTimeOffset.UtcNow).ShouldBeTrue();
        var publisher = new FlakyPublisher(failures: 1);
        await using var restarted = Instructions.Runner(Instructions.Options(_zfs), publisher);
        using var stop = new CancellationTokenSource();

        await restarted.ReportCutAttemptsAsync(default);
        publisher.Published.ShouldBeEmpty();
        restarted.UnsentOutcomes.ShouldBe(1);
        var loop = restarted.DeliverOutcomesAsync(stop.Token);

        await Poll.UntilAsync(() => Task.FromResult(!publisher.Published.IsEmpty && restarted.UnsentOutcomes == 0), "the cut attempt's failure sent and marked sent");
        publisher.Published.ShouldHaveSingleItem().ShouldBeOfType<SyncInstructionFailed>().Error.ShouldBe("executor restarted during the run");
        new AttemptStore(_zfs.State).StateOf(instruction.InstructionId, 1).ShouldBe("failed");
        await stop.CancelAsync();
        await Should.ThrowAsync<OperationCanceledException>(loop);
    }

    [Fact]
    public async Task Should_open_an_attempts_db_of_an_older_executor_and_lose_nothing()
    {
        var done = Guid.NewGuid();
        var cut = Instructions.Transfer();
        Directory.CreateDirectory(_zfs.State);
        var path = Path.Combine(_zfs.State, "attempts.db");
        using (var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString()))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = $"""
                CREATE TABLE attempts (
                    instruction_id TEXT NOT NULL,
                    attempt INTEGER NOT NULL,
                    sync_group TEXT NOT NULL,
                    state TEXT NOT NULL,
                    claimed_at TEXT NOT NULL,
                    finished_at TEXT,
                    PRIMARY KEY (instruction_id, attempt));
                INSERT INTO attempts VALUES ('{done:D}', 1, 'g1', 'completed', '2026-01-01T00:00:00.0000000+00:00', '2026-01-01T01:00:00.0000000+00:00');
                INSERT INTO attempts VALUES ('{cut.InstructionId:D}', 1, 'g1', 'started', '2026-01-01T00:00:00.0000000+00:00', NULL);
                """;
            command.ExecuteNonQuery();
        }

        var publisher = new RecordingPublisher();
        await using var runner = Instructions.Runner(Instructions.Options(_zfs), publisher);
        await runner.ReportCutAttemptsAsync(default);

        // The old finished attempt keeps its state and is not reported again; the old cut one is reported once.
        var store = new AttemptStore(_zfs.State);
        store.StateOf(done, 1).ShouldBe("completed");
        store.StateOf(cut.InstructionId, 1).ShouldBe("failed");
        publisher.Published.ShouldHaveSingleItem().ShouldBeOfType<SyncInstructionFailed>().InstructionId.ShouldBe(cut.InstructionId);
        (await runner.HandleAsync(cut, default)).Decision.ShouldBe(InstructionRunner.Decision.Duplicate);

        var fresh = Instructions.Transfer();
        var (decision, run) = await runner.HandleAsync(fresh, default);
        decision.ShouldBe(InstructionRunner.Decision.Started);
        (await run)!.ExitCode.ShouldBe(0);
        publisher.Published.OfType<SyncInstructionCompleted>().ShouldHaveSingleItem().InstructionId.ShouldBe(fresh.InstructionId);
        runner.UnsentOutcomes.ShouldBe(0);
    }
}
