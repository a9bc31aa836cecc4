using System.Text.Json.Serialization;
using ZfsSync.Contracts.Serialization;

namespace ZfsSync.Contracts;

/// <summary>What an instruction asks an executor to do (docs/CONTRACT.md, "Enum values", <c>SyncInstructionIssued.kind</c>).</summary>
[JsonConverter(typeof(KebabCaseEnumConverter<InstructionKind>))]
public enum InstructionKind
{
    Full,
    Incremental,
    Resume,
    AbortResume,
    RollbackAndIncremental,
    QuarantineAndFull,
    Reseed,
}

/// <summary>
/// Where an instruction runs (docs/CONTRACT.md, <c>SyncInstructionIssued.execution</c>): on the target (<c>pull</c>),
/// on the source (<c>push</c>) or on a third host reaching both by ssh (<c>relay</c>).
/// </summary>
[JsonConverter(typeof(KebabCaseEnumConverter<ExecutionMode>))]
public enum ExecutionMode
{
    /// <summary>On the target host: the source is reached through ssh.</summary>
    Pull,

    /// <summary>On the source host: the target is reached through ssh.</summary>
    Push,

    /// <summary>On a third host (the group's relay host) reaching both through ssh.</summary>
    Relay,
}

/// <summary>The conflict kinds (docs/PLANNING.md, "Conflicts and resolutions").</summary>
[JsonConverter(typeof(KebabCaseEnumConverter<ConflictKind>))]
public enum ConflictKind
{
    Diverged,
    TargetModified,
    NoCommonSnapshot,
    NameGuidMismatch,
    SplitBrain,
    EncryptionMismatch,
}

/// <summary>The decisions an operator can record for a conflict (docs/PLANNING.md, "Conflicts and resolutions").</summary>
[JsonConverter(typeof(KebabCaseEnumConverter<ConflictResolution>))]
public enum ConflictResolution
{
    RollbackTarget,
    QuarantineTarget,
    Reseed,
    Promote,
    Ignore,
}

[JsonConverter(typeof(KebabCaseEnumConverter<SyncGroupStatus>))]
public enum SyncGroupStatus
{
    Waiting,
    InSync,
    OutOfSync,
    Conflicted,
}

[JsonConverter(typeof(KebabCaseEnumConverter<DatasetSyncStatus>))]
public enum DatasetSyncStatus
{
    InSync,
    Behind,
    Syncing,
    Conflicted,
    Blocked,
    SourceEmpty,

    /// <summary>Something is to be sent, but the group's replication windows are closed; the detail says when the next opens.</summary>
    WaitingForWindow,
}

[JsonConverter(typeof(KebabCaseEnumConverter<HostStatus>))]
public enum HostStatus
{
    Online,
    Late,
    Offline,
}
