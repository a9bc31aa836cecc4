using System.Diagnostics;
using System.Globalization;
using Xunit.Abstractions;
using ZfsSync.Fault.Tests.Support;
using ZfsSync.TestInfrastructure;

namespace ZfsSync.Fault.Tests;

/// <summary>
/// Faults that hit the executor's side: backup1's <c>zfssync-executor</c> (a separate process, pull mode) runs the
/// witness's transfers on the emulated fleet while both hosts report their pools. Every scenario ends with the suite's
/// report accounting (<see cref="FaultWorld.AccountAsync"/>) and the executor's (<see cref="ExecutorFleet.AccountExecutorAsync"/>):
/// each attempt run at most once and reported once, every outcome recorded by the witness, nothing outstanding, and
/// backup1 holding every snapshot of nas1. The SIGKILL scenario (Convergence.Tests kills one executor once, at a fixed
/// point, with no report stream) draws its kill points from a seeded generator whose seed is printed. These scenarios
/// have servers of their own (they stop the broker) and run beside the other collections.
/// </summary>
[Collection(FaultFixture.ExecutorCollection)]
public sealed class When_faults_hit_a_running_executor(FaultFixture fixture, ITestOutputHelper output)
{
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(500);

    private static int Setting(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable("ZFS_SYNC_FAULT_" + name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : fallback;

    private void Report(string scenario, Accounting reports, ExecutorAccounting executor, TimeSpan recovery)
    {
        output.WriteLine($"[fault] {scenario}: {reports}");
        output.WriteLine($"[fault]   executor: {executor}; converged {recovery.TotalSeconds:0.0} s after the fault ended");
    }

    /// <summary>The fleet, a witness, backup1's executor, both hosts online, the report stream under way.</summary>
    private static async Task<(ExecutorFleet Fleet, CancellationTokenSource Stop, Task Stream, Func<bool, bool> Snapshotting)> RunningAsync(
        FaultFixture fixture, string name, int snapshots, IReadOnlyDictionary<string, string>? witnessSettings = null)
    {
        var fleet = await ExecutorFleet.CreateAsync(fixture, name, snapshots);
        foreach (var (key, value) in witnessSettings ?? new Dictionary<string, string>())
        {
            fleet.WitnessSettings[key] = value;
        }

        await fleet.StartWitnessAsync();
        await fleet.StartExecutorAsync();
        var stop = new CancellationTokenSource();
        await fleet.HostsUpAsync(stop.Token);
        var snapshotting = true;
        var stream = Task.Run(() => fleet.StreamAsync(Tick, () => snapshotting, snapshotEvery: 6, stop.Token));
        return (fleet, stop, stream, value => snapshotting = value);
    }

    private static Task UntilSendUnderWayAsync(ExecutorFleet fleet, long bytes) =>
        Poll.UntilAsync(() => Task.FromResult(fleet.SendProgress() >= bytes), $"the throttled zfs send to have written {bytes} bytes", TimeSpan.FromMinutes(2), TimeSpan.FromMilliseconds(100));

    /// <summary>The attempt under way: the newest whose ssh to nas1 carries its context (ZFSSYNC_ATTEMPT).</summary>
    private static string RunningAttempt(ExecutorFleet fleet) =>
        fleet.Fleet.ReadLog().Last(e => e.Tool == "ssh" && e.Host == "nas1" && e.Context is not null).Context!;

    private static async Task<(Accounting Reports, ExecutorAccounting Executor, TimeSpan Converged)> SettleAsync(
        ExecutorFleet fleet, CancellationTokenSource stop, Task stream, Stopwatch sinceFault)
    {
        // Reports keep flowing until the group has converged: the witness plans from them.
        await fleet.WaitConvergedAsync(TimeSpan.FromMinutes(4));
        var converged = sinceFault.Elapsed;
        await stop.CancelAsync();
        await stream;
        await fleet.World.WaitAllAccountedAsync(TimeSpan.FromMinutes(2));
        var reports = await fleet.World.AccountAsync();
        reports.Rejected.ShouldBe(0, fleet.Diagnostics());
        var executor = await fleet.AccountExecutorAsync();
        return (reports, executor, converged);
    }

    [Fact]
    public async Task Should_run_each_attempt_at_most_once_when_the_executor_is_killed_at_random_points_during_transfers()
    {
        var seed = Setting("EXECUTOR_SEED", Environment.TickCount);
        output.WriteLine($"[fault] executor SIGKILL: seed {seed} (ZFS_SYNC_FAULT_EXECUTOR_SEED={seed} repeats these kill points)");
        var random = new Random(seed);
        // A cut attempt is a failed attempt: when the target's partial state did not move since, the witness retries the
        // decision after Planner:RetryBackoff (5 min, tripled per failure) and blocks it after MaxAttempts (3). Those are
        // not what this scenario measures (the kills come in seconds, on purpose): the back-off is 2 s, the limit 10,
        // and a group is planned again 5 s after its last plan (SyncGroupSweep:ReplanAfter, 5 min) when back-offs end.
        var (fleet, stop, stream, snapshotting) = await RunningAsync(fixture, "exec-kill", snapshots: 2, new Dictionary<string, string>
        {
            ["ZFS_SYNC_Planner__RetryBackoff"] = "00:00:02",
            ["ZFS_SYNC_Planner__MaxAttempts"] = "10",
            ["ZFS_SYNC_SyncGroupSweep__ReplanAfter"] = "00:00:05",
        });
        await using var _ = fleet;
        var kills = Setting("EXECUTOR_KILLS", 3);
        var cut = new List<string>();
        var sinceLastKill = Stopwatch.StartNew();
        for (var i = 0; i < kills; i++)
        {
            // The next transfer writes 8 KB a second (an incremental stream of about 64 KB: several seconds).
            fleet.ThrottleNextSend(8192);
            fleet.Snapshot();
            // A run of this executor process under way (not a send left over from the previous, killed one).
            var current = fleet.Executors[^1];
            await Poll.UntilAsync(
                () => Task.FromResult(current.Lines.Any(l => l.Contains("Running instruction", StringComparison.Ordinal)) && fleet.SendProgress() > 0),
                "a run of the current executor and a throttled send under way",
                TimeSpan.FromMinutes(2),
                TimeSpan.FromMilliseconds(100));
            var after = TimeSpan.FromMilliseconds(random.Next(0, 4000));
            await Task.Delay(after); // the seeded kill point, counted from the run's start
            var running = current.Lines.Last(l => l.Contains("Running instruction", StringComparison.Ordinal)).Split("Running instruction ")[1].Split(' ')[0];
            output.WriteLine($"[fault] kill {i + 1}: {after.TotalMilliseconds} ms into a transfer ({fleet.SendProgress()} bytes sent), attempt {running}");
            await fleet.Executors[^1].KillAsync();
            cut.Add(running);
            sinceLastKill.Restart();
            await fleet.StartExecutorAsync();
        }

        snapshotting(false);
        var (reports, executor, converged) = await SettleAsync(fleet, stop, stream, sinceLastKill);
        executor.CutByRestart.ShouldBeGreaterThan(0, "at least one kill cut a run, which the restarted executor reported");
        Report($"executor SIGKILL x{kills} during throttled transfers", reports, executor, converged);
    }

    [Fact]
    public async Task Should_deliver_the_outcome_of_a_run_the_broker_went_away_during_once_it_is_back()
    {
        var seconds = Setting("EXECUTOR_BROKER_OUTAGE_SECONDS", 10);
        var (fleet, stop, stream, snapshotting) = await RunningAsync(fixture, "exec-broker", snapshots: 1);
        await using var _ = fleet;
        snapshotting(false);
        // The next transfer writes 2 KB a second (about 64 KB: it runs through the outage and the broker's start).
        fleet.ThrottleNextSend(2048);
        fleet.Snapshot();
        await UntilSendUnderWayAsync(fleet, 2048);
        var running = RunningAttempt(fleet);

        await fixture.Broker.StopNodeAsync(CancellationToken.None);
        output.WriteLine($"[fault] broker stopped with attempt {running} under way ({fleet.SendProgress()} bytes sent)");
        await Task.Delay(TimeSpan.FromSeconds(seconds)); // the outage
        await fixture.Broker.StartNodeAsync(CancellationToken.None);
        var restarted = Stopwatch.StartNew();
        output.WriteLine($"[fault] broker started again; the send had written {fleet.SendProgress()} bytes");

        await Poll.UntilAsync(
            async () => (await fleet.AttemptsAsync()).Any(a => $"{a.Key.Item1}/{a.Key.Item2}" == running && a.Value.Outcome == "completed"),
            $"the witness to record attempt {running} completed",
            TimeSpan.FromMinutes(3),
            TimeSpan.FromMilliseconds(500));
        output.WriteLine($"[fault] its outcome was recorded {restarted.Elapsed.TotalSeconds:0.0} s after the broker was back");
        var (reports, executor, converged) = await SettleAsync(fleet, stop, stream, restarted);
        fleet.Executors.ShouldAllBe(e => e.State == "running", "the executor reconnected by itself");
        fleet.World.Witnesses.ShouldAllBe(w => !w.HasExited, "the witness reconnected by itself");
        Report($"broker stopped {seconds} s while the executor ran a transfer", reports, executor, converged);
    }

    [Fact]
    public async Task Should_apply_outcomes_reported_while_the_witness_was_down_after_it_restarts()
    {
        var (fleet, stop, stream, snapshotting) = await RunningAsync(fixture, "exec-witness", snapshots: 1);
        await using var _ = fleet;
        snapshotting(false);
        fleet.ThrottleNextSend(8192);
        fleet.Snapshot();
        await UntilSendUnderWayAsync(fleet, 1);
        var running = RunningAttempt(fleet);

        await fleet.World.Witnesses[^1].KillAsync();
        var down = Stopwatch.StartNew();
        output.WriteLine($"[fault] witness SIGKILLed with attempt {running} under way ({fleet.SendProgress()} bytes sent)");
        // The run ends while the witness is away: its outcome waits in the witness's sync-group-state queue.
        await Poll.UntilAsync(() => Task.FromResult(fleet.Runs().Any(r => r[1] == running)), $"the executor to finish attempt {running}", TimeSpan.FromMinutes(2), TimeSpan.FromMilliseconds(250));
        await Poll.UntilAsync(async () => await fleet.QueueDepthAsync("sync-group-state") > 0, "the outcome to wait in sync-group-state", TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(250));
        var waiting = await fleet.QueueDepthAsync("sync-group-state");
        output.WriteLine($"[fault] the run ended {down.Elapsed.TotalSeconds:0.0} s into the outage; {waiting} message(s) wait in sync-group-state");
        (await fleet.AttemptsAsync()).Single(a => $"{a.Key.Item1}/{a.Key.Item2}" == running).Value.Outcome.ShouldBeNull("no witness has taken the outcome yet");

        await fleet.StartWitnessAsync();
        var restarted = Stopwatch.StartNew();
        await Poll.UntilAsync(
            async () => (await fleet.AttemptsAsync()).Any(a => $"{a.Key.Item1}/{a.Key.Item2}" == running && a.Value.Outcome == "completed"),
            $"the restarted witness to record attempt {running} completed",
            TimeSpan.FromMinutes(2),
            TimeSpan.FromMilliseconds(250));
        output.WriteLine($"[fault] the restarted witness recorded it {restarted.Elapsed.TotalSeconds:0.0} s after its start (witness down {down.Elapsed.TotalSeconds:0.0} s)");
        var (reports, executor, converged) = await SettleAsync(fleet, stop, stream, restarted);
        Report("witness SIGKILLed while the executor ran a transfer, restarted after its outcome was sent", reports, executor, converged);
    }
}
