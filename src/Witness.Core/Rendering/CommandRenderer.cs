using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Planning;
using ZfsSync.Witness.Core.Shell;

namespace ZfsSync.Witness.Core.Rendering;

/// <summary>Which end of an instruction a stage runs on.</summary>
public enum Side
{
    Source,
    Target,
}

/// <summary>One step of a plan before rendering: a <c>zfs send | zfs receive</c> or one <c>zfs</c> command on the target.</summary>
public abstract record PlanStep;

/// <summary><c>zfs send SENDARGS | zfs receive RECEIVEARGS</c>, with the group's pipe stages in between.</summary>
public sealed record SendReceiveStep(IReadOnlyList<string> SendArgs, IReadOnlyList<string> ReceiveArgs) : PlanStep;

/// <summary>A single <c>zfs</c> command run on the target (create, rollback, rename, destroy, receive -A).</summary>
public sealed record TargetZfsStep(IReadOnlyList<string> ZfsArgs) : PlanStep;

/// <summary>A single <c>zfs</c> command run on the source (a protecting bookmark, or the destroy of a superseded one).</summary>
public sealed record SourceZfsStep(IReadOnlyList<string> ZfsArgs) : PlanStep;

/// <summary>The rendered plan: the shell-free steps and the three shell forms.</summary>
public sealed record RenderedPlan(IReadOnlyList<InstructionStep> Steps, InstructionCommands Commands);

/// <summary>
/// Renders plan steps for two hosts: first the argv of every stage (with the host's <c>sudo</c> and <c>zfs</c> path and
/// the group's mbuffer/zstd/pv stages), then the three shell forms from exactly those argvs, so that what a shell
/// executes is what <c>steps</c> says. Every host value is validated first; values are quoted once per shell they
/// cross (a remote command handed to ssh is quoted for the remote shell, then the whole again for the local one).
/// </summary>
public static class CommandRenderer
{
    public const string MbufferBlockSize = "128k";

    public static RenderedPlan Render(HostDefinition source, HostDefinition target, PipeOptions pipe, IReadOnlyList<PlanStep> steps)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(pipe);
        ArgumentNullException.ThrowIfNull(steps);
        foreach (var error in source.Validate().Concat(target.Validate()))
        {
            throw new UnsafeValueException(error);
        }

        if (pipe.MbufferSize is not null)
        {
            ValueValidators.Require(ValueValidators.BufferSize(pipe.MbufferSize));
        }

        if (pipe.BandwidthLimit is not null)
        {
            ValueValidators.Require(ValueValidators.BandwidthLimit(pipe.BandwidthLimit));
        }

        var staged = new List<List<(Side Side, string[] Argv)>>(steps.Count);
        foreach (var step in steps)
        {
            staged.Add(Stages(source, target, pipe, step));
        }

        var instructionSteps = staged
            .Select(stages => new InstructionStep
            {
                Pipeline = stages.Select(s => new PipelineStage { HostId = s.Side == Side.Source ? source.Id : target.Id, Argv = s.Argv }).ToArray(),
            })
            .ToArray();

        var commands = new InstructionCommands
        {
            Relay = PosixShell.Sequence(staged.Select(s => RenderStep(s, source, target, local: null)).ToArray()),
            Push = PosixShell.Sequence(staged.Select(s => RenderStep(s, source, target, local: Side.Source)).ToArray()),
            Pull = PosixShell.Sequence(staged.Select(s => RenderStep(s, source, target, local: Side.Target)).ToArray()),
        };
        return new RenderedPlan(instructionSteps, commands);
    }

    /// <summary>The ssh argv that reaches <paramref name="host"/> (without the remote command).</summary>
    public static List<string> SshArgv(HostDefinition host)
    {
        ArgumentNullException.ThrowIfNull(host);
        var argv = new List<string> { "ssh", "-o", "BatchMode=yes" };
        if (host.SshPort is { } port)
        {
            argv.Add("-p");
            argv.Add(port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        if (host.IdentityFile is { } key)
        {
            argv.Add("-i");
            argv.Add(key);
        }

        argv.Add(host.SshUser is { } user ? $"{user}@{host.SshHost}" : host.SshHost);
        return argv;
    }

    private static List<(Side Side, string[] Argv)> Stages(HostDefinition source, HostDefinition target, PipeOptions pipe, PlanStep step)
    {
        var stages = new List<(Side, string[])>();
        switch (step)
        {
            case SendReceiveStep sr:
                stages.Add((Side.Source, Zfs(source, "send", sr.SendArgs)));
                if (pipe.Progress)
                {
                    stages.Add((Side.Source, ["pv"]));
                }

                if (pipe.Compression == StreamCompression.Zstd)
                {
                    stages.Add((Side.Source, ["zstd", "-q", "-c"]));
                }

                // The limit applies to the bytes that cross the network (after compression): the sending mbuffer's
                // read rate, or a pv of its own. Both are given bytes a second, so no suffix can be read differently.
                var rate = pipe.BandwidthLimit is { } limit
                    ? ValueValidators.BandwidthBytesPerSecond(limit).ToString(System.Globalization.CultureInfo.InvariantCulture)
                    : null;
                if (rate is not null && pipe.MbufferSize is null)
                {
                    stages.Add((Side.Source, ["pv", "-q", "-L", rate]));
                }

                if (pipe.MbufferSize is { } size)
                {
                    stages.Add((Side.Source, rate is null
                        ? ["mbuffer", "-q", "-s", MbufferBlockSize, "-m", size]
                        : ["mbuffer", "-q", "-s", MbufferBlockSize, "-m", size, "-r", rate]));
                    stages.Add((Side.Target, ["mbuffer", "-q", "-s", MbufferBlockSize, "-m", size]));
                }

                if (pipe.Compression == StreamCompression.Zstd)
                {
                    stages.Add((Side.Target, ["zstd", "-q", "-d", "-c"]));
                }

                stages.Add((Side.Target, Zfs(target, "receive", sr.ReceiveArgs)));
                break;
            case TargetZfsStep t:
                stages.Add((Side.Target, Zfs(target, t.ZfsArgs[0], t.ZfsArgs.Skip(1).ToArray())));
                break;
            case SourceZfsStep s:
                stages.Add((Side.Source, Zfs(source, s.ZfsArgs[0], s.ZfsArgs.Skip(1).ToArray())));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(step), step, "unknown step type");
        }

        return stages;
    }

    private static string[] Zfs(HostDefinition host, string subcommand, IReadOnlyList<string> args)
    {
        var argv = new List<string>(args.Count + 3);
        if (host.Sudo)
        {
            // -n: fail at once instead of waiting for a password nobody can type (ssh runs with BatchMode).
            argv.Add("sudo");
            argv.Add("-n");
        }

        argv.Add(host.ZfsCommand);
        argv.Add(subcommand);
        argv.AddRange(args);
        return [.. argv];
    }

    private static string RenderStep(List<(Side Side, string[] Argv)> stages, HostDefinition source, HostDefinition target, Side? local)
    {
        // Group consecutive stages by side; a side other than the local one is reached through ssh.
        var localStages = new List<string>();
        var i = 0;
        while (i < stages.Count)
        {
            var side = stages[i].Side;
            var run = new List<string>();
            while (i < stages.Count && stages[i].Side == side)
            {
                run.Add(PosixShell.Command(stages[i].Argv));
                i++;
            }

            if (side == local)
            {
                localStages.AddRange(run);
            }
            else
            {
                var host = side == Side.Source ? source : target;
                var remote = PosixShell.Pipeline(run);
                var ssh = SshArgv(host);
                ssh.Add(remote);
                localStages.Add(PosixShell.Command(ssh));
            }
        }

        return PosixShell.Pipeline(localStages);
    }
}
