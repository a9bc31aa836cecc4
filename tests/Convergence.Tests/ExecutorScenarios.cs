using ZfsSync.Contracts;
using ZfsSync.Convergence.Tests.Support;
using ZfsSync.TestInfrastructure;

namespace ZfsSync.Convergence.Tests;

/// <summary>
/// The executor program's own guarantees on the emulated fleet: two executors of one host run each attempt once, an
/// executor killed mid-transfer reports the cut attempt when it starts again and the re-issued attempt resumes from
/// the receive's token, a transfer whose ssh stalls is expired as hung, killed and resumed, and a dry run runs and
/// reports nothing.
/// </summary>
[Collection(Collections.A)]
public sealed class ExecutorScenarios(InfrastructureFixture infrastructure)
{
    private static readonly Dictionary<string, string> ToBackup = new() { ["backup1"] = "emu-backup/data" };

    private static async Task<ConvergenceWorld> NasAndBackupAsync(InfrastructureFixture infrastructure, int snapshots)
    {
        var world = await ConvergenceWorld.CreateAsync(infrastructure);
        world.AddHost(new EmulatedHost("nas1", "emu-tank") { Sudo = true });
        world.AddHost(new EmulatedHost("backup1", "emu-backup"));
        world.Zfs("nas1", "create", "-p", "emu-tank/data");
        for (var i = 1; i <= snapshots; i++)
        {
            world.Zfs("nas1", "snapshot", $"emu-tank/data@auto-{i:D3}");
        }

        world.PrimaryGroup("nas1", "emu-tank/data", ToBackup);
        return world;
    }

    [Fact]
    public async Task Two_executors_of_one_host_run_each_attempt_once_even_when_it_is_delivered_again()
    {
        await using var world = await NasAndBackupAsync(infrastructure, 2);
        await world.StartAllAsync();
        // A second executor of backup1: the same broker user (competing consumers on one inbox), the same state directory.
        await world.StartExecutorAsync("backup1", "-2");
        await world.ConvergedAsync("nas1", "emu-tank/data", ToBackup);

        // The first attempt delivered again (as a broker redelivery or a witness replica would): neither executor runs it.
        var first = world.Seen.Issued.First();
        await world.PublishAsWitnessAsync(first);
        await world.PublishAsWitnessAsync(first);
        var id = $"{first.InstructionId}/{first.Attempt}";
        await world.UntilAsync(
            () => Task.FromResult(Taken(world.LogOf("executor-backup1")) + Taken(world.LogOf("executor-backup1-2")) >= 2),
            "both copies to be found already taken");
        world.Zfs("nas1", "snapshot", "emu-tank/data@auto-003");
        world.Zfs("nas1", "snapshot", "emu-tank/data@auto-004");
        await world.ConvergedAsync("nas1", "emu-tank/data", ToBackup);

        var attempts = world.Seen.Issued.Select(i => $"{i.InstructionId}/{i.Attempt}").Distinct().ToList();
        attempts.Count.ShouldBeGreaterThan(1, world.Diagnostics());
        foreach (var attempt in attempts)
        {
            world.ExecutedCommands().Count(e => e.Context == attempt && e.Argv[0] is "receive" or "recv").ShouldBeLessThanOrEqualTo(1, $"attempt {attempt} received once\n{world.Diagnostics()}");
        }

        world.Seen.Outcomes.GroupBy(o => (o.InstructionId, o.Attempt)).ShouldAllBe(g => g.Count() == 1, world.Diagnostics());
        var runs = File.ReadAllLines(Path.Combine(world.ExecutorStateDirectory("backup1"), "runs.log"));
        runs.Select(l => l.Split('\t')[1]).ShouldBeUnique();
        runs.Count(l => l.Split('\t')[1] == id).ShouldBe(1);
        world.AssertNoDestructiveCommandWithoutResolution();

        int Taken(string log) => log.Split('\n').Count(l => l.Contains(id, StringComparison.Ordinal) && l.Contains("was already taken", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_executor_killed_mid_transfer_reports_the_cut_attempt_at_restart_and_the_reissued_attempt_resumes()
    {
        await using var world = await NasAndBackupAsync(infrastructure, 2);
        // The first zfs send on nas1 writes 4 KB a second: the full stream (tens of KB) takes several seconds.
        var nas1 = world.Fleet.HostDirectory("nas1");
        File.WriteAllText(Path.Combine(nas1, "send-throttle"), "4096");
        await world.StartAllAsync();

        var progress = Path.Combine(nas1, "send-progress");
        await world.UntilAsync(
            () => Task.FromResult(File.Exists(progress) && long.TryParse(File.ReadAllText(progress), out var sent) && sent >= 8192),
            "the throttled send to be under way");
        await ConvergenceWorld.KillAsync(world.ProcessOf("executor-backup1"));
        // The attempt under way is the one whose ssh to nas1 carries its context (ZFSSYNC_ATTEMPT).
        var running = world.Fleet.ReadLog().First(e => e.Tool == "ssh" && e.Host == "nas1" && e.Context is not null).Context;
        var cut = world.Seen.Issued.First(i => $"{i.InstructionId}/{i.Attempt}" == running);
        world.Seen.Outcomes.ShouldNotContain(o => o.InstructionId == cut.InstructionId, "a killed executor reports nothing");

        await world.StartExecutorAsync("backup1", "-restarted");
        await world.UntilAsync(() => Task.FromResult(world.Seen.Outcomes.Any(o => o.InstructionId == cut.InstructionId && o.Attempt == cut.Attempt)), "the cut attempt's report");
        var reported = world.Seen.Outcomes.First(o => o.InstructionId == cut.InstructionId && o.Attempt == cut.Attempt);
        reported.Exit.ShouldBe(-1);
        reported.Stderr.ShouldBe("executor restarted during the run");

        await world.ConvergedAsync("nas1", "emu-tank/data", ToBackup, seconds: 240);
        world.Seen.Runs.ShouldContain(r => r.Instruction.Kind == InstructionKind.Resume && r.Exit == 0, world.Diagnostics());
        var commands = world.ExecutedCommands();
        commands.ShouldContain(e => e.Context == $"{cut.InstructionId}/{cut.Attempt}" && e.Argv[0] == "receive" && e.Error.Contains("Partially received snapshot is saved.", StringComparison.Ordinal),
            "the receive of the cut attempt kept its partial state");
        commands.ShouldContain(e => e.Argv[0] == "send" && e.Argv.Contains("-t"));
        world.State("backup1").Find("emu-backup/data")!.Snapshots.Select(s => s.Name).ShouldBe(["auto-001", "auto-002"]);
        world.AssertNoDestructiveCommandWithoutResolution();
    }

    [Fact]
    public async Task A_transfer_whose_ssh_stalls_is_expired_as_hung_killed_and_resumed()
    {
        await using var world = await NasAndBackupAsync(infrastructure, 2);
        world.Settings["SyncGroups:0:HangAfter"] = "00:00:04";
        world.ExecutorEnvironment["ZFS_SYNC_Executor__ProgressInterval"] = "00:00:01";
        // The next ssh connection to nas1 (the executor's `ssh nas1 zfs send …`) passes 4 KB, then hangs until killed.
        File.WriteAllText(Path.Combine(world.Fleet.HostDirectory("nas1"), "ssh-stall-after"), "4096");
        await world.StartAllAsync();

        await world.ConvergedAsync("nas1", "emu-tank/data", ToBackup, seconds: 240);
        var stalled = world.Seen.Issued.First();
        var outcome = world.Seen.Outcomes.First(o => o.InstructionId == stalled.InstructionId && o.Attempt == stalled.Attempt);
        outcome.Stderr.ShouldContain("the witness expired the attempt (hung:", Case.Sensitive, world.Diagnostics());
        world.LogOf("witness").ShouldContain("hung: no bytes for 00:00:04", Case.Sensitive, "the witness said why it expired the attempt");
        world.Seen.Runs.ShouldContain(r => r.Instruction.Kind == InstructionKind.Resume && r.Exit == 0, world.Diagnostics());
        world.ExecutedCommands().ShouldContain(e => e.Argv[0] == "send" && e.Argv.Contains("-t"), "the next attempt resumed from the receive's token");
        world.State("backup1").Find("emu-backup/data")!.Snapshots.Select(s => s.Name).ShouldBe(["auto-001", "auto-002"]);
        world.AssertNoDestructiveCommandWithoutResolution();
    }

    [Fact]
    public async Task A_dry_run_executor_runs_nothing_and_reports_nothing()
    {
        await using var world = await NasAndBackupAsync(infrastructure, 2);
        world.DryRun = true;
        await world.StartAllAsync();

        await world.UntilAsync(() => Task.FromResult(world.LogOf("executor-backup1").Contains("would run:", StringComparison.Ordinal)), "the executor's dry run of the first instruction");
        var issued = world.Seen.Issued.First();
        world.LogOf("executor-backup1").ShouldContain($"{issued.InstructionId}/{issued.Attempt}");
        world.ExecutedCommands().ShouldBeEmpty("a dry run runs nothing");
        world.Fleet.ReadLog().ShouldNotContain(e => e.Tool == "zfs" && (e.Argv[0] == "receive" || e.Argv[0] == "recv"));
        world.Seen.Outcomes.ShouldBeEmpty("a dry run publishes no outcome");
        File.Exists(Path.Combine(world.ExecutorStateDirectory("backup1"), "runs.log")).ShouldBeFalse("a dry run records nothing");
        world.State("backup1").Find("emu-backup/data").ShouldBeNull();
    }
}
