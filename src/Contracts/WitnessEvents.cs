using System.Text.Json.Serialization;
using ZfsSync.Contracts.Serialization;

namespace ZfsSync.Contracts;

/// <summary>
/// A ready-to-run replication step. Subscribers de-duplicate on (<see cref="InstructionId"/>,
/// <see cref="Attempt"/>); everything but <see cref="Attempt"/>, <see cref="IssuedAt"/>, <see cref="ExpiresAt"/> and
/// <see cref="NotAfter"/> is identical across attempts of the same decision.
/// </summary>
public sealed record SyncInstructionIssued
{
    public Guid InstructionId { get; init; }
    public int Attempt { get; init; } = 1;
    public string SyncGroup { get; init; } = "";

    /// <summary>The dataset's logical name in the group.</summary>
    public string Dataset { get; init; } = "";

    public InstructionKind Kind { get; init; }
    public InstructionEndpoint Source { get; init; } = new();
    public InstructionEndpoint Target { get; init; } = new();

    /// <summary>The incremental base, or null for a full send.</summary>
    public SnapshotReference? From { get; init; }

    public SnapshotReference To { get; init; } = new();
    public int SnapshotCount { get; init; }
    public InstructionCommands Commands { get; init; } = new();
    public IReadOnlyList<InstructionStep> Steps { get; init; } = [];
    public string Reason { get; init; } = "";

    /// <summary>The recorded resolution that allowed a destructive step, or null.</summary>
    public ConflictResolution? Resolution { get; init; }

    public DateTimeOffset IssuedAt { get; init; }
    public DateTimeOffset ExpiresAt { get; init; }

    /// <summary>
    /// Which form runs and on which host's executors (the group's <c>Execution</c>); null from a witness older than
    /// this field, when the executor runs its own configured mode.
    /// </summary>
    public InstructionExecution? Execution { get; init; }

    /// <summary>
    /// The end of the group's replication window this attempt was issued in: an executor does not start it at or after
    /// this instant and stops a run still going then (the receive keeps its resume token). Null (a group without
    /// windows, or a witness older than this field): no such limit.
    /// </summary>
    public DateTimeOffset? NotAfter { get; init; }
}

/// <summary>Where an instruction runs: the form (<see cref="Mode"/>) and the host whose executors run it.</summary>
public sealed record InstructionExecution
{
    public ExecutionMode Mode { get; init; }

    /// <summary>The executing host: the target for pull, the source for push, the group's relay host for relay.</summary>
    public string HostId { get; init; } = "";
}

public sealed record InstructionEndpoint
{
    public string HostId { get; init; } = "";

    /// <summary>The dataset's ZFS name on this host.</summary>
    public string Dataset { get; init; } = "";

    public SshEndpoint? Ssh { get; init; }
}

public sealed record SshEndpoint
{
    public string Host { get; init; } = "";
    public string? User { get; init; }
    public int? Port { get; init; }
}

/// <summary>A snapshot (or, for a base, a bookmark) named by its short name and identified by its guid.</summary>
public sealed record SnapshotReference
{
    public string Name { get; init; } = "";

    [JsonConverter(typeof(ZfsUInt64Converter))]
    public ulong Guid { get; init; }

    public bool IsBookmark { get; init; }
}

/// <summary>Complete shell command lines: multi-step plans joined so that a failing step stops the rest.</summary>
public sealed record InstructionCommands
{
    /// <summary>Runs on any box that can ssh to both hosts.</summary>
    public string Relay { get; init; } = "";

    /// <summary>Runs on the source host.</summary>
    public string Push { get; init; } = "";

    /// <summary>Runs on the target host.</summary>
    public string Pull { get; init; } = "";
}

/// <summary>One step of a plan: a pipeline whose stages run on the named hosts, without any shell.</summary>
public sealed record InstructionStep
{
    public IReadOnlyList<PipelineStage> Pipeline { get; init; } = [];
}

public sealed record PipelineStage
{
    public string HostId { get; init; } = "";
    public IReadOnlyList<string> Argv { get; init; } = [];
}

public sealed record SyncInstructionExpired
{
    public Guid InstructionId { get; init; }
    public int Attempt { get; init; }
    public string SyncGroup { get; init; } = "";
    public DateTimeOffset ExpiredAt { get; init; }

    /// <summary>Why, in words: <c>expired: …</c> (its <c>expiresAt</c> passed) or <c>hung: …</c> (no progress for the group's <c>HangAfter</c>). Empty from older witnesses.</summary>
    public string Reason { get; init; } = "";
}

public sealed record SyncConflictDetected
{
    public Guid ConflictId { get; init; }
    public string SyncGroup { get; init; } = "";
    public string Dataset { get; init; } = "";
    public ConflictKind Kind { get; init; }
    public string SourceHostId { get; init; } = "";
    public string TargetHostId { get; init; } = "";

    /// <summary>Human text naming host and dataset.</summary>
    public string Details { get; init; } = "";

    public IReadOnlyList<ConflictEvidence> Evidence { get; init; } = [];
    public IReadOnlyList<ConflictResolution> AllowedResolutions { get; init; } = [];
    public DateTimeOffset DetectedAt { get; init; }
}

/// <summary>A snapshot involved in a conflict, on one side.</summary>
public sealed record ConflictEvidence
{
    public string HostId { get; init; } = "";

    /// <summary>The dataset's ZFS name on that host.</summary>
    public string Dataset { get; init; } = "";

    public string Name { get; init; } = "";

    [JsonConverter(typeof(ZfsUInt64Converter))]
    public ulong Guid { get; init; }

    [JsonConverter(typeof(ZfsUInt64Converter))]
    public ulong CreateTxg { get; init; }

    public bool IsBookmark { get; init; }
}

public sealed record SyncConflictResolved
{
    public Guid ConflictId { get; init; }
    public string SyncGroup { get; init; } = "";
    public string Dataset { get; init; } = "";
    public ConflictKind Kind { get; init; }
    public string SourceHostId { get; init; } = "";
    public string TargetHostId { get; init; } = "";
    public string Details { get; init; } = "";
    public IReadOnlyList<ConflictEvidence> Evidence { get; init; } = [];
    public IReadOnlyList<ConflictResolution> AllowedResolutions { get; init; } = [];
    public ConflictResolution Resolution { get; init; }

    /// <summary>The validated broker user (AMQP <c>user-id</c>) of the operator who decided.</summary>
    public string ResolvedBy { get; init; } = "";

    /// <summary>The free text the operator gave as <c>requestedBy</c> (a name, a ticket), or null.</summary>
    public string? RequestedByName { get; init; }

    public DateTimeOffset ResolvedAt { get; init; }
}

public sealed record SyncGroupStatusChanged
{
    public string SyncGroup { get; init; } = "";
    public SyncGroupStatus Status { get; init; }
    public SyncGroupStatus? PreviousStatus { get; init; }
    public bool Degraded { get; init; }
    public int DatasetsInSync { get; init; }
    public int DatasetsTotal { get; init; }
    public DateTimeOffset ChangedAt { get; init; }
}

public sealed record HostStatusChanged
{
    public string HostId { get; init; } = "";
    public HostStatus Status { get; init; }
    public HostStatus? PreviousStatus { get; init; }
    public DateTimeOffset? LastSeenAt { get; init; }
}

/// <summary>A report the witness refused; nothing of it was stored.</summary>
public sealed record InventoryRejected
{
    public string HostId { get; init; } = "";
    public Guid ReportId { get; init; }
    public string Reason { get; init; } = "";
    public DateTimeOffset RejectedAt { get; init; }
}
