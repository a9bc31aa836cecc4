using System.Diagnostics;
using System.Globalization;
using Xunit.Abstractions;
using ZfsSync.Contracts;
using ZfsSync.Fault.Tests.Support;
using ZfsSync.TestInfrastructure;

namespace ZfsSync.Fault.Tests;

/// <summary>
/// The witness and the reporter streams as separate processes / connections against a RabbitMQ node and a PostgreSQL
/// server of the suite's own, with faults injected while reports flow. Every scenario ends with the same accounting
/// (<see cref="FaultWorld.AccountAsync"/>): sent = applied + ignored + rejected with a reason, nothing lost, no
/// instruction attempt published with two contents. Outage lengths come from <c>ZFS_SYNC_FAULT_*</c> variables
/// (defaults: what the reliability table states); random kill points from a seeded generator whose seed is printed.
/// </summary>
[Collection(FaultFixture.Collection)]
public sealed class When_faults_hit_a_running_witness(FaultFixture fixture, ITestOutputHelper output)
{
    internal static readonly TimeSpan Pace = TimeSpan.FromMilliseconds(50);

    internal static int Setting(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable("ZFS_SYNC_FAULT_" + name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : fallback;

    private void Report(string scenario, Accounting accounting, TimeSpan? recovery = null, FaultWorld? world = null) =>
        Report(output, scenario, accounting, recovery, world);

    internal static void Report(ITestOutputHelper output, string scenario, Accounting accounting, TimeSpan? recovery = null, FaultWorld? world = null)
    {
        output.WriteLine($"[fault] {scenario}: {accounting}{(recovery is { } r ? $"; all accounted for {r.TotalSeconds:0.0} s after the fault ended (or the burst was sent)" : "")}");
        var failures = world?.FailureLines() ?? [];
        output.WriteLine($"[fault]   witness log: {failures.Count} failure line(s)");
        foreach (var line in failures.Take(5))
        {
            output.WriteLine("[fault]     " + line);
        }
    }

    /// <summary>Starts a witness, brings both hosts online and streams nas1's reports in the background.</summary>
    internal static async Task<(WitnessProcess Witness, CancellationTokenSource Stop, Task Stream)> RunningAsync(
        FaultWorld world, IReadOnlyDictionary<string, string>? overrides = null, TimeSpan? pace = null)
    {
        var witness = await world.StartWitnessAsync(overrides);
        var stop = new CancellationTokenSource();
        await world.HostsUpAsync(stop.Token);
        var stream = Task.Run(() => world.StreamAsync(pace ?? Pace, stop.Token));
        return (witness, stop, stream);
    }

    /// <summary>The database stopped for <paramref name="seconds"/> under a report stream, with the default budget.</summary>
    internal static async Task PostgreSqlOutageAsync(FaultFixture fixture, ITestOutputHelper output, string scenario, int seconds, TimeSpan pace)
    {
        await using var world = await FaultWorld.CreateAsync(fixture, scenario);
        var (_, stop, stream) = await RunningAsync(world, pace: pace);
        await Task.Delay(TimeSpan.FromSeconds(3)); // load before the fault

        await fixture.Postgres.StopServerAsync(CancellationToken.None);
        await Task.Delay(TimeSpan.FromSeconds(seconds)); // the outage
        await fixture.Postgres.StartServerAsync(CancellationToken.None);
        var restarted = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(3)); // load after the fault
        await stop.CancelAsync();
        await stream;

        await world.WaitAllAccountedAsync(TimeSpan.FromMinutes(3));
        var recovery = restarted.Elapsed;
        var accounting = await world.AccountAsync();
        accounting.Rejected.ShouldBe(0);
        Report(output, $"PostgreSQL stopped {seconds} s, default budget", accounting, recovery, world);
    }

    [Fact]
    public Task Should_wait_out_a_30_second_database_outage_with_nothing_in_an_error_queue() =>
        PostgreSqlOutageAsync(fixture, output, "pg-short", Setting("PG_OUTAGE_SECONDS", 30), Pace);

    [Fact]
    public async Task Should_replay_what_an_outage_past_a_lowered_budget_dead_lettered()
    {
        var budget = Setting("LOWERED_BUDGET_SECONDS", 20);
        await using var world = await FaultWorld.CreateAsync(fixture, "pg-budget");
        var (_, stop, stream) = await RunningAsync(world, new Dictionary<string, string>
        {
            ["ZFS_SYNC_Resilience__TransientFaultBudget"] = TimeSpan.FromSeconds(budget).ToString("c", CultureInfo.InvariantCulture),
            ["ZFS_SYNC_Resilience__KillSwitchRestartTimeout"] = "00:00:10",
        });
        await Task.Delay(TimeSpan.FromSeconds(3)); // load before the fault

        await fixture.Postgres.StopServerAsync(CancellationToken.None);
        // The outage lasts until the budget has run out for some messages: they reach an _error queue.
        await Poll.UntilAsync(async () => (await world.ErrorQueuesAsync()).Values.Sum(v => (long)v) > 0, "messages dead-lettered past the budget", TimeSpan.FromSeconds(budget + 60), TimeSpan.FromMilliseconds(500));
        await fixture.Postgres.StartServerAsync(CancellationToken.None);
        await stop.CancelAsync();
        await stream;
        await Poll.UntilAsync(async () => (await world.ErrorQueuesAsync()).Values.Sum(v => (long)v) > 0, "messages dead-lettered past the budget", TimeSpan.FromSeconds(30));
        var deadLettered = await world.ErrorQueuesAsync();

        // The documented command, as an operator runs it: the witness's binary with the witness's configuration.
        var replay = Stopwatch.StartNew();
        using var process = Process.Start(WitnessProcess.StartInfo(world.Environment(), "replay-errors"))!;
        var replayOutput = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        process.ExitCode.ShouldBe(0, replayOutput + await process.StandardError.ReadToEndAsync());

        await world.WaitAllAccountedAsync(TimeSpan.FromMinutes(3));
        var accounting = await world.AccountAsync();
        accounting.Rejected.ShouldBe(0, "replayed reports keep their user-id: ReportsAs accepts them");
        output.WriteLine($"[fault] dead-lettered past a {budget} s budget: {string.Join(", ", deadLettered.Where(e => e.Value > 0).Select(e => $"{e.Key} {e.Value}"))}");
        output.WriteLine($"[fault] replay-errors: {replayOutput.ReplaceLineEndings(" | ")}");
        Report($"PostgreSQL stopped {budget + 15} s, budget {budget} s, then replay-errors", accounting, replay.Elapsed, world);
    }

    [Fact]
    public async Task Should_lose_nothing_when_the_witness_is_killed_at_random_points()
    {
        var seed = Setting("SEED", Environment.TickCount);
        output.WriteLine($"[fault] witness SIGKILL: seed {seed} (ZFS_SYNC_FAULT_SEED={seed} repeats these kill points)");
        var random = new Random(seed);
        await using var world = await FaultWorld.CreateAsync(fixture, "sigkill");
        var (witness, stop, stream) = await RunningAsync(world);
        var kills = Setting("KILLS", 3);
        var restarts = new List<double>();
        for (var i = 0; i < kills; i++)
        {
            var after = TimeSpan.FromMilliseconds(random.Next(500, 4000));
            output.WriteLine($"[fault] kill {i + 1} after {after.TotalMilliseconds} ms");
            await Task.Delay(after); // the seeded kill point
            await witness.KillAsync();
            var watch = Stopwatch.StartNew();
            witness = await world.StartWitnessAsync();
            restarts.Add(watch.Elapsed.TotalSeconds);
        }

        await Task.Delay(TimeSpan.FromSeconds(2)); // load after the last restart
        await stop.CancelAsync();
        await stream;
        var drained = await world.WaitAllAccountedAsync(TimeSpan.FromMinutes(2));
        var accounting = await world.AccountAsync();
        accounting.Rejected.ShouldBe(0);
        output.WriteLine($"[fault] restarts took {string.Join(", ", restarts.Select(r => r.ToString("0.0", CultureInfo.InvariantCulture)))} s");
        Report($"witness SIGKILL x{kills}", accounting, drained, world);
    }

    [Fact]
    public async Task Should_reconnect_by_itself_after_the_broker_was_stopped_and_started()
    {
        var seconds = Setting("BROKER_OUTAGE_SECONDS", 20);
        await using var world = await FaultWorld.CreateAsync(fixture, "broker");
        var (_, stop, stream) = await RunningAsync(world);
        await Task.Delay(TimeSpan.FromSeconds(3)); // load before the fault

        await fixture.Broker.StopNodeAsync(CancellationToken.None);
        await Task.Delay(TimeSpan.FromSeconds(seconds)); // the outage
        await fixture.Broker.StartNodeAsync(CancellationToken.None);
        var restarted = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(3)); // load after the fault
        await stop.CancelAsync();
        await stream;

        await world.WaitAllAccountedAsync(TimeSpan.FromMinutes(2));
        var recovery = restarted.Elapsed;
        var accounting = await world.AccountAsync();
        accounting.Rejected.ShouldBe(0);
        world.Witnesses.ShouldAllBe(w => !w.HasExited, "the witness reconnected by itself");
        Report($"broker stopped {seconds} s", accounting, recovery, world);
    }

    [Fact]
    public async Task Should_lose_nothing_when_the_cluster_node_the_witness_is_connected_to_is_killed()
    {
        var forming = Stopwatch.StartNew();
        await using var cluster = await fixture.StartClusterAsync();
        output.WriteLine($"[fault] three-node cluster formed in {forming.Elapsed.TotalSeconds:0.0} s");
        await using var world = await FaultWorld.CreateAsync(fixture, "cluster", cluster);
        var (_, stop, stream) = await RunningAsync(world);
        await Task.Delay(TimeSpan.FromSeconds(3)); // load before the fault

        var victim = await world.WitnessNodeAsync();
        var survivor = cluster.Nodes.First(n => n != victim);
        var connections = (await FaultWorld.WitnessConnectionsAsync(survivor)).Count;
        output.WriteLine($"[fault] cluster of {string.Join(", ", cluster.Addresses)}: SIGKILL to {victim.NodeName} (port {victim.Port}), the witness's node, after {world.Sent.Count} reports");
        await victim.KillAsync();
        var killed = Stopwatch.StartNew();
        await Poll.UntilAsync(
            async () => await FaultWorld.WitnessConnectionsAsync(survivor) is var ports && ports.Count >= connections && !ports.Contains(victim.Port),
            "the witness reconnected to another node",
            TimeSpan.FromMinutes(1));
        var moved = killed.Elapsed;
        output.WriteLine($"[fault] the witness's {connections} connection(s) were on other nodes {moved.TotalSeconds:0.0} s after the kill");
        await Task.Delay(TimeSpan.FromSeconds(3)); // load after the fault
        await stop.CancelAsync();
        await stream;

        await world.WaitAllAccountedAsync(TimeSpan.FromMinutes(2));
        var recovery = killed.Elapsed;
        var accounting = await world.AccountAsync();
        accounting.Rejected.ShouldBe(0);
        world.Witnesses.ShouldAllBe(w => !w.HasExited, "the witness reconnected to another node by itself");
        (await world.WitnessNodeAsync(survivor)).ShouldNotBe(victim);
        var types = await world.QueueTypesAsync(survivor);
        foreach (var queue in FaultWorld.WitnessQueues.Where(types.ContainsKey).Concat([FaultWorld.ProbeQueue]))
        {
            types[queue].ShouldBe("quorum", $"{queue} must survive the loss of a node");
        }

        Report($"cluster node the witness used SIGKILLed ({victim.NodeName})", accounting, recovery, world);
    }

    [Fact]
    public async Task Should_apply_only_the_newest_of_reports_delivered_three_times_in_reverse_order()
    {
        await using var world = await FaultWorld.CreateAsync(fixture, "reverse");
        await world.StartWitnessAsync();
        await world.HostsUpAsync(CancellationToken.None);
        var reports = Enumerable.Range(0, 40).Select(_ => world.NextSourceReport()).ToList();

        foreach (var report in Enumerable.Reverse(reports))
        {
            for (var copy = 0; copy < 3; copy++)
            {
                await world.SendAsync(world.Nas1, report, CancellationToken.None);
            }
        }

        await world.WaitAllAccountedAsync(TimeSpan.FromMinutes(1));
        var accounting = await world.AccountAsync();
        var processed = await world.ProcessedAsync();
        processed[reports[^1].ReportId].ShouldBe("applied");
        // The ingest endpoint consumes several messages at once (prefetch), so an older report can reach the host's
        // row lock before a newer one and be applied first; once a newer one is in, every older one is ignored. What
        // must hold: each copy accounted for once, none lost, and the stored state is the newest report's.
        reports.SkipLast(1).ShouldAllBe(r => processed[r.ReportId] == "ignored-out-of-order" || processed[r.ReportId] == "applied");
        (await world.ScalarAsync("""SELECT max("Sequence") FROM processed_reports WHERE "HostId" = 'nas1' AND "Outcome" = 'applied'""")).ShouldBe(reports[^1].Sequence);
        (await world.ScalarAsync("""SELECT count(*) FROM snapshots s JOIN datasets d ON d."Id" = s."DatasetId" WHERE d."HostId" = 'nas1'""")).ShouldBe(40);
        (await world.ScalarAsync("""SELECT count(*) FROM processed_reports WHERE "HostId" = 'nas1'""")).ShouldBe(40, "each report recorded once, its copies ignored");
        Report("40 reports, each delivered 3 times, newest first", accounting);
    }

    [Fact]
    public async Task Should_reject_bad_inputs_with_a_reason_and_store_nothing_for_undeclared_hosts()
    {
        await using var world = await FaultWorld.CreateAsync(fixture, "bad-inputs");
        await world.StartWitnessAsync();
        await world.HostsUpAsync(CancellationToken.None);
        var good = world.NextSourceReport();
        var year9999 = world.NextSourceReport() with { CapturedAt = new DateTimeOffset(9999, 12, 31, 23, 59, 59, TimeSpan.Zero) };
        var maxSequence = world.NextSourceReport() with { Sequence = long.MaxValue };
        var sameTxg = world.NextSourceReport() with
        {
            Datasets = [new DatasetInventory { Name = "tank/data", Snapshots = [FaultWorld.Snapshot(1), FaultWorld.Snapshot(2) with { CreateTxg = 101 }] }],
        };
        var bookmark = world.NextSourceReport() with
        {
            Datasets = [new DatasetInventory { Name = "tank/data", Snapshots = [FaultWorld.Snapshot(1)], Bookmarks = [new BookmarkInfo { Name = "b", Guid = 1_000_001, CreateTxg = 7 }] }],
        };
        foreach (var report in new[] { year9999, maxSequence, sameTxg, bookmark, good })
        {
            await world.SendAsync(world.Nas1, report, CancellationToken.None);
        }

        for (var i = 0; i < 20; i++)
        {
            await world.Nas1.PublishAsync(new Heartbeat { HostId = $"made-up-{i}", SentAt = DateTimeOffset.UtcNow, IntervalSeconds = 60, Os = "linux" }, CancellationToken.None);
        }

        await Poll.UntilAsync(
            async () =>
            {
                // Every sent report answered: backup1's first one too, which may still be in flight when nas1's are done.
                var processed = await world.ProcessedAsync();
                return processed.ContainsKey(good.ReportId)
                    && world.Sent.Keys.Count(processed.ContainsKey) + await world.ProbeRejectionsAsync() >= world.Sent.Count;
            },
            "every sent report applied or rejected",
            TimeSpan.FromSeconds(90));
        var accounting = await world.AccountAsync();
        accounting.Rejected.ShouldBe(4);
        accounting.Applied.ShouldBe(2, "backup1's report and the good one");
        (await world.ScalarAsync("""SELECT count(*) FROM hosts WHERE "HostId" LIKE 'made-up-%'""")).ShouldBe(0);
        (await world.ScalarAsync("""SELECT "LastSequence" FROM hosts WHERE "HostId" = 'nas1'""")).ShouldBe(good.Sequence, "the sequence 2^63-1 did not lock nas1 out");
        Report("bad inputs (future capturedAt and sequence, two snapshots in one txg, a contradicting bookmark, 20 undeclared heartbeats)", accounting);
    }

    [Fact]
    public async Task Should_process_one_burst_exactly_once_with_two_witness_replicas()
    {
        await using var world = await FaultWorld.CreateAsync(fixture, "replicas");
        await Task.WhenAll(world.StartWitnessAsync(), world.StartWitnessAsync()); // side by side: neither waits for the other's start
        await world.HostsUpAsync(CancellationToken.None);

        for (var i = 0; i < 300; i++)
        {
            await world.SendAsync(world.Nas1, world.NextSourceReport(), CancellationToken.None);
        }

        var drained = await world.WaitAllAccountedAsync(TimeSpan.FromMinutes(2));
        var accounting = await world.AccountAsync();
        accounting.Rejected.ShouldBe(0);
        Report("two witness replicas, one burst of 300 reports", accounting, drained);
    }
}

/// <summary>
/// The 3-minute database outage on servers of its own (its own PostgreSQL and RabbitMQ node): most of it is waiting, so
/// it runs beside the other collections instead of after them.
/// </summary>
[Collection(FaultFixture.LongOutageCollection)]
public sealed class When_the_database_is_away_for_minutes(FaultFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public Task Should_wait_out_a_3_minute_database_outage_with_nothing_in_an_error_queue() =>
        When_faults_hit_a_running_witness.PostgreSqlOutageAsync(
            fixture, output, "pg-long", When_faults_hit_a_running_witness.Setting("PG_LONG_OUTAGE_SECONDS", 180), TimeSpan.FromMilliseconds(200));
}
