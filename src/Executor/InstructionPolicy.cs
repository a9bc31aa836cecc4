using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Shell;

namespace ZfsSync.Executor;

/// <summary>One process of a pipeline as the executor starts it.</summary>
public sealed record PlannedProcess(string HostId, IReadOnlyList<string> Argv, bool Remote);

/// <summary>
/// The executor's own re-check of an instruction the witness signed, against its configuration: it must be for a
/// host this executor serves (its <c>execution.hostId</c>; from an older witness without it, the target for pull and
/// relay, the source for push), with the executing host where its mode says (a pull on the target, a push on the source), a destructive kind needs a
/// recorded resolution and <see cref="ExecutorOptions.AllowDestructive"/>, and every program of the steps must be on
/// the allow-list (the configured zfs, ssh, sudo, mbuffer, pv, zstd).
/// </summary>
public static class InstructionPolicy
{
    private static readonly HashSet<string> Helpers = new(StringComparer.Ordinal) { "mbuffer", "pv", "zstd" };

    /// <summary>Kinds that destroy data on the target.</summary>
    public static bool IsDestructive(InstructionKind kind) =>
        kind is InstructionKind.RollbackAndIncremental or InstructionKind.QuarantineAndFull or InstructionKind.Reseed;

    /// <summary>The form to run: the instruction's <c>execution.mode</c>, or (an older witness sent none) <see cref="ExecutorOptions.Mode"/>.</summary>
    public static ExecutionMode ModeOf(SyncInstructionIssued instruction, ExecutorOptions options)
    {
        ArgumentNullException.ThrowIfNull(instruction);
        ArgumentNullException.ThrowIfNull(options);
        return instruction.Execution?.Mode ?? options.Mode;
    }

    /// <summary>
    /// The host whose executors run the instruction: its <c>execution.hostId</c>, or (an older witness sent no
    /// <c>execution</c>) the source for <see cref="ExecutorOptions.Mode"/> <c>Push</c>, else the target.
    /// </summary>
    public static string ExecutingHost(SyncInstructionIssued instruction, ExecutorOptions options)
    {
        ArgumentNullException.ThrowIfNull(instruction);
        ArgumentNullException.ThrowIfNull(options);
        if (instruction.Execution is { } execution)
        {
            return execution.HostId;
        }

        return options.Mode == ExecutionMode.Push ? instruction.Source.HostId : instruction.Target.HostId;
    }

    /// <summary>Null when the instruction may run here, else why not (one line, values escaped).</summary>
    public static string? Refusal(SyncInstructionIssued instruction, ExecutorOptions options)
    {
        ArgumentNullException.ThrowIfNull(instruction);
        ArgumentNullException.ThrowIfNull(options);
        var mode = ModeOf(instruction, options);
        var host = ExecutingHost(instruction, options);
        if (!options.Hosts.Contains(host, StringComparer.Ordinal))
        {
            return $"instruction is for host {Hosting.LogText.Escape(host)} ({Wire(mode)}), which this executor does not serve";
        }

        if (instruction.Execution is { } execution && MismatchedHost(instruction, execution) is { } mismatch)
        {
            return mismatch;
        }

        if (IsDestructive(instruction.Kind))
        {
            if (instruction.Resolution is null)
            {
                return $"destructive kind {Kebab(instruction.Kind)} without a recorded resolution";
            }

            if (!options.AllowDestructive)
            {
                return $"destructive kind {Kebab(instruction.Kind)} and Executor:AllowDestructive is off";
            }
        }

        if (options.UseShell)
        {
            return string.IsNullOrEmpty(ShellCommand(instruction, mode)) ? "the instruction has no command for this mode" : null;
        }

        if (instruction.Steps.Count == 0 || instruction.Steps.Any(s => s.Pipeline.Count == 0))
        {
            return "the instruction has no steps";
        }

        foreach (var stage in instruction.Steps.SelectMany(s => s.Pipeline))
        {
            if (stage.HostId != instruction.Source.HostId && stage.HostId != instruction.Target.HostId)
            {
                return $"a stage runs on host {Hosting.LogText.Escape(stage.HostId)}, neither the source nor the target";
            }

            if (ProgramRefusal(stage.Argv, options) is { } refusal)
            {
                return refusal;
            }
        }

        return null;
    }

    /// <summary>A pull runs on the target, a push on the source, a relay on neither: anything else is refused.</summary>
    private static string? MismatchedHost(SyncInstructionIssued instruction, InstructionExecution execution) => execution.Mode switch
    {
        ExecutionMode.Pull when execution.HostId != instruction.Target.HostId =>
            $"a pull must run on its target {Hosting.LogText.Escape(instruction.Target.HostId)}, not on {Hosting.LogText.Escape(execution.HostId)}",
        ExecutionMode.Push when execution.HostId != instruction.Source.HostId =>
            $"a push must run on its source {Hosting.LogText.Escape(instruction.Source.HostId)}, not on {Hosting.LogText.Escape(execution.HostId)}",
        ExecutionMode.Relay when execution.HostId == instruction.Source.HostId || execution.HostId == instruction.Target.HostId =>
            $"a relay runs on a third host, not on {Hosting.LogText.Escape(execution.HostId)}",
        ExecutionMode.Pull or ExecutionMode.Push or ExecutionMode.Relay => null,
        _ => $"unknown execution mode {(int)execution.Mode}",
    };

    private static string Wire(ExecutionMode mode) => mode.ToString().ToLowerInvariant();

    private static string? ProgramRefusal(IReadOnlyList<string> argv, ExecutorOptions options)
    {
        if (argv.Count == 0)
        {
            return "a stage has an empty argv";
        }

        var program = argv[0];
        if (program == "sudo" || program == options.SudoPath)
        {
            // sudo -n zfs …: what follows must itself be zfs.
            var rest = argv.Skip(1).SkipWhile(a => a == "-n").ToList();
            return rest.Count > 0 && IsZfs(rest[0], options) ? null : $"sudo runs {Hosting.LogText.Escape(rest.FirstOrDefault() ?? "")}, not zfs";
        }

        return IsZfs(program, options) || Helpers.Contains(program)
            ? null
            : $"program {Hosting.LogText.Escape(program)} is not on the allow-list (zfs, ssh, sudo, mbuffer, pv, zstd)";
    }

    private static bool IsZfs(string program, ExecutorOptions options) =>
        program == "zfs" || program == options.ZfsPath || Path.GetFileName(program) == "zfs";

    /// <summary>The rendered command for <paramref name="mode"/>.</summary>
    public static string ShellCommand(SyncInstructionIssued instruction, ExecutionMode mode)
    {
        ArgumentNullException.ThrowIfNull(instruction);
        return mode switch
        {
            ExecutionMode.Push => instruction.Commands.Push,
            ExecutionMode.Relay => instruction.Commands.Relay,
            _ => instruction.Commands.Pull,
        };
    }

    /// <summary>
    /// The processes of one step: a stage on the executing host runs directly (its <c>zfs</c> as the configured
    /// <see cref="ExecutorOptions.ZfsPath"/>); a stage on the other host runs as <c>ssh … 'argv'</c>. In relay mode
    /// every stage is remote.
    /// </summary>
    public static IReadOnlyList<PlannedProcess> Plan(SyncInstructionIssued instruction, InstructionStep step, ExecutorOptions options)
    {
        ArgumentNullException.ThrowIfNull(instruction);
        ArgumentNullException.ThrowIfNull(step);
        ArgumentNullException.ThrowIfNull(options);
        var local = ModeOf(instruction, options) == ExecutionMode.Relay ? null : ExecutingHost(instruction, options);
        var processes = new List<PlannedProcess>();
        foreach (var stage in step.Pipeline)
        {
            if (stage.HostId == local)
            {
                processes.Add(new PlannedProcess(stage.HostId, [.. stage.Argv.Select(a => a == "zfs" ? options.ZfsPath : a)], Remote: false));
                continue;
            }

            var endpoint = stage.HostId == instruction.Source.HostId ? instruction.Source : instruction.Target;
            var ssh = endpoint.Ssh ?? new SshEndpoint { Host = endpoint.HostId };
            var argv = new List<string> { options.SshPath, "-o", "BatchMode=yes" };
            argv.AddRange(options.SshOptions);
            if (ssh.Port is { } port)
            {
                argv.Add("-p");
                argv.Add(port.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }

            argv.Add(ssh.User is { Length: > 0 } user ? $"{user}@{ssh.Host}" : ssh.Host);
            argv.Add(PosixShell.Command(stage.Argv));
            processes.Add(new PlannedProcess(stage.HostId, argv, Remote: true));
        }

        return processes;
    }

    private static string Kebab(InstructionKind kind) =>
        string.Concat(kind.ToString().Select((c, i) => char.IsUpper(c) && i > 0 ? "-" + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));
}
