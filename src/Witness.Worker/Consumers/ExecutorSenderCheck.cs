using ZfsSync.Witness.Core.Names;
using ZfsSync.Witness.Worker.Hosting;

namespace ZfsSync.Witness.Worker.Consumers;

/// <summary>
/// Who may report on an attempt (its outcome, and any other message an executor sends about it): only the executors of
/// the attempt's executing host, told apart by the AMQP <c>user-id</c> that RabbitMQ validated against the sending
/// connection's user (docs/EXECUTOR.md, "Routing"):
/// <list type="bullet">
/// <item>a host with <c>Hosts[].Executor</c>: exactly that user;</item>
/// <item>a host without one: the users of <c>ClientTopology:Executors</c> that are no host's <c>Executor</c> (the
/// unassigned executors, whose inboxes receive that host's instructions);</item>
/// <item>neither configured: any sender, as before executors were configured (only users whose entry the witness binds
/// to the outcome exchanges can send one at all, and there are none).</item>
/// </list>
/// </summary>
public static class ExecutorSenderCheck
{
    /// <summary>Null when <paramref name="senderUserId"/> may report on an attempt run by <paramref name="executingHostId"/>'s executors; else why not (values quoted).</summary>
    public static string? Check(WitnessOptions options, string executingHostId, string? senderUserId)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(executingHostId);
        var allowed = InstructionRouting.ExecutorsOf(options, executingHostId);
        if (allowed.Count == 0)
        {
            return null;
        }

        var who = string.Join(" or ", allowed.Select(ZfsName.Quote));
        if (string.IsNullOrEmpty(senderUserId))
        {
            return $"it carries no validated user-id; the executors of host {ZfsName.Quote(executingHostId)} send as RabbitMQ user {who}";
        }

        return allowed.Contains(senderUserId, StringComparer.Ordinal)
            ? null
            : $"it was sent by RabbitMQ user {ZfsName.Quote(senderUserId)}, but the executors of host {ZfsName.Quote(executingHostId)} send as {who}";
    }
}
