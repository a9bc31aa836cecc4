using CsCheck;
using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Planning;
using ZfsSync.Witness.Core.Rendering;
using ZfsSync.Witness.Core.Shell;
using ZfsSync.Witness.Core.Tests.Planning;
using ZfsSync.Witness.Core.Tests.Support;
using static ZfsSync.Witness.Core.Tests.Support.Scenario;

namespace ZfsSync.Witness.Core.Tests.Rendering;

/// <summary>
/// Rendered relay/push/pull commands run under /bin/sh with a fake ssh (which re-runs its command string through
/// sh -c, as sshd does) and fake tools that record their argv: the recorded argv must equal the steps argv exactly,
/// nothing may run by accident, or the value must have been rejected before rendering.
/// </summary>
public sealed class When_hostile_values_reach_the_command_line : IDisposable
{
    private const string Nasty = "it's \"q\" $(touch pwned) `touch pwned2` ; touch pwned3 & | > out \\ * ~ #x";

    private readonly FakeShell shell = new();

    public void Dispose() => shell.Dispose();

    private static Scenario WithTargetName(string targetName, string sourceName = SourceName) => new Scenario().With(g => g with
    {
        Datasets = [new GroupDataset { Path = sourceName, On = new Dictionary<string, string> { ["backup1"] = targetName } }],
        Pipe = new PipeOptions { MbufferSize = "128M", Compression = StreamCompression.Zstd, Progress = true },
        Receive = new ReceiveOptions { Set = new Dictionary<string, string> { ["readonly"] = "on" }, Inherit = ["mountpoint"] },

        // Protected bases on: the source-side bookmark command carries the hostile snapshot names too.
        ProtectBases = ProtectBases.Bookmark,
    });

    private static InstructionStep SendStep(SyncInstructionIssued instruction) => instruction.Steps.Last(s => s.Pipeline.Count > 1);

    private void ShouldRunExactlyAsTheSteps(SyncInstructionIssued instruction, string shellPath = "/bin/sh")
    {
        var expected = instruction.Steps.SelectMany(s => s.Pipeline)
            .SelectMany(p => p.Argv[0] == "sudo" ? new[] { p.Argv.ToArray(), p.Argv.Skip(2).ToArray() } : [p.Argv.ToArray()])
            .Select(a => string.Join("\u241F", a)).Order(StringComparer.Ordinal).ToArray();
        foreach (var (form, command) in new[] { ("relay", instruction.Commands.Relay), ("push", instruction.Commands.Push), ("pull", instruction.Commands.Pull) })
        {
            var (exitCode, calls, stderr) = shell.Run(command, shellPath: shellPath);
            exitCode.ShouldBe(0, $"{form}: {stderr}");
            calls.Where(c => c[0] != "ssh").Select(a => string.Join("\u241F", a)).Order(StringComparer.Ordinal).ToArray()
                .ShouldBe(expected, $"{form} ran other argv than the steps say");
            Directory.GetFileSystemEntries(shell.Work).ShouldBeEmpty($"{form} executed something it should have passed as data");
        }
    }

    private static void ShouldBeRejected(PlanResult result, string fragment)
    {
        result.Instructions.ShouldBeEmpty();
        var anomaly = result.Anomalies.ShouldHaveSingleItem();
        anomaly.Kind.ShouldBe(AnomalyKind.UnsafeValue);
        anomaly.Details.ShouldContain(fragment);
        result.Statuses.ShouldHaveSingleItem().Status.ShouldBe(DatasetSyncStatus.Blocked);
    }

    [Theory]
    [InlineData("backup/my data")]
    [InlineData("backup/-leading dash")]
    [InlineData("backup/ spaced out /-x y.z:w_v")]
    public void Should_carry_dataset_names_with_spaces_and_leading_dashes_unchanged(string targetName)
    {
        var scenario = WithTargetName(targetName)
            .Source(Snap("-first snap", 1, 10), Snap("second : snap", 2, 20), Snap("third", 3, 30))
            .Dataset("backup1", targetName, [Received(Snap("-first snap", 1, 10), 100)]);
        var instruction = scenario.Plan().SingleInstruction();

        SendStep(instruction).Pipeline[^1].Argv[^1].ShouldBe(targetName);
        ShouldRunExactlyAsTheSteps(instruction);
    }

    [Fact]
    public void Should_carry_a_255_character_dataset_name_and_create_its_parent()
    {
        var name = "backup/" + new string('x', 248);
        name.Length.ShouldBe(255);
        var instruction = WithTargetName(name).Source(History.A).Plan().SingleInstruction();

        instruction.Kind.ShouldBe(InstructionKind.Full);
        instruction.Steps.Count.ShouldBe(2, "the send, then the protecting bookmark");
        ShouldRunExactlyAsTheSteps(instruction);
    }

    [Fact]
    public void Should_reject_a_256_character_dataset_name()
    {
        var name = "backup/" + new string('x', 249);
        ShouldBeRejected(WithTargetName(name).Source(History.A).Plan(), "256 characters");
    }

    [Theory]
    [InlineData("backup/it's", "'\\''")]
    [InlineData("backup/$HOME", "'$'")]
    [InlineData("backup/a;touch pwned", "';'")]
    [InlineData("backup/a\nb", "U+000A")]
    [InlineData("backup/données", "U+00E9")]
    [InlineData("backup/a`id`", "'`'")]
    public void Should_reject_dataset_names_a_shell_could_misread(string targetName, string fragment)
    {
        ShouldBeRejected(WithTargetName(targetName).Source(History.A).Plan(), fragment.Replace("'\\''", "'''", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("it's")]
    [InlineData("$(touch pwned)")]
    [InlineData("a;b")]
    [InlineData("a\nb")]
    [InlineData("dé")]
    public void Should_reject_snapshot_names_a_shell_could_misread(string snapshotName)
    {
        var result = WithTargetName(TargetName).Source(History.A, Snap(snapshotName, 9, 90)).Target(History.OnTarget(History.A)).Plan();
        result.Instructions.ShouldBeEmpty();
        result.Anomalies.ShouldHaveSingleItem().Kind.ShouldBe(AnomalyKind.UnsafeValue);
    }

    [Fact]
    public void Should_carry_hostile_identity_file_and_property_values_unchanged()
    {
        var scenario = WithTargetName(TargetName).With(g => g with
        {
            Receive = new ReceiveOptions { Set = new Dictionary<string, string> { ["com.example:note"] = Nasty, ["readonly"] = "on" } },
        });
        scenario.Hosts["nas1"] = scenario.Hosts["nas1"] with { IdentityFile = "/keys/" + Nasty, SshPort = 2222, Sudo = true };
        scenario.Hosts["backup1"] = scenario.Hosts["backup1"] with { IdentityFile = "/k/日本 $x", Sudo = true };
        var instruction = scenario.Source(History.A, History.B, History.C).Target(History.OnTarget(History.A)).Plan().SingleInstruction();

        instruction.Steps[0].Pipeline[^1].Argv.ShouldContain("com.example:note=" + Nasty);
        ShouldRunExactlyAsTheSteps(instruction);

        var (_, calls, _) = shell.Run(instruction.Commands.Relay);
        var sshCalls = calls.Where(c => c[0] == "ssh").Select(c => c[..^1]).ToList();
        sshCalls.ShouldContain(c => c.SequenceEqual(CommandRenderer.SshArgv(scenario.Hosts["nas1"])));
        sshCalls.ShouldContain(c => c.SequenceEqual(CommandRenderer.SshArgv(scenario.Hosts["backup1"])));
        sshCalls.ShouldContain(c => c.Contains("/keys/" + Nasty));
    }

    [Theory]
    [InlineData("/bin/bash")]
    [InlineData("/bin/dash")]
    public void Should_behave_the_same_when_bash_or_dash_is_the_local_and_remote_shell(string shellPath)
    {
        var scenario = WithTargetName("backup/-my data").With(g => g with
        {
            Receive = new ReceiveOptions { Set = new Dictionary<string, string> { ["com.example:note"] = Nasty } },
        });
        scenario.Hosts["nas1"] = scenario.Hosts["nas1"] with { IdentityFile = "/keys/" + Nasty, Sudo = true };
        var instruction = scenario.Source(History.A, History.B, History.C).Dataset("backup1", "backup/-my data", [History.OnTarget(History.A)]).Plan().SingleInstruction();

        ShouldRunExactlyAsTheSteps(instruction, shellPath);
        foreach (var command in new[] { instruction.Commands.Relay, instruction.Commands.Push, instruction.Commands.Pull })
        {
            shell.Run(command, fail: "receive", shellPath: shellPath).ExitCode.ShouldNotBe(0);
        }
    }

    /// <summary>
    /// Random names and configuration values: whatever the planner renders runs exactly as its steps say under a real
    /// shell (nothing else executes), and whatever it refuses is refused with an unsafe-value anomaly.
    /// </summary>
    [Fact]
    public void Should_run_random_values_exactly_as_the_steps_say_or_reject_them()
    {
        const string zfsChars = "abcXYZ09 -_.:";
        const string anyChars = "ab '\"$`\\;|&<>(){}*?~#=é日";
        var component = Gen.Char[zfsChars].Array[1, 12].Select(a => new string(a));
        var value = Gen.Select(Gen.Char[anyChars].Array[0, 16], Gen.Int[0, 7], (a, poison) => new string(a) + (poison == 0 ? "\n" : ""));
        // Bandwidth limits: mostly well-formed rates, some with a hostile character or suffix; sometimes none at all.
        var limit = Gen.Select(Gen.Int[1, 99999], Gen.Char["kKMGmx ;$'\n"], Gen.Int[0, 3], (n, suffix, form) => form switch
        {
            0 => null,
            1 => n.ToString(System.Globalization.CultureInfo.InvariantCulture),
            _ => n.ToString(System.Globalization.CultureInfo.InvariantCulture) + suffix,
        });
        var cases = Gen.Select(component, component, value, value, Gen.Bool, limit, Gen.Bool);
        cases.Sample((dir, snap, key, note, sudo, rate, mbuffer) =>
        {
            var targetName = "backup/" + dir;
            var scenario = WithTargetName(targetName).With(g => g with
            {
                Receive = new ReceiveOptions { Set = new Dictionary<string, string> { ["com.example:note"] = note } },
                Pipe = g.Pipe with { BandwidthLimit = rate, MbufferSize = mbuffer ? "128M" : null },
            });
            scenario.Hosts["nas1"] = scenario.Hosts["nas1"] with { IdentityFile = "/keys/" + key, Sudo = sudo };
            scenario.Hosts["backup1"] = scenario.Hosts["backup1"] with { Sudo = !sudo };
            var result = scenario.Source(Snap(snap, 1, 10), Snap("z", 2, 20)).Dataset("backup1", "backup", []).Plan();
            var valid = ZfsSync.Witness.Core.Names.ZfsName.TryParse(targetName, out _, out _)
                && ZfsSync.Witness.Core.Names.ZfsName.TryParse(SourceName + "@" + snap, out _, out _)
                && ValueValidators.FilePath("/keys/" + key) is null
                && ValueValidators.PropertyValue(note) is null
                && (rate is null || ValueValidators.BandwidthLimit(rate) is null);
            if (!valid)
            {
                result.Instructions.ShouldBeEmpty();
                result.Anomalies.ShouldContain(a => a.Kind == AnomalyKind.UnsafeValue);
                return;
            }

            var instruction = result.SingleInstruction();
            SendStep(instruction).Pipeline[^1].Argv.ShouldContain("com.example:note=" + note);
            if (rate is not null)
            {
                var bytes = ValueValidators.BandwidthBytesPerSecond(rate).ToString(System.Globalization.CultureInfo.InvariantCulture);
                SendStep(instruction).Pipeline.ShouldContain(p => mbuffer
                    ? p.Argv[0] == "mbuffer" && p.Argv.SequenceEqual(new[] { "mbuffer", "-q", "-s", "128k", "-m", "128M", "-r", bytes })
                    : p.Argv.SequenceEqual(new[] { "pv", "-q", "-L", bytes }));
            }

            ShouldRunExactlyAsTheSteps(instruction);
        }, iter: 32, threads: 1);
    }

    public static TheoryData<string, Func<HostDefinition, HostDefinition>, string> HostileHosts() => new()
    {
        { "host with command substitution", h => h with { SshHost = "$(touch pwned)" }, "ssh host" },
        { "host with semicolon", h => h with { SshHost = "nas1.lan;touch pwned" }, "ssh host" },
        { "host that is an ssh option", h => h with { SshHost = "-oProxyCommand=touch pwned" }, "ssh host" },
        { "host with newline", h => h with { SshHost = "nas1\nlan" }, "ssh host" },
        { "user with quote", h => h with { SshUser = "zfs'sync" }, "ssh user" },
        { "user with backticks", h => h with { SshUser = "`id`" }, "ssh user" },
        { "user with space", h => h with { SshUser = "a b" }, "ssh user" },
        { "identity with newline", h => h with { IdentityFile = "/keys/a\nb" }, "control character" },
        { "relative identity", h => h with { IdentityFile = "keys/id" }, "not absolute" },
        { "port zero", h => h with { SshPort = 0 }, "ssh port" },
        { "port too high", h => h with { SshPort = 70000 }, "ssh port" },
        { "zfs path with semicolon", h => h with { ZfsPath = "/sbin/zfs;id" }, "tool path" },
        { "zfs path with space", h => h with { ZfsPath = "/opt/my zfs/zfs" }, "tool path" },
    };

    [Theory]
    [MemberData(nameof(HostileHosts))]
    public void Should_reject_hostile_host_values_before_rendering(string why, Func<HostDefinition, HostDefinition> change, string fragment)
    {
        _ = why;
        var scenario = WithTargetName(TargetName).Source(History.A, History.B).Target(History.OnTarget(History.A));
        scenario.Hosts["backup1"] = change(scenario.Hosts["backup1"]);
        ShouldBeRejected(scenario.Plan(), fragment);
        scenario.Group.Validate(scenario.Hosts).ShouldContain(e => e.Contains(fragment, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("readonly;x", "on", "property name")]
    [InlineData("Readonly", "on", "property name")]
    [InlineData("com.example:note", "a\nb", "control character")]
    [InlineData("com.example:note", "a\0b", "control character")]
    public void Should_reject_hostile_properties_before_rendering(string name, string value, string fragment)
    {
        var scenario = WithTargetName(TargetName).With(g => g with { Receive = new ReceiveOptions { Set = new Dictionary<string, string> { [name] = value } } })
            .Source(History.A, History.B).Target(History.OnTarget(History.A));
        ShouldBeRejected(scenario.Plan(), fragment);
    }

    [Theory]
    [InlineData("20M;touch pwned")]
    [InlineData("$(touch pwned)")]
    [InlineData("-q")]
    [InlineData("20M -r 1")]
    [InlineData("1\n")]
    public void Should_reject_hostile_bandwidth_limits_before_rendering(string limit)
    {
        var scenario = WithTargetName(TargetName).With(g => g with { Pipe = g.Pipe with { BandwidthLimit = limit } })
            .Source(History.A, History.B).Target(History.OnTarget(History.A));
        ShouldBeRejected(scenario.Plan(), "bandwidth limit");
        scenario.Group.Validate(scenario.Hosts).ShouldContain(e => e.Contains("bandwidth limit", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("send")]
    [InlineData("receive")]
    [InlineData("mbuffer")]
    [InlineData("zstd")]
    [InlineData("pv")]
    public void Should_fail_the_whole_command_when_any_stage_fails(string failing)
    {
        var instruction = WithTargetName(TargetName).Source(History.A, History.B).Target(History.OnTarget(History.A)).Plan().SingleInstruction();
        foreach (var command in new[] { instruction.Commands.Relay, instruction.Commands.Push, instruction.Commands.Pull })
        {
            shell.Run(command).ExitCode.ShouldBe(0);
            shell.Run(command, fail: failing).ExitCode.ShouldNotBe(0, $"a failing {failing} went unnoticed in: {command}");
        }
    }

    [Fact]
    public void Should_stop_a_multi_step_plan_at_the_first_failing_step()
    {
        var scenario = WithTargetName(TargetName).Source(History.A, History.B, History.C)
            .Target(History.OnTarget(History.A), History.OnTarget(History.B), Snap("local", 77, 900));
        var conflict = scenario.Plan().SingleConflict();
        scenario.Resolutions.Add(new RecordedResolution { ConflictId = conflict.ConflictId, Resolution = ConflictResolution.RollbackTarget });
        var instruction = scenario.Plan().SingleInstruction();
        instruction.Steps.Count.ShouldBe(3, "rollback, send, bookmark");

        foreach (var command in new[] { instruction.Commands.Relay, instruction.Commands.Push, instruction.Commands.Pull })
        {
            var (exitCode, calls, _) = shell.Run(command, fail: "rollback");
            exitCode.ShouldNotBe(0);
            calls.ShouldNotContain(c => c.Contains("send"));
        }

        ShouldRunExactlyAsTheSteps(instruction);
    }
}

public class When_quoting_arbitrary_strings
{
    private const string Interesting = "abc XYZ019'\"$`\\!#&;|<>(){}[]*?~=%+,-./:@^_\t\n\r é日本\u00a0";

    private static readonly Gen<string[]> Batches =
        Gen.Char[Interesting].Array[0, 24].Select(a => new string(a)).Array[1, 40];

    [Fact]
    public void Should_come_back_unchanged_through_one_shell()
    {
        Batches.Sample(batch =>
        {
            var script = "printf '%s\\0' " + string.Join(' ', batch.Select(PosixShell.Quote));
            FakeShell.RunScript(script).Split('\0')[..^1].ShouldBe(batch);
        }, iter: 25, threads: 1);
    }

    [Fact]
    public void Should_come_back_unchanged_through_two_shells()
    {
        Batches.Sample(batch =>
        {
            var inner = "printf '%s\\0' " + string.Join(' ', batch.Select(PosixShell.Quote));
            var outer = "/bin/sh -c " + PosixShell.Quote(inner);
            FakeShell.RunScript(outer).Split('\0')[..^1].ShouldBe(batch);
        }, iter: 25, threads: 1);
    }

    [Theory]
    [InlineData("")]
    [InlineData("'")]
    [InlineData("''")]
    [InlineData("a'b'c")]
    [InlineData("=x")]
    [InlineData("~root")]
    [InlineData("#comment")]
    public void Should_quote_edge_cases_so_a_shell_returns_them_unchanged(string value)
    {
        FakeShell.RunScript("printf '%s\\0' " + PosixShell.Quote(value)).ShouldBe(value + "\0");
    }

    [Fact]
    public void Should_refuse_a_nul_character()
    {
        Should.Throw<UnsafeValueException>(() => PosixShell.Quote("a\0b"));
    }
}
