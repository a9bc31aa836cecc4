using MassTransit;
using ZfsSync.Contracts;
using ZfsSync.Convergence.Tests.Support;
using ZfsSync.TestInfrastructure;

namespace ZfsSync.Convergence.Tests;

/// <summary>More histories on the emulated fleet: long lag, bookmarks, quarantine, fail-over, odd names, hostile settings.</summary>
[Collection(Collections.B)]
public sealed class FleetScenarios(InfrastructureFixture infrastructure)
{
    private static readonly Dictionary<string, string> ToBackup = new() { ["backup1"] = "emu-backup/data" };

    private static async Task<ConvergenceWorld> NasAndBackupAsync(InfrastructureFixture infrastructure, int snapshots, string dataset = "emu-tank/data")
    {
        var world = await ConvergenceWorld.CreateAsync(infrastructure);
        world.AddHost(new EmulatedHost("nas1", "emu-tank") { Sudo = true });
        world.AddHost(new EmulatedHost("backup1", "emu-backup"));
        world.Zfs("nas1", "create", "-p", dataset);
        for (var i = 1; i <= snapshots; i++)
        {
            world.Zfs("nas1", "snapshot", $"{dataset}@auto-{i:D3}");
        }

        return world;
    }

    [Fact]
    public async Task A_target_500_snapshots_behind_catches_up_in_one_incremental()
    {
        await using var world = await NasAndBackupAsync(infrastructure, 3);
        world.Replicate("nas1", ["emu-tank/data@auto-001"], "backup1", ["-u", "emu-backup/data"]);
        world.Replicate("nas1", ["-I", "@auto-001", "emu-tank/data@auto-003"], "backup1", ["-u", "emu-backup/data"]);
        for (var i = 4; i <= 503; i++)
        {
            world.Zfs("nas1", "snapshot", $"emu-tank/data@auto-{i:D3}");
        }

        world.PrimaryGroup("nas1", "emu-tank/data", ToBackup);
        await world.StartAllAsync();

        await world.ConvergedAsync("nas1", "emu-tank/data", ToBackup, seconds: 240);
        var target = world.State("backup1").Find("emu-backup/data")!;
        target.Snapshots.Count.ShouldBe(503);
        target.Snapshots.Select(s => s.Guid).ShouldBe(world.State("nas1").Find("emu-tank/data")!.Snapshots.Select(s => s.Guid));
        var sends = world.ExecutedCommands().Where(e => e.Argv[0] == "send").ToList();
        sends.ShouldHaveSingleItem(world.Diagnostics()).Argv.ShouldContain("-I");
        world.AssertNoDestructiveCommandWithoutResolution();
    }

    [Fact]
    public async Task A_base_pruned_on_the_source_but_kept_as_a_bookmark_still_serves_as_the_incremental_source()
    {
        await using var world = await NasAndBackupAsync(infrastructure, 3);
        world.Replicate("nas1", ["emu-tank/data@auto-001"], "backup1", ["-u", "emu-backup/data"]);
        world.Replicate("nas1", ["-i", "@auto-001", "emu-tank/data@auto-002"], "backup1", ["-u", "emu-backup/data"]);
        world.Zfs("nas1", "bookmark", "emu-tank/data@auto-002", "emu-tank/data#auto-002");
        world.Zfs("nas1", "destroy", "emu-tank/data@auto-002");
        world.Zfs("nas1", "destroy", "emu-tank/data@auto-001");
        world.PrimaryGroup("nas1", "emu-tank/data", ToBackup);
        await world.StartAllAsync();

        await world.ConvergedAsync("nas1", "emu-tank/data", ToBackup);
        world.State("backup1").Find("emu-backup/data")!.Snapshots.Select(s => s.Name).ShouldBe(["auto-001", "auto-002", "auto-003"]);
        world.ExecutedCommands().ShouldContain(e => e.Argv[0] == "send" && e.Argv.Contains("emu-tank/data#auto-002"), world.Diagnostics());
        world.AssertNoDestructiveCommandWithoutResolution();
    }

    [Fact]
    public async Task A_target_without_a_common_snapshot_is_quarantined_only_when_resolved_and_its_old_data_kept()
    {
        await using var world = await NasAndBackupAsync(infrastructure, 2);
        world.Zfs("backup1", "create", "emu-backup/data");
        world.Zfs("backup1", "snapshot", "emu-backup/data@precious");
        var precious = world.State("backup1").Find("emu-backup/data")!.Snapshots.Single().Guid;
        world.PrimaryGroup("nas1", "emu-tank/data", ToBackup);
        await world.StartAllAsync();

        await world.UntilAsync(() => Task.FromResult(world.Seen.Conflicts.Any(c => c.Kind == ConflictKind.NoCommonSnapshot)), "the no-common-snapshot conflict");
        var conflict = world.Seen.Conflicts.First(c => c.Kind == ConflictKind.NoCommonSnapshot);
        conflict.AllowedResolutions.ShouldContain(ConflictResolution.QuarantineTarget);
        world.ExecutedCommands().ShouldBeEmpty("nothing runs on an unresolved conflict");

        var answer = await world.ResolveAsync(conflict.ConflictId, "quarantine-target");
        answer.Is(out Response<SyncConflictResolutionAccepted>? _).ShouldBeTrue();
        await world.ConvergedAsync("nas1", "emu-tank/data", ToBackup);
        var quarantined = world.State("backup1").Datasets.Single(d => d.Name.StartsWith("emu-backup/data.conflict-", StringComparison.Ordinal));
        quarantined.Snapshots.ShouldHaveSingleItem().Guid.ShouldBe(precious, "the old data is still there under its new name");
        world.ExecutedCommands().ShouldContain(e => e.Argv[0] == "rename");
        world.AssertNoDestructiveCommandWithoutResolution();
    }

    [Fact]
    public async Task Follow_newest_fails_over_to_the_member_that_moved_on()
    {
        await using var world = await ConvergenceWorld.CreateAsync(infrastructure);
        world.AddHost(new EmulatedHost("nas1", "emu-tank"));
        world.AddHost(new EmulatedHost("nas2", "emu-pool2"));
        world.Zfs("nas1", "create", "emu-tank/data");
        world.Zfs("nas1", "snapshot", "emu-tank/data@auto-001");
        world.Zfs("nas1", "snapshot", "emu-tank/data@auto-002");
        world.Settings["SyncGroups:0:Name"] = ConvergenceWorld.Group;
        world.Settings["SyncGroups:0:Mode"] = "follow-newest";
        world.Settings["SyncGroups:0:Members:0"] = "nas1";
        world.Settings["SyncGroups:0:Members:1"] = "nas2";
        world.Settings["SyncGroups:0:Datasets:0:Path"] = "emu-tank/data";
        world.Settings["SyncGroups:0:Datasets:0:On:nas2"] = "emu-pool2/data";
        await world.StartAllAsync();
        await world.ConvergedAsync("nas1", "emu-tank/data", new Dictionary<string, string> { ["nas2"] = "emu-pool2/data" });

        // nas1 is gone as the writer; nas2 takes over and moves on.
        world.Zfs("nas2", "snapshot", "emu-pool2/data@auto-003");
        world.Zfs("nas2", "snapshot", "emu-pool2/data@auto-004");
        await world.ConvergedAsync("nas2", "emu-pool2/data", new Dictionary<string, string> { ["nas1"] = "emu-tank/data" });
        world.State("nas1").Find("emu-tank/data")!.Snapshots.Select(s => s.Name).ShouldBe(["auto-001", "auto-002", "auto-003", "auto-004"]);
        world.Seen.Issued.Last().Source.HostId.ShouldBe("nas2");
        world.AssertNoDestructiveCommandWithoutResolution();
    }

    /// <summary>The one scenario in the shell form: the executor runs the rendered pull command through /bin/sh.</summary>
    [Fact]
    public async Task Hostile_ssh_and_receive_values_converge_unchanged_through_the_shell_form()
    {
        const string identity = "/tmp/zfssync keys/it's $(touch pwned) `id`";
        // A configuration key cannot hold ':' (it separates sections), so the hostile value goes into mountpoint.
        const string note = "/mnt/it's \"$(touch pwned)\" `id` $HOME;|&";
        await using var world = await ConvergenceWorld.CreateAsync(infrastructure);
        // backup1's executor pulls, so the values that reach ssh are the source's; the target's are validated all the same.
        world.AddHost(new EmulatedHost("nas1", "emu-tank") { Sudo = true, SshUser = "zfs.sync_user-1", SshPort = 65535, IdentityFile = identity });
        world.AddHost(new EmulatedHost("backup1", "emu-backup") { IdentityFile = "/etc/zfssync/it's `id`", SshUser = "backup_op" });
        world.UseShell = true;
        world.Zfs("nas1", "create", "emu-tank/data");
        world.Zfs("nas1", "snapshot", "emu-tank/data@auto-001");
        world.PrimaryGroup("nas1", "emu-tank/data", ToBackup);
        world.Settings["SyncGroups:0:Receive:Set:mountpoint"] = note;
        await world.StartAllAsync();

        await world.ConvergedAsync("nas1", "emu-tank/data", ToBackup);
        world.State("backup1").Find("emu-backup/data")!.Properties["mountpoint"].ShouldBe(note);
        var ssh = world.Fleet.ReadLog().Where(e => e.Tool == "ssh").ToList();
        ssh.ShouldContain(e => e.Host == "nas1" && e.Error == $"user=zfs.sync_user-1 port=65535 identity={identity}", world.Diagnostics());
        world.LogOf("executor-backup1").ShouldContain("(Pull, shell)");
        Directory.EnumerateFiles(world.Root, "pwned", SearchOption.AllDirectories).ShouldBeEmpty();
        world.AssertNoDestructiveCommandWithoutResolution();
    }

    [Theory]
    [InlineData("SyncGroups:0:Receive:Set:mountpoint", "/mnt/one\ntwo", "control character")]
    [InlineData("Hosts:1:Ssh:User", "op'; rm -rf /", "the ssh user")]
    [InlineData("Hosts:1:Ssh:Host", "-oProxyCommand=touch pwned", "the ssh host")]
    public async Task Hostile_values_the_shell_cannot_carry_are_rejected_at_start(string key, string value, string reason)
    {
        await using var world = await NasAndBackupAsync(infrastructure, 1);
        world.PrimaryGroup("nas1", "emu-tank/data", ToBackup);
        world.Settings[key] = value;
        using var witness = world.StartWitnessProcess();
        (await Poll.HoldsAsync(() => Task.FromResult(witness.HasExited), TimeSpan.FromSeconds(180))).ShouldBeTrue("the witness refuses to start");
        witness.ExitCode.ShouldNotBe(0);
        world.LogOf("witness").ShouldContain(reason);
        world.Fleet.ReadLog().ShouldBeEmpty("nothing ran");
    }
}
