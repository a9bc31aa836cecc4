using ZfsSync.Contracts;

namespace ZfsSync.Witness.Worker.Hosting;

/// <summary>
/// Which host's executors run an instruction, and which broker users are those executors (docs/EXECUTOR.md,
/// "Routing"): the target for <c>Pull</c>, the source for <c>Push</c>, the group's <c>RelayHost</c> for <c>Relay</c>;
/// the executors of a host are its <c>Hosts[].Executor</c> user, or, for a host without one, the users of
/// <c>ClientTopology:Executors</c> that are no host's <c>Executor</c> (the unassigned executors).
/// </summary>
public static class InstructionRouting
{
    /// <summary>The configured <c>Execution</c> of a group, or null when it is not one of pull, push, relay.</summary>
    public static ExecutionMode? ParseMode(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" or "pull" => ExecutionMode.Pull,
        "push" => ExecutionMode.Push,
        "relay" => ExecutionMode.Relay,
        _ => null,
    };

    /// <summary>The execution of an instruction from <paramref name="sourceHostId"/> to <paramref name="targetHostId"/> in <paramref name="group"/>.</summary>
    public static InstructionExecution For(SyncGroupOptions group, string sourceHostId, string targetHostId)
    {
        ArgumentNullException.ThrowIfNull(group);
        var mode = ParseMode(group.Execution) ?? ExecutionMode.Pull;
        var host = mode switch
        {
            ExecutionMode.Push => sourceHostId,
            ExecutionMode.Relay when !string.IsNullOrEmpty(group.RelayHost) => group.RelayHost,
            _ => targetHostId,
        };
        return new InstructionExecution { Mode = mode, HostId = host };
    }

    /// <summary>The executing host of an issued instruction: its <c>execution.hostId</c>, or its target for an instruction without one.</summary>
    public static string ExecutingHost(SyncInstructionIssued instruction)
    {
        ArgumentNullException.ThrowIfNull(instruction);
        return instruction.Execution is { HostId.Length: > 0 } execution ? execution.HostId : instruction.Target.HostId;
    }

    /// <summary>The users of <c>ClientTopology:Executors</c> that are no host's <c>Executor</c>.</summary>
    public static IReadOnlyList<string> UnassignedExecutors(WitnessOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var assigned = options.Hosts.Select(h => h.Executor).Where(e => !string.IsNullOrEmpty(e)).ToHashSet(StringComparer.Ordinal);
        return [.. options.ClientTopology.Executors.Where(u => !string.IsNullOrEmpty(u) && !assigned.Contains(u)).Distinct(StringComparer.Ordinal)];
    }

    /// <summary>
    /// The executor users of <paramref name="hostId"/>: its <c>Executor</c>, or the unassigned executors when it has
    /// none (empty when neither is configured).
    /// </summary>
    public static IReadOnlyList<string> ExecutorsOf(WitnessOptions options, string hostId)
    {
        ArgumentNullException.ThrowIfNull(options);
        var host = options.Hosts.FirstOrDefault(h => h.Id == hostId);
        return host?.Executor is { Length: > 0 } executor ? [executor] : UnassignedExecutors(options);
    }

    /// <summary>The declared hosts whose instructions reach <paramref name="user"/>'s inbox.</summary>
    public static IReadOnlyList<string> HostsServedBy(WitnessOptions options, string user)
    {
        ArgumentNullException.ThrowIfNull(options);
        return [.. options.Hosts.Where(h => !string.IsNullOrEmpty(h.Id)).Select(h => h.Id).Distinct(StringComparer.Ordinal)
            .Where(id => ExecutorsOf(options, id).Contains(user, StringComparer.Ordinal))];
    }

    /// <summary>The address the outbox sends a host's routed messages to (the witness's host exchange).</summary>
    public static Uri HostExchangeAddress(string hostId) =>
        new($"exchange:{ClientTopology.HostExchange(hostId)}?type={ClientTopology.HostExchangeType}&durable=true&autodelete=false");
}
