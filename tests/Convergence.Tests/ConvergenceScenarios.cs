using MassTransit;
using ZfsSync.Contracts;
using ZfsSync.Convergence.Tests.Support;
using ZfsSync.TestInfrastructure;

namespace ZfsSync.Convergence.Tests;

/// <summary>
/// The whole system on an emulated fleet: reporters whose zfs is the emulator, the witness, and the executor program
/// on each receiving host (pull mode, the shell-free steps) running ssh, sudo, mbuffer and pv, all on the real broker
/// and PostgreSQL. Each scenario asserts every host's final emulated state and that nothing destructive ran without a
/// resolution.
/// </summary>
[Collection(Collections.A)]
public sealed class ConvergenceScenarios(InfrastructureFixture infrastructure)
{
    private static readonly Dictionary<string, string> ToBackup = new() { ["backup1"] = "emu-backup/nas1/data" };

    private static async Task<ConvergenceWorld> NasAndBackupAsync(InfrastructureFixture infrastructure, int snapshots, string dataset = "emu-tank/data")
    {
        var world = await ConvergenceWorld.CreateAsync(infrastructure);
        world.AddHost(new EmulatedHost("nas1", "emu-tank") { Sudo = true });
        world.AddHost(new EmulatedHost("backup1", "emu-backup") { SshPort = 2222 });
        world.Zfs("nas1", "create", "-p", dataset);
        for (var i = 1; i <= snapshots; i++)
        {
            world.Zfs("nas1", "snapshot", $"{dataset}@auto-{i:D3}");
        }

        return world;
    }

    [Fact]
    public async Task A_fresh_target_gets_a_full_send_with_its_parents_created_then_incrementals()
    {
        await using var world = await NasAndBackupAsync(infrastructure, 3);
        world.PrimaryGroup("nas1", "emu-tank/data", ToBackup);
        world.Settings["SyncGroups:0:Pipe:Mbuffer"] = "1M";
        world.Settings["SyncGroups:0:Pipe:Progress"] = "true";
        world.Settings["SyncGroups:0:Receive:Set:readonly"] = "on";
        await world.StartAllAsync();

        await world.ConvergedAsync("nas1", "emu-tank/data", ToBackup);
        var parent = world.State("backup1").Find("emu-backup/nas1").ShouldNotBeNull("the missing parent was created");
        parent.Properties["canmount"].ShouldBe("off");
        var target = world.State("backup1").Find("emu-backup/nas1/data")!;
        target.Properties["readonly"].ShouldBe("on");
        target.Snapshots.Select(s => s.Name).ShouldBe(["auto-001", "auto-002", "auto-003"]);
        var commands = world.ExecutedCommands();
        commands.ShouldContain(e => e.Host == "backup1" && e.Argv[0] == "create" && e.Argv.Contains("-p"));
        commands.ShouldContain(e => e.Host == "nas1" && e.Argv[0] == "send" && !e.Argv.Contains("-i") && !e.Argv.Contains("-I"), "a full send first");
        commands.ShouldContain(e => e.Host == "nas1" && e.Argv[0] == "send" && e.Argv.Contains("-I"), "then the rest incrementally");

        // A new snapshot on the source: the reporter sees it, the witness plans an incremental, the executor runs it.
        world.Zfs("nas1", "snapshot", "emu-tank/data@auto-004");
        await world.ConvergedAsync("nas1", "emu-tank/data", ToBackup);
        world.State("backup1").Find("emu-backup/nas1/data")!.Snapshots.Select(s => s.Guid)
            .ShouldBe(world.State("nas1").Find("emu-tank/data")!.Snapshots.Select(s => s.Guid));
        world.Seen.Runs.ShouldAllBe(r => r.Exit == 0, world.Diagnostics());
        world.AssertNoDestructiveCommandWithoutResolution();
    }

    [Fact]
    public async Task A_transfer_cut_mid_stream_is_resumed_with_its_token()
    {
        await using var world = await NasAndBackupAsync(infrastructure, 2);
        world.PrimaryGroup("nas1", "emu-tank/data", new Dictionary<string, string> { ["backup1"] = "emu-backup/data" });

        // backup1's executor pulls: its first connection to nas1 (the send) drops after 1500 bytes of the stream.
        File.WriteAllText(Path.Combine(world.Fleet.HostDirectory("nas1"), "ssh-drop-after"), "1500");
        await world.StartAllAsync();

        await world.ConvergedAsync("nas1", "emu-tank/data", new Dictionary<string, string> { ["backup1"] = "emu-backup/data" }, seconds: 240);
        var runs = world.Seen.Runs.ToList();
        runs[0].Exit.ShouldNotBe(0);
        runs[0].Stderr.ShouldContain("Partially received snapshot is saved.");
        runs.ShouldContain(r => r.Instruction.Kind == InstructionKind.Resume && r.Exit == 0, world.Diagnostics());
        world.ExecutedCommands().ShouldContain(e => e.Argv[0] == "send" && e.Argv.Contains("-t"));
        world.AssertNoDestructiveCommandWithoutResolution();
    }

    [Fact]
    public async Task A_diverged_target_is_left_alone_until_rollback_target_is_resolved_then_converges()
    {
        var targets = new Dictionary<string, string> { ["backup1"] = "emu-backup/data" };
        await using var world = await NasAndBackupAsync(infrastructure, 2);
        world.PrimaryGroup("nas1", "emu-tank/data", targets);
        await world.StartAllAsync();
        await world.ConvergedAsync("nas1", "emu-tank/data", targets);

        // Someone snapshots the target, and the source moves on: diverged.
        world.Zfs("backup1", "snapshot", "emu-backup/data@local-change");
        world.Zfs("nas1", "snapshot", "emu-tank/data@auto-003");
        await world.UntilAsync(() => Task.FromResult(world.Seen.Conflicts.Any(c => c.Kind == ConflictKind.Diverged)), "the diverged conflict");
        var conflict = world.Seen.Conflicts.First(c => c.Kind == ConflictKind.Diverged);
        var before = world.Fleet.ReadLog().Count(e => e.Context is not null && e.Context != "reporter");
        (await world.StatusAsync())!.Status.ShouldBe(SyncGroupStatus.Conflicted);
        world.State("backup1").Find("emu-backup/data")!.Snapshots.Select(s => s.Name).ShouldBe(["auto-001", "auto-002", "local-change"], "untouched while conflicted");
        world.Fleet.ReadLog().Count(e => e.Context is not null && e.Context != "reporter").ShouldBe(before, "nothing ran on the conflict");

        var answer = await world.ResolveAsync(conflict.ConflictId, "rollback-target");
        answer.Is(out Response<SyncConflictResolutionAccepted>? _).ShouldBeTrue();
        await world.ConvergedAsync("nas1", "emu-tank/data", targets);
        world.State("backup1").Find("emu-backup/data")!.Snapshots.Select(s => s.Name).ShouldBe(["auto-001", "auto-002", "auto-003"]);
        world.ExecutedCommands().ShouldContain(e => e.Argv[0] == "rollback" && e.Argv.Contains("emu-backup/data@auto-002"));
        world.AssertNoDestructiveCommandWithoutResolution();
    }

    [Fact]
    public async Task A_host_whose_state_holds_shell_metacharacters_is_rejected_and_nothing_runs()
    {
        await using var world = await NasAndBackupAsync(infrastructure, 1);
        world.PrimaryGroup("nas1", "emu-tank/data", ToBackup);

        // A state no real zfs would produce (the emulator refuses to create these names): written directly.
        var state = world.State("nas1");
        var data = state.Find("emu-tank/data")!;
        data.Snapshots.Add(new ZfsEmulator.SnapshotState { Name = "x'$(touch pwned)`id`", Guid = 4242, CreateTxg = state.Txg(), Creation = state.Clock });
        world.Fleet.Write("nas1", state);
        await world.StartAllAsync();

        await world.UntilAsync(() => Task.FromResult(world.Seen.Rejections.Any(r => r.HostId == "nas1")), "nas1's report to be rejected");
        world.Seen.Rejections.First(r => r.HostId == "nas1").Reason.ShouldContain("invalid character");
        world.Seen.Issued.ShouldBeEmpty("nothing was planned from a rejected report");
        world.ExecutedCommands().ShouldBeEmpty();
        File.Exists(Path.Combine(world.Root, "witness", "pwned")).ShouldBeFalse();
        world.State("backup1").Find("emu-backup/nas1/data").ShouldBeNull();
    }

    [Fact]
    public async Task Names_with_spaces_colons_dots_and_a_leading_dash_converge()
    {
        const string source = "emu-tank/my data:v1.0/-inner";
        const string target = "emu-backup/x y/-copy:1.0";
        await using var world = await ConvergenceWorld.CreateAsync(infrastructure);
        world.AddHost(new EmulatedHost("nas1", "emu-tank") { Sudo = true });
        world.AddHost(new EmulatedHost("backup1", "emu-backup"));
        world.Zfs("nas1", "create", "-p", source);
        world.Zfs("nas1", "snapshot", $"{source}@-snap 1:0.a");
        world.Zfs("nas1", "snapshot", $"{source}@-snap 2:0.b");
        var targets = new Dictionary<string, string> { ["backup1"] = target };
        world.PrimaryGroup("nas1", source, targets);
        await world.StartAllAsync();

        await world.ConvergedAsync("nas1", source, targets);
        world.State("backup1").Find(target)!.Snapshots.Select(s => s.Name).ShouldBe(["-snap 1:0.a", "-snap 2:0.b"]);
        world.State("backup1").Find("emu-backup/x y").ShouldNotBeNull();
        world.AssertNoDestructiveCommandWithoutResolution();
    }
}
