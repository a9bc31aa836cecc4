using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;

namespace ZfsSync.Executor.Tests;

/// <summary>The executor's decisions and runs with real processes (a zfs stand-in script) and its real SQLite state.</summary>
public sealed class When_the_executor_gets_an_instruction : IDisposable
{
    private readonly StubZfs _zfs = new();
    private readonly RecordingPublisher _publisher = new();

    public void Dispose() => _zfs.Dispose();

    [Fact]
    public async Task Should_run_send_into_receive_counting_the_bytes_and_report_completed()
    {
        await using var runner = Instructions.Runner(Instructions.Options(_zfs), _publisher);
        var instruction = Instructions.Transfer();

        var (decision, run) = await runner.HandleAsync(instruction, default);
        var result = await run;

        decision.ShouldBe(InstructionRunner.Decision.Started);
        result!.ExitCode.ShouldBe(0);
        _zfs.CallLines.ShouldBe(["send tank/data@s2", "receive backup/data"], ignoreOrder: true);
        var completed = _publisher.Published.OfType<SyncInstructionCompleted>().Single();
        completed.InstructionId.ShouldBe(instruction.InstructionId);
        completed.BytesTransferred.ShouldBe(300000);
        File.ReadAllText(Path.Combine(_zfs.State, "runs.log")).ShouldContain("completed");
        _zfs.AttemptLines.ShouldBe([$"{instruction.InstructionId}/1", $"{instruction.InstructionId}/1"], "every process of the run names its attempt in ZFSSYNC_ATTEMPT");
    }

    [Fact]
    public async Task Should_refuse_an_instruction_for_another_host_and_never_run_it()
    {
        await using var runner = Instructions.Runner(Instructions.Options(_zfs), _publisher);
        var instruction = Instructions.Transfer() with { Target = new InstructionEndpoint { HostId = "offsite1", Dataset = "b/data" } };

        var (decision, _) = await runner.HandleAsync(instruction, default);

        decision.ShouldBe(InstructionRunner.Decision.NotOurs);
        _zfs.CallLines.ShouldBeEmpty();
        _publisher.Published.ShouldBeEmpty();
    }

    [Theory]
    [InlineData(InstructionKind.RollbackAndIncremental)]
    [InlineData(InstructionKind.Reseed)]
    [InlineData(InstructionKind.QuarantineAndFull)]
    public async Task Should_refuse_a_destructive_kind_without_a_recorded_resolution_and_never_run_it(InstructionKind kind)
    {
        await using var runner = Instructions.Runner(Instructions.Options(_zfs), _publisher);

        var (decision, _) = await runner.HandleAsync(Instructions.Transfer(kind: kind), default);

        decision.ShouldBe(InstructionRunner.Decision.Refused);
        _zfs.CallLines.ShouldBeEmpty();
        _publisher.Published.OfType<SyncInstructionFailed>().Single().Error.ShouldContain("without a recorded resolution");
    }

    [Fact]
    public async Task Should_refuse_a_destructive_kind_with_a_resolution_when_destructive_runs_are_off()
    {
        var options = Instructions.Options(_zfs);
        options.AllowDestructive = false;
        await using var runner = Instructions.Runner(options, _publisher);

        var (decision, _) = await runner.HandleAsync(Instructions.Transfer(kind: InstructionKind.RollbackAndIncremental, resolution: ConflictResolution.RollbackTarget), default);

        decision.ShouldBe(InstructionRunner.Decision.Refused);
        _zfs.CallLines.ShouldBeEmpty();
    }

    [Fact]
    public async Task Should_run_a_destructive_kind_with_a_recorded_resolution()
    {
        await using var runner = Instructions.Runner(Instructions.Options(_zfs), _publisher);

        var (decision, run) = await runner.HandleAsync(Instructions.Transfer(kind: InstructionKind.RollbackAndIncremental, resolution: ConflictResolution.RollbackTarget), default);
        await run;

        decision.ShouldBe(InstructionRunner.Decision.Started);
        _zfs.CallLines.Length.ShouldBe(2);
    }

    [Theory]
    [InlineData("rm", "-rf", "/")]
    [InlineData("/bin/sh", "-c", "zfs destroy tank")]
    [InlineData("sudo", "-n", "rm", "x")]
    public async Task Should_refuse_a_program_that_is_not_on_the_allow_list(params string[] argv)
    {
        await using var runner = Instructions.Runner(Instructions.Options(_zfs), _publisher);

        var (decision, _) = await runner.HandleAsync(Instructions.Single(argv), default);

        decision.ShouldBe(InstructionRunner.Decision.Refused);
    }

    [Fact]
    public async Task Should_run_nothing_and_record_nothing_in_dry_run()
    {
        await using var runner = Instructions.Runner(Instructions.Options(_zfs, dryRun: true), _publisher);
        var instruction = Instructions.Transfer();

        var (decision, _) = await runner.HandleAsync(instruction, default);

        decision.ShouldBe(InstructionRunner.Decision.DryRun);
        _zfs.CallLines.ShouldBeEmpty();
        _publisher.Published.ShouldBeEmpty();
        new AttemptStore(_zfs.State).StateOf(instruction.InstructionId, instruction.Attempt).ShouldBeNull();
        runner.Describe(instruction).Single().ShouldBe($"{_zfs.Path} send tank/data@s2 | {_zfs.Path} receive backup/data");
    }

    [Fact]
    public async Task Should_not_start_an_instruction_past_its_expiry()
    {
        await using var runner = Instructions.Runner(Instructions.Options(_zfs), _publisher);

        var (decision, _) = await runner.HandleAsync(Instructions.Transfer(expiresAt: DateTimeOffset.UtcNow.AddSeconds(-1)), default);

        decision.ShouldBe(InstructionRunner.Decision.Expired);
        _zfs.CallLines.ShouldBeEmpty();
    }

    [Fact]
    public async Task Should_run_an_attempt_once_across_a_redelivery_and_a_second_executor_of_the_host()
    {
        var instruction = Instructions.Transfer();
        await using var first = Instructions.Runner(Instructions.Options(_zfs), _publisher);
        await using var second = Instructions.Runner(Instructions.Options(_zfs), _publisher);

        var decisions = await Task.WhenAll(first.HandleAsync(instruction, default), second.HandleAsync(instruction, default), first.HandleAsync(instruction, default));
        await Task.WhenAll(decisions.Select(d => d.Run));

        decisions.Count(d => d.Decision == InstructionRunner.Decision.Started).ShouldBe(1);
        decisions.Count(d => d.Decision == InstructionRunner.Decision.Duplicate).ShouldBe(2);
        _zfs.CallLines.Count(l => l.StartsWith("send", StringComparison.Ordinal)).ShouldBe(1);
        _publisher.Published.OfType<SyncInstructionCompleted>().Count().ShouldBe(1);
    }

    [Fact]
    public async Task Should_report_an_attempt_cut_by_a_restart_as_failed()
    {
        var instruction = Instructions.Transfer();
        new AttemptStore(_zfs.State).TryClaim(instruction.InstructionId, instruction.Attempt, instruction.SyncGroup, DateTimeOffset.UtcNow).ShouldBeTrue();
        await using var restarted = Instructions.Runner(Instructions.Options(_zfs), _publisher);

        await restarted.ReportCutAttemptsAsync(default);
        var (decision, _) = await restarted.HandleAsync(instruction, default);

        var failed = _publisher.Published.OfType<SyncInstructionFailed>().Single();
        failed.InstructionId.ShouldBe(instruction.InstructionId);
        failed.Error.ShouldBe("executor restarted during the run");
        decision.ShouldBe(InstructionRunner.Decision.Duplicate);
        _zfs.CallLines.ShouldBeEmpty();
    }

    [Fact]
    public async Task Should_report_a_failure_with_the_exit_code_and_an_escaped_stderr_tail()
    {
        await using var runner = Instructions.Runner(Instructions.Options(_zfs), _publisher);

        var (_, run) = await runner.HandleAsync(Instructions.Transfer(receiveVerb: "fail"), default);
        await run;

        var failed = _publisher.Published.OfType<SyncInstructionFailed>().Single();
        failed.ExitCode.ShouldBe(1);
        failed.Error.ShouldContain("destination has been modified\\u001b[31m");
    }

    [Fact]
    public async Task Should_kill_the_whole_process_group_at_the_bound()
    {
        var options = Instructions.Options(_zfs);
        options.Timeout = TimeSpan.FromSeconds(2);
        await using var runner = Instructions.Runner(options, _publisher);

        var (_, run) = await runner.HandleAsync(Instructions.Single("zfs", "hang"), default);
        var result = await run;

        result!.Killed.ShouldNotBeNull();
        var child = int.Parse(File.ReadAllText(_zfs.Calls + ".child").Trim(), System.Globalization.CultureInfo.InvariantCulture);
        await Poll.UntilAsync(() => Task.FromResult(!Directory.Exists($"/proc/{child}") || File.ReadAllText($"/proc/{child}/stat").Split(' ')[2] == "Z"), "the grandchild killed");
        _publisher.Published.OfType<SyncInstructionFailed>().Single().Error.ShouldContain("killed at its bound");
    }

    [Fact]
    public void Should_reach_the_other_host_through_ssh_with_the_argv_quoted()
    {
        var options = new ExecutorOptions { Hosts = ["backup1"], ZfsPath = "/sbin/zfs" };
        var instruction = Instructions.Transfer() with
        {
            Steps = [new InstructionStep { Pipeline = [new PipelineStage { HostId = "nas1", Argv = ["zfs", "send", "tank/da ta@s2"] }, new PipelineStage { HostId = "backup1", Argv = ["zfs", "receive", "b"] }] }],
        };

        var plan = InstructionPolicy.Plan(instruction, instruction.Steps[0], options);

        plan[0].Argv.ShouldBe(["ssh", "-o", "BatchMode=yes", "nas1", "zfs send 'tank/da ta@s2'"]);
        plan[1].Argv.ShouldBe(["/sbin/zfs", "receive", "b"]);
    }
}
