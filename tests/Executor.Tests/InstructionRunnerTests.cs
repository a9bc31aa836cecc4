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
        _zfs.CallLines.ShouldBe(["list -H -o name backup", "send tank/data@s2", "receive backup/data"], ignoreOrder: true);
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
        var instruction = Instructions.Transfer() with
        {
            Target = new InstructionEndpoint { HostId = "offsite1", Dataset = "b/data" },
            Execution = new InstructionExecution { Mode = ExecutionMode.Pull, HostId = "offsite1" },
        };

        var (decision, _) = await runner.HandleAsync(instruction, default);

        decision.ShouldBe(InstructionRunner.Decision.NotOurs);
        _zfs.CallLines.ShouldBeEmpty();
        _publisher.Published.ShouldBeEmpty();
    }

    [Theory]
    [InlineData(ExecutionMode.Push, "nas1")]
    [InlineData(ExecutionMode.Relay, "relay1")]
    public async Task Should_ignore_an_instruction_whose_execution_host_is_not_its_own_even_when_it_is_the_target(ExecutionMode mode, string host)
    {
        await using var runner = Instructions.Runner(Instructions.Options(_zfs), _publisher);
        var instruction = Instructions.Transfer() with { Execution = new InstructionExecution { Mode = mode, HostId = host } };

        var (decision, _) = await runner.HandleAsync(instruction, default);

        decision.ShouldBe(InstructionRunner.Decision.NotOurs);
        _zfs.CallLines.ShouldBeEmpty();
        _publisher.Published.ShouldBeEmpty();
    }

    [Theory]
    [InlineData(ExecutionMode.Pull, "a pull must run on its target")]
    [InlineData(ExecutionMode.Push, "a push must run on its source")]
    public async Task Should_refuse_an_execution_host_that_contradicts_its_mode(ExecutionMode mode, string reason)
    {
        // backup1 served here, but the instruction says the pull/push runs on it while it is neither that target nor that source.
        await using var runner = Instructions.Runner(Instructions.Options(_zfs), _publisher);
        var instruction = Instructions.Transfer() with
        {
            Source = new InstructionEndpoint { HostId = "nas1", Dataset = "tank/data" },
            Target = new InstructionEndpoint { HostId = "offsite1", Dataset = "b/data" },
            Execution = new InstructionExecution { Mode = mode, HostId = "backup1" },
        };

        var (decision, _) = await runner.HandleAsync(instruction, default);

        decision.ShouldBe(InstructionRunner.Decision.Refused);
        _zfs.CallLines.ShouldBeEmpty();
        _publisher.Published.OfType<SyncInstructionFailed>().Single().Error.ShouldContain(reason);
    }

    [Fact]
    public async Task Should_run_the_form_the_witness_chose_not_its_own_mode()
    {
        // A push executor of nas1 configured for Pull: the instruction's execution (push on nas1) decides.
        var options = Instructions.Options(_zfs);
        options.Hosts = ["nas1"];
        options.UseShell = true;
        await using var runner = Instructions.Runner(options, _publisher);
        var marker = Path.Combine(_zfs.Directory, "push-ran");
        var instruction = Instructions.Transfer() with
        {
            Execution = new InstructionExecution { Mode = ExecutionMode.Push, HostId = "nas1" },
            Commands = new InstructionCommands { Pull = "exit 7", Push = $"touch '{marker}'", Relay = "exit 8" },
        };

        var (decision, run) = await runner.HandleAsync(instruction, default);

        decision.ShouldBe(InstructionRunner.Decision.Started);
        (await run)!.ExitCode.ShouldBe(0);
        File.Exists(marker).ShouldBeTrue();
        _publisher.Published.OfType<SyncInstructionCompleted>().ShouldHaveSingleItem();
    }

    [Fact]
    public async Task Should_fall_back_to_its_own_mode_for_an_instruction_without_execution()
    {
        var options = Instructions.Options(_zfs);
        options.Hosts = ["nas1"];
        options.Mode = ExecutionMode.Push;
        options.UseShell = true;
        await using var runner = Instructions.Runner(options, _publisher);
        var older = Instructions.Transfer() with { Execution = null, Commands = new InstructionCommands { Pull = "exit 7", Push = "true", Relay = "exit 8" } };

        var (decision, run) = await runner.HandleAsync(older, default);

        decision.ShouldBe(InstructionRunner.Decision.Started, "an older witness's instruction: Push serves the source nas1");
        (await run)!.ExitCode.ShouldBe(0);
        options.Hosts = ["backup1"];
        InstructionPolicy.ExecutingHost(older, options).ShouldBe("nas1");
        InstructionPolicy.ModeOf(older, options).ShouldBe(ExecutionMode.Push);
    }

    [Fact]
    public async Task Should_refuse_a_pull_when_the_targets_pool_is_not_on_this_host()
    {
        await using var runner = Instructions.Runner(Instructions.Options(_zfs), _publisher);
        var instruction = Instructions.Transfer() with { Target = new InstructionEndpoint { HostId = "backup1", Dataset = "fail/data" } };

        var (decision, _) = await runner.HandleAsync(instruction, default);

        decision.ShouldBe(InstructionRunner.Decision.Refused);
        _zfs.CallLines.ShouldBe(["list -H -o name fail"], "only the check ran");
        var failed = _publisher.Published.OfType<SyncInstructionFailed>().Single();
        failed.ExitCode.ShouldBe(126);
        failed.Error.ShouldContain("its pool fail is not here");
        failed.Error.ShouldContain("dataset does not exist");
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
        _zfs.CallLines.Count(l => !l.StartsWith("list", StringComparison.Ordinal)).ShouldBe(2);
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
    public async Task Should_announce_the_start_and_report_growing_bytes_while_a_slow_pipeline_runs()
    {
        var options = Instructions.Options(_zfs);
        options.ProgressInterval = TimeSpan.FromMilliseconds(100);
        await using var runner = Instructions.Runner(options, _publisher);
        var instruction = Instructions.Transfer(sendVerb: "slowsend");

        var (decision, run) = await runner.HandleAsync(instruction, default);
        var result = await run;

        decision.ShouldBe(InstructionRunner.Decision.Started);
        result!.ExitCode.ShouldBe(0);
        var published = _publisher.Published.ToList();
        var started = published[0].ShouldBeOfType<SyncInstructionStarted>("the start comes first");
        started.InstructionId.ShouldBe(instruction.InstructionId);
        started.Attempt.ShouldBe(1);
        started.SyncGroup.ShouldBe("g1");
        started.ExecutedBy.ShouldEndWith("/backup1");
        var progress = published.OfType<SyncInstructionProgressed>().ToList();
        progress.Count.ShouldBeGreaterThanOrEqualTo(2, "a run of about 2.4 s reports every 100 ms");
        progress.ShouldAllBe(p => p.InstructionId == instruction.InstructionId && p.Attempt == 1 && p.BytesTransferred != null);
        var bytes = progress.Select(p => p.BytesTransferred!.Value).ToList();
        bytes.ShouldBe(bytes.Order().ToList(), "the count never goes back");
        bytes.Distinct().Count().ShouldBeGreaterThan(1, "the count grows while the pipeline runs");
        bytes.ShouldAllBe(b => b <= 8 * 65536);
        published.IndexOf(published.OfType<SyncInstructionCompleted>().Single()).ShouldBe(published.Count - 1, "no progress after the outcome");
        published.OfType<SyncInstructionCompleted>().Single().BytesTransferred.ShouldBe(8 * 65536);
    }

    [Fact]
    public async Task Should_report_progress_without_a_byte_count_in_the_shell_form()
    {
        var options = Instructions.Options(_zfs);
        options.ProgressInterval = TimeSpan.FromMilliseconds(100);
        options.UseShell = true;
        await using var runner = Instructions.Runner(options, _publisher);
        var zfs = Witness.Core.Shell.PosixShell.Quote(_zfs.Path);
        var instruction = Instructions.Transfer() with { Commands = new InstructionCommands { Pull = $"{zfs} slowsend tank/data@s2 | {zfs} receive backup/data" } };

        var (_, run) = await runner.HandleAsync(instruction, default);
        (await run)!.ExitCode.ShouldBe(0);

        _publisher.Published.OfType<SyncInstructionStarted>().ShouldHaveSingleItem();
        var progress = _publisher.Published.OfType<SyncInstructionProgressed>().ToList();
        progress.ShouldNotBeEmpty();
        progress.ShouldAllBe(p => p.BytesTransferred == null, "the shell form counts no bytes");
        _publisher.Published.OfType<SyncInstructionCompleted>().Single().BytesTransferred.ShouldBeNull();
    }

    [Fact]
    public async Task Should_kill_a_stalled_pipeline_when_the_witness_expires_it_as_hung_and_report_why()
    {
        var options = Instructions.Options(_zfs);
        options.ProgressInterval = TimeSpan.FromMilliseconds(100);
        var metrics = Instructions.Metrics();
        await using var runner = Instructions.Runner(options, _publisher, metrics);
        var instruction = Instructions.Transfer(sendVerb: "stall");

        var (_, run) = await runner.HandleAsync(instruction, default);
        await Poll.UntilAsync(
            () => Task.FromResult(_publisher.Published.OfType<SyncInstructionProgressed>().Count(p => p.BytesTransferred == 65536) >= 3),
            "the stalled pipeline to report the same count three times");
        run.IsCompleted.ShouldBeFalse("a stalled pipeline is not killed by the executor itself before its bound");
        runner.Expire(Guid.NewGuid(), 1, "hung: another attempt");
        runner.Expire(instruction.InstructionId, 2, "hung: another attempt");
        runner.Running.ShouldBe(1, "an expiry of another attempt kills nothing");

        runner.Expire(instruction.InstructionId, 1, "hung: no bytes for 00:30:00");
        var result = await run;

        result!.Killed.ShouldNotBeNull();
        result.ExitCode.ShouldBe(-1);
        var child = int.Parse(File.ReadAllText(_zfs.Calls + ".child").Trim(), System.Globalization.CultureInfo.InvariantCulture);
        await Poll.UntilAsync(() => Task.FromResult(!Directory.Exists($"/proc/{child}") || File.ReadAllText($"/proc/{child}/stat").Split(' ')[2] == "Z"), "the stalled grandchild killed");
        var failed = _publisher.Published.OfType<SyncInstructionFailed>().Single();
        failed.ExitCode.ShouldBe(-1);
        failed.Error.ShouldContain("the witness expired the attempt (hung: no bytes for 00:30:00)");
        new AttemptStore(_zfs.State).StateOf(instruction.InstructionId, 1).ShouldBe("failed");
        runner.Running.ShouldBe(0);
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
