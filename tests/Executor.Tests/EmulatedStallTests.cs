using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;
using ZfsSync.ZfsEmulator;

namespace ZfsSync.Executor.Tests;

/// <summary>
/// The executor's steps through the emulator's stand-ins (tools/ZfsEmulator): a <c>zfs send</c> reached through the
/// emulated ssh, whose connection stalls after some bytes (<c>hosts/nas1/ssh-stall-after</c>). Progress shows the
/// bytes stuck; the witness's hung expiry kills every process of the run.
/// </summary>
[Collection(EmulatorEnvironment.Collection)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class When_the_ssh_connection_of_a_transfer_stalls : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("zfsemu-executor-").FullName;
    private readonly string _bin = Path.Combine(AppContext.BaseDirectory, "stand-ins");
    private readonly RecordingPublisher _publisher = new();

    public When_the_ssh_connection_of_a_transfer_stalls()
    {
        foreach (var tool in new[] { "zfs", "zpool", "ssh", "sudo" })
        {
            File.SetUnixFileMode(Path.Combine(_bin, tool), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        }

        var store = new FleetStore(_root);
        store.AddHost("nas1", "emu-tank");
        store.AddHost("backup1", "emu-backup");
        Zfs(store, "nas1", "create", "emu-tank/data");
        Zfs(store, "nas1", "snapshot", "emu-tank/data@s1");
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static void Zfs(FleetStore store, string host, params string[] args)
    {
        using var input = new MemoryStream();
        using var output = new MemoryStream();
        using var error = new StringWriter();
        new ZfsCommand(store, host).Run(args, input, output, error).ShouldBe(0, error.ToString());
    }

    [Fact]
    public async Task Should_report_the_bytes_stuck_and_kill_the_stalled_run_when_the_witness_expires_it_as_hung()
    {
        File.WriteAllText(Path.Combine(_root, "hosts", "nas1", "ssh-stall-after"), "1000");
        var zfs = Path.Combine(_bin, "zfs");
        var options = new ExecutorOptions
        {
            Hosts = ["backup1"],
            DryRun = false,
            StateDirectory = Path.Combine(_root, "executor"),
            ZfsPath = zfs,
            SshPath = Path.Combine(_bin, "ssh"),
            ProgressInterval = TimeSpan.FromMilliseconds(200),
        };
        await using var runner = Instructions.Runner(options, _publisher);
        var instruction = Instructions.Transfer() with
        {
            Kind = InstructionKind.Full,
            Target = new InstructionEndpoint { HostId = "backup1", Dataset = "emu-backup/data" }, // the pull check finds its pool here
            Steps =
            [
                new InstructionStep
                {
                    Pipeline =
                    [
                        new PipelineStage { HostId = "nas1", Argv = [zfs, "send", "emu-tank/data@s1"] },
                        new PipelineStage { HostId = "backup1", Argv = ["zfs", "receive", "-s", "-u", "emu-backup/data"] },
                    ],
                },
            ],
        };

        using (EmulatorEnvironment.Set(_root, "backup1"))
        {
            var (decision, run) = await runner.HandleAsync(instruction, default);
            decision.ShouldBe(InstructionRunner.Decision.Started);
            await Poll.UntilAsync(
                () => Task.FromResult(_publisher.Published.OfType<SyncInstructionProgressed>().Count(p => p.BytesTransferred is > 0 and <= 1000) >= 3 || run.IsCompleted),
                "the stalled transfer to report the same bytes three times", TimeSpan.FromSeconds(60));
            run.IsCompleted.ShouldBeFalse("the stalled transfer does not end by itself");
            var stuck = _publisher.Published.OfType<SyncInstructionProgressed>().Last().BytesTransferred;
            stuck.ShouldNotBeNull().ShouldBeLessThanOrEqualTo(1000);

            runner.Expire(instruction.InstructionId, 1, "hung: no bytes for 00:30:00");
            var result = await run.WaitAsync(TimeSpan.FromSeconds(60));

            result!.Killed.ShouldNotBeNull();
            _publisher.Published.OfType<SyncInstructionFailed>().Single().Error.ShouldContain("the witness expired the attempt (hung: no bytes for 00:30:00)");
        }

        var store = new FleetStore(_root);
        store.Read("backup1").Find("emu-backup/data")?.Snapshots.ShouldBeEmpty("nothing was received completely");
        File.Exists(Path.Combine(_root, "hosts", "nas1", "ssh-stall-after")).ShouldBeFalse("the stall switch is used once");
        store.ReadLog().ShouldContain(e => e.Tool == "ssh" && e.Host == "nas1");
    }
}

/// <summary>The emulator's variables for the runner's child processes (process-wide: the tests that set them run one at a time).</summary>
[CollectionDefinition(Collection, DisableParallelization = true)]
public sealed class EmulatorEnvironment
{
    public const string Collection = "emulator environment";

    public static IDisposable Set(string root, string host)
    {
        Environment.SetEnvironmentVariable("ZFSEMU_ROOT", root);
        Environment.SetEnvironmentVariable("ZFSEMU_HOST", host);
        return new Reset();
    }

    private sealed class Reset : IDisposable
    {
        public void Dispose()
        {
            Environment.SetEnvironmentVariable("ZFSEMU_ROOT", null);
            Environment.SetEnvironmentVariable("ZFSEMU_HOST", null);
        }
    }
}
