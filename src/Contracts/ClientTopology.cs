namespace ZfsSync.Contracts;

/// <summary>
/// Where every client of the witness that is not the witness itself (reporters, executors, operators' tools)
/// publishes and reads, so that no client needs a permission on a shared exchange. See docs/SECURITY.md.
/// <list type="bullet">
/// <item>Each broker user publishes to its own <b>entry exchange</b>, <c>{role}.{user}</c> (type <c>direct</c>, durable),
/// with the routing key set to the name of the shared exchange of the message's type
/// (<c>ZfsSync.Contracts:SnapshotInventoryReported</c>). The witness (or the broker's definitions) declares the
/// entry and binds it, one binding per message type the role may send, to the shared exchange; a routing key
/// the role may not use goes nowhere.</item>
/// <item>A client that reads (an executor, an operator's tool) reads its own <b>inbox queue</b>,
/// <c>{role}.{user}.inbox</c>, which the witness declares and binds to the shared exchanges the role may read.</item>
/// <item>Instructions are <b>routed</b>: besides publishing each <see cref="SyncInstructionIssued"/> and
/// <see cref="SyncInstructionExpired"/> to its shared exchange (for observers), the witness sends it to the
/// <b>host exchange</b> of the instruction's executing host, <c>instructions.{hostId}</c> (fanout, durable, the
/// witness's own), to which only the inbox of that host's executor user is bound. Executor inboxes are bound to no
/// shared exchange.</item>
/// </list>
/// A client may delete or re-declare only its own entry and inbox: that hurts nobody else, and the witness puts
/// them back (on a timer and when its connection recovers).
/// </summary>
public static class ClientTopology
{
    /// <summary>The exchange type of every entry exchange.</summary>
    public const string EntryExchangeType = "direct";

    public const string ReporterRole = "reporter";
    public const string ExecutorRole = "executor";
    public const string OperatorRole = "operator";

    /// <summary>The entry exchange of <paramref name="user"/> in <paramref name="role"/>: <c>reporter.nas1</c>.</summary>
    public static string EntryExchange(string role, string user) => $"{role}.{user}";

    /// <summary>The inbox queue of <paramref name="user"/> in <paramref name="role"/>: <c>executor.runner1.inbox</c>.</summary>
    public static string InboxQueue(string role, string user) => $"{role}.{user}.inbox";

    /// <summary>The exchange type of every host exchange.</summary>
    public const string HostExchangeType = "fanout";

    /// <summary>
    /// The witness's host exchange of <paramref name="hostId"/>: <c>instructions.backup1</c>. The instructions (and
    /// their expiries) that host's executors run are sent here; the inbox of the host's executor user is bound to it.
    /// </summary>
    public static string HostExchange(string hostId) => $"instructions.{hostId}";

    /// <summary>The shared exchange of a message type, which is also its routing key on an entry exchange.</summary>
    public static string SharedExchange<T>() => SharedExchange(typeof(T));

    public static string SharedExchange(Type messageType)
    {
        ArgumentNullException.ThrowIfNull(messageType);
        return $"{messageType.Namespace}:{messageType.Name}";
    }

    /// <summary>The message types a reporter sends.</summary>
    public static IReadOnlyList<Type> ReporterSends { get; } = [typeof(SnapshotInventoryReported), typeof(Heartbeat)];

    /// <summary>The message types an executor sends: the outcomes of instructions, their start and progress, and (its <c>--once</c> mode) the question for its hosts' outstanding instructions.</summary>
    public static IReadOnlyList<Type> ExecutorSends { get; } =
        [typeof(SyncInstructionCompleted), typeof(SyncInstructionFailed), typeof(GetOutstandingInstructions), typeof(SyncInstructionStarted), typeof(SyncInstructionProgressed)];

    /// <summary>
    /// The message types an executor reads in its inbox: only those routed to its host exchanges
    /// (<see cref="HostExchange"/>), never from the shared exchanges (so it sees only its own hosts' instructions).
    /// </summary>
    public static IReadOnlyList<Type> ExecutorReads { get; } = [typeof(SyncInstructionIssued), typeof(SyncInstructionExpired)];

    /// <summary>The message types sent to a host exchange (<see cref="HostExchange"/>).</summary>
    public static IReadOnlyList<Type> HostExchangeCarries { get; } = [typeof(SyncInstructionIssued), typeof(SyncInstructionExpired)];

    /// <summary>The message types an operator's tool sends: decisions, maintenance commands and status queries.</summary>
    public static IReadOnlyList<Type> OperatorSends { get; } =
        [typeof(ResolveSyncConflict), typeof(GetSyncGroupStatus), typeof(GetOutstandingInstructions),
            typeof(GetHostStatus), typeof(GetConflicts), typeof(GetFleetStatistics), typeof(GetSyncGroupHistory), typeof(GetProtectedSnapshots),
            typeof(PauseSyncGroup), typeof(ResumeSyncGroup), typeof(ReplanSyncGroup)];

    /// <summary>The message types an operator's tool reads in its inbox.</summary>
    public static IReadOnlyList<Type> OperatorReads { get; } =
        [typeof(SyncConflictDetected), typeof(SyncConflictResolved), typeof(SyncGroupStatusChanged), typeof(HostStatusChanged), typeof(InventoryRejected),
         typeof(SyncInstructionIssued), typeof(SyncInstructionExpired), typeof(SyncInstructionCompleted), typeof(SyncInstructionFailed)];
}
