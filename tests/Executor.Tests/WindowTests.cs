using Microsoft.Extensions.Time.Testing;
using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;
using ZfsSync.ZfsEmulator;

namespace ZfsSync.Executor.Tests;

/// <summary>An instruction's <c>notAfter</c> (the end of its replication window; docs/EXECUTOR.md): never started after it.</summary>
public sealed class When_an_instruction_arrives_after_its_window_ended : IDisposable
{
    private readonly StubZfs _zfs = new();
    private readonly RecordingPublisher _publisher = new();

    public void Dispose() => _zfs.Dispose();

    [Fact]
    public async Task Should_not_start_claim_or_report_it()
    {
        await using var runner = Instructions.Runner(Instructions.Options(_zfs), _publisher);
        var instruction = Instructions.Transfer() with { NotAfter = DateTimeOffset.UtcNow.AddSeconds(-1) };

        var (decision, run) = await runner.HandleAsync(instruction, default);

        decision.ShouldBe(InstructionRunner.Decision.WindowClosed);
        (await run).ShouldBeNull();
        _zfs.CallLines.ShouldBeEmpty("nothing ran");
        _publisher.Published.ShouldBeEmpty("the witness's own expiry (at expiresAt, never after notAfter) closes the attempt");
        new AttemptStore(_zfs.State).StateOf(instruction.InstructionId, instruction.Attempt).ShouldBeNull("the attempt was not claimed: it may not run later either");
    }

    [Fact]
    public async Task Should_run_one_whose_window_is_still_open_as_usual()
    {
        await using var runner = Instructions.Runner(Instructions.Options(_zfs), _publisher);
        var instruction = Instructions.Transfer() with { NotAfter = DateTimeOffset.UtcNow.AddHours(1) };

        var (decision, run) = await runner.HandleAsync(instruction, default);

        decision.ShouldBe(InstructionRunner.Decision.Started);
        var result = (await run.WaitAsync(TimeSpan.FromSeconds(60))).ShouldNotBeNull();
        result.ExitCode.ShouldBe(0);
        _publisher.Published.OfType<SyncInstructionCompleted>().ShouldHaveSingleItem();
    }
}

/// <summary>
/// A throttled transfer through the emulator's stand-ins (tools/ZfsEmulator: <c>send-throttle</c>) still going when its
/// window ends, on the executor's clock (a fake one, moved past <c>notAfter</c> once bytes flow): the run is stopped,
/// the failure says why, and the target keeps the partial receive's resume token for the next window.
/// </summary>
[Collection(EmulatorEnvironment.Collection)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class When_a_window_ends_during_a_transfer : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("zfsemu-window-").FullName;
    private readonly string _bin = Path.Combine(AppContext.BaseDirectory, "stand-ins");
    private readonly RecordingPublisher _publisher = new();

    public When_a_window_ends_during_a_transfer()
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
    public async Task Should_stop_the_run_at_not_after_and_leave_the_target_a_resume_token()
    {
        // The send writes 4 KB a second: its ~96 KB would take about 24 s; the window's end comes long before.
        var nas1 = new FleetStore(_root).HostDirectory("nas1");
        File.WriteAllText(Path.Combine(nas1, "send-throttle"), "4096");
        var zfs = Path.Combine(_bin, "zfs");
        var options = new ExecutorOptions
        {
            Hosts = ["backup1"],
            DryRun = false,
            StateDirectory = Path.Combine(_root, "executor"),
            ZfsPath = zfs,
            SshPath = Path.Combine(_bin, "ssh"),
            ReceiveGrace = TimeSpan.FromSeconds(30),
        };
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var runner = Instructions.Runner(options, _publisher, time: clock);
        var notAfter = clock.GetUtcNow().AddMinutes(30);
        var instruction = Instructions.Transfer() with
        {
            Kind = InstructionKind.Full,
            Target = new InstructionEndpoint { HostId = "backup1", Dataset = "emu-backup/data" },
            ExpiresAt = notAfter.AddMinutes(1),
            NotAfter = notAfter,
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
            var progress = Path.Combine(nas1, "send-progress");
            await Poll.UntilAsync(
                () => Task.FromResult(run.IsCompleted || (File.Exists(progress) && long.TryParse(File.ReadAllText(progress), out var sent) && sent >= 4096)),
                "the throttled send to be under way", TimeSpan.FromSeconds(60));
            run.IsCompleted.ShouldBeFalse("the throttled transfer is still going");

            clock.Advance(TimeSpan.FromMinutes(30));
            var result = (await run.WaitAsync(TimeSpan.FromSeconds(60))).ShouldNotBeNull();

            result.Killed.ShouldNotBeNull();
            var failed = _publisher.Published.OfType<SyncInstructionFailed>().ShouldHaveSingleItem();
            failed.ExitCode.ShouldBe(-1);
            failed.Error.ShouldStartWith(InstructionRunner.StoppedAtWindowEnd(notAfter));
            failed.Error.ShouldContain("the receive keeps its resume token");
            failed.FailedAt.ShouldBeGreaterThanOrEqualTo(notAfter, "the witness tells a window stop by its time");
        }

        var target = new FleetStore(_root).Read("backup1").Find("emu-backup/data").ShouldNotBeNull("the partial receive left the dataset");
        target.Snapshots.ShouldBeEmpty("nothing was received completely");
        var partial = target.Partial.ShouldNotBeNull("zfs receive -s saved its partial state");
        partial.Token().ShouldNotBeNullOrEmpty();
        File.ReadAllLines(Path.Combine(options.StateDirectory, "runs.log")).ShouldHaveSingleItem().ShouldContain("stopped at the window's end");
    }
}
