using System.Text.Json.Serialization;
using ZfsSync.Contracts.Serialization;

namespace ZfsSync.Contracts;

/// <summary>
/// The paging shape every list query shares: at most <see cref="MaxPageSize"/> entries per answer (default
/// <see cref="DefaultPageSize"/>), and an opaque <c>after</c> token taken from the previous answer's <c>nextAfter</c>.
/// </summary>
public static class Paging
{
    public const int DefaultPageSize = 100;
    public const int MaxPageSize = 500;

    /// <summary>The page size a request asks for, bounded: null or below 1 → the default; above the maximum → the maximum.</summary>
    public static int Bound(int? pageSize) => pageSize is null or < 1 ? DefaultPageSize : Math.Min(pageSize.Value, MaxPageSize);
}

/// <summary>The answer to a query the witness cannot answer as asked (an <c>after</c> token it did not issue, …).</summary>
public sealed record QueryRejected
{
    /// <summary>The query's message type name: <c>GetConflicts</c>.</summary>
    public string Query { get; init; } = "";

    public string Reason { get; init; } = "";
}

/// <summary>Request; <see cref="HostId"/> null asks for every host. Answered with <see cref="HostStatusReport"/>.</summary>
public sealed record GetHostStatus
{
    public string? HostId { get; init; }
    public int? PageSize { get; init; }
    public string? After { get; init; }
}

public sealed record HostStatusReport
{
    public IReadOnlyList<HostStatusEntry> Hosts { get; init; } = [];

    /// <summary>The token for the next page, or null on the last page.</summary>
    public string? NextAfter { get; init; }

    public DateTimeOffset GeneratedAt { get; init; }
}

/// <summary>One host as the witness last heard of it.</summary>
public sealed record HostStatusEntry
{
    public string HostId { get; init; } = "";

    /// <summary>Listed under the witness's <c>Hosts</c> (false: it reported without being configured).</summary>
    public bool Configured { get; init; }

    public HostStatus Status { get; init; }
    public DateTimeOffset? LastSeenAt { get; init; }
    public int HeartbeatIntervalSeconds { get; init; }
    public string? Os { get; init; }
    public string? ZfsVersion { get; init; }
    public string? AgentVersion { get; init; }
    public string? ReporterError { get; init; }
    public IReadOnlyList<PoolHealth> Pools { get; init; } = [];
    public Guid? LastReportId { get; init; }
    public long LastSequence { get; init; }
    public DateTimeOffset? LastReportReceivedAt { get; init; }

    /// <summary>The sync groups the host is a member of.</summary>
    public IReadOnlyList<string> Groups { get; init; } = [];

    public int Datasets { get; init; }
    public int Snapshots { get; init; }
}

/// <summary>Request: the open conflicts (of one group, or all); with <see cref="IncludeClosed"/> the resolved and cleared ones too. Answered with <see cref="ConflictsReport"/>.</summary>
public sealed record GetConflicts
{
    public string? SyncGroup { get; init; }
    public bool IncludeClosed { get; init; }
    public int? PageSize { get; init; }
    public string? After { get; init; }
}

public sealed record ConflictsReport
{
    /// <summary>Newest first.</summary>
    public IReadOnlyList<ConflictEntry> Conflicts { get; init; } = [];

    public string? NextAfter { get; init; }
    public DateTimeOffset GeneratedAt { get; init; }
}

[JsonConverter(typeof(KebabCaseEnumConverter<ConflictState>))]
public enum ConflictState
{
    /// <summary>Detected, no resolution recorded.</summary>
    Open,

    /// <summary>An operator's resolution is recorded.</summary>
    Resolved,

    /// <summary>No longer detected (its evidence changed) without a resolution.</summary>
    Cleared,
}

/// <summary>A conflict as detected, with its state and the recorded resolution.</summary>
public sealed record ConflictEntry
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
    public DateTimeOffset DetectedAt { get; init; }
    public ConflictState State { get; init; }
    public DateTimeOffset? ClearedAt { get; init; }
    public ConflictResolution? Resolution { get; init; }

    /// <summary>The validated broker user who resolved it.</summary>
    public string? ResolvedBy { get; init; }

    /// <summary>The free text that operator gave.</summary>
    public string? RequestedByName { get; init; }

    public DateTimeOffset? ResolvedAt { get; init; }
    public string? PromoteHostId { get; init; }
}

/// <summary>Request: figures for the whole fleet. Answered with <see cref="FleetStatistics"/>.</summary>
public sealed record GetFleetStatistics
{
}

public sealed record FleetStatistics
{
    public int HostsOnline { get; init; }
    public int HostsLate { get; init; }
    public int HostsOffline { get; init; }
    public int GroupsWaiting { get; init; }
    public int GroupsInSync { get; init; }
    public int GroupsOutOfSync { get; init; }
    public int GroupsConflicted { get; init; }

    /// <summary>Groups with a member offline or late.</summary>
    public int GroupsDegraded { get; init; }

    public int OpenConflicts { get; init; }
    public int OutstandingInstructions { get; init; }

    /// <summary>Datasets, snapshots and the bytes their snapshots hold, per host (by host id).</summary>
    public IReadOnlyList<HostVolume> Hosts { get; init; } = [];

    /// <summary>Every dataset × target pair of every group, by how far behind it is.</summary>
    public LagDistribution Lag { get; init; } = new();

    public DateTimeOffset GeneratedAt { get; init; }
}

public sealed record HostVolume
{
    public string HostId { get; init; } = "";
    public int Datasets { get; init; }
    public int Snapshots { get; init; }

    /// <summary>The sum of the snapshots' <c>used</c> bytes.</summary>
    public long SnapshotBytes { get; init; }
}

/// <summary>Dataset × target pairs by lag: in sync, behind by up to an hour, a day, more, or unknown (nothing in common yet).</summary>
public sealed record LagDistribution
{
    public int InSync { get; init; }
    public int UpToOneHour { get; init; }
    public int UpToOneDay { get; init; }
    public int OverOneDay { get; init; }
    public int Unknown { get; init; }

    /// <summary>The largest lag in seconds, or null when no pair has one.</summary>
    public long? MaxLagSeconds { get; init; }
}

/// <summary>
/// Request: one group's timeline, newest first. Answered with <see cref="SyncGroupHistory"/>, or with
/// <see cref="QueryRejected"/> for a group the witness does not know or an <c>after</c> token it did not issue.
/// </summary>
public sealed record GetSyncGroupHistory
{
    public string SyncGroup { get; init; } = "";

    /// <summary>Only entries at or after this time; null: everything still retained.</summary>
    public DateTimeOffset? Since { get; init; }

    /// <summary>Only entries of these kinds; null or empty: every kind.</summary>
    public IReadOnlyList<HistoryEntryKind>? Kinds { get; init; }

    /// <summary>Entries per answer (default 100, at most 500; <see cref="Paging"/>).</summary>
    public int? PageSize { get; init; }

    public string? After { get; init; }
}

public sealed record SyncGroupHistory
{
    public string SyncGroup { get; init; } = "";

    /// <summary>Newest first.</summary>
    public IReadOnlyList<HistoryEntry> Entries { get; init; } = [];

    public string? NextAfter { get; init; }
    public DateTimeOffset GeneratedAt { get; init; }
}

[JsonConverter(typeof(KebabCaseEnumConverter<HistoryEntryKind>))]
public enum HistoryEntryKind
{
    /// <summary>An instruction attempt was issued (<see cref="HistoryEntry.InstructionId"/>, <see cref="HistoryEntry.Attempt"/>).</summary>
    InstructionIssued,
    InstructionCompleted,
    InstructionFailed,
    InstructionExpired,
    ConflictDetected,
    ConflictResolved,
    ConflictCleared,

    /// <summary>The group's status changed (<see cref="HistoryEntry.Status"/> is the new one).</summary>
    StatusChanged,

    /// <summary>How far one dataset's target was behind (<see cref="HistoryEntry.LagSnapshots"/>, <see cref="HistoryEntry.LagSeconds"/>).</summary>
    LagSample,

    /// <summary>An operator paused the group: it issues nothing until resumed.</summary>
    Paused,
    Resumed,
}

/// <summary>One event of a group's timeline; the fields that do not apply to its <see cref="Kind"/> are null.</summary>
public sealed record HistoryEntry
{
    public DateTimeOffset At { get; init; }
    public HistoryEntryKind Kind { get; init; }
    public string? Dataset { get; init; }
    public string? TargetHostId { get; init; }
    public Guid? InstructionId { get; init; }
    public int? Attempt { get; init; }
    public InstructionKind? InstructionKind { get; init; }
    public Guid? ConflictId { get; init; }
    public ConflictKind? ConflictKind { get; init; }
    public ConflictResolution? Resolution { get; init; }

    /// <summary>The group's new status (<see cref="HistoryEntryKind.StatusChanged"/>).</summary>
    public SyncGroupStatus? Status { get; init; }

    public int? LagSnapshots { get; init; }
    public long? LagSeconds { get; init; }

    /// <summary>The validated broker user who acted (a resolution, a pause), when one did.</summary>
    public string? By { get; init; }

    /// <summary>What happened, in words (an outcome's error, a conflict's details, a pause's reason).</summary>
    public string? Detail { get; init; }
}

/// <summary>
/// Request: what the witness protects on one host (docs/PLANNING.md, "Protected bases"), from the host's last reported
/// bookmarks. Answered with <see cref="ProtectedSnapshotsReport"/>.
/// </summary>
public sealed record GetProtectedSnapshots
{
    public string HostId { get; init; } = "";
    public int? PageSize { get; init; }
    public string? After { get; init; }
}

public sealed record ProtectedSnapshotsReport
{
    public string HostId { get; init; } = "";
    public IReadOnlyList<ProtectedSnapshotEntry> Protected { get; init; } = [];

    /// <summary>The token for the next page, or null on the last page.</summary>
    public string? NextAfter { get; init; }

    public DateTimeOffset GeneratedAt { get; init; }
}

/// <summary>One protected base on the host: the witness's bookmark <c>DATASET#zfssync-TARGET-TXG</c> and why it is there.</summary>
public sealed record ProtectedSnapshotEntry
{
    /// <summary>The dataset's ZFS name on the host.</summary>
    public string Dataset { get; init; } = "";

    /// <summary><c>bookmark</c> (a <c>#zfssync-</c> bookmark); <c>hold</c> is reserved for held snapshots.</summary>
    public string Kind { get; init; } = "bookmark";

    /// <summary>The bookmark's name (after <c>#</c>).</summary>
    public string Name { get; init; } = "";

    public ulong Guid { get; init; }
    public ulong CreateTxg { get; init; }

    /// <summary>The target whose incremental base it is.</summary>
    public string Target { get; init; } = "";

    /// <summary>The sync groups both this host and the target are members of.</summary>
    public IReadOnlyList<string> Groups { get; init; } = [];

    /// <summary>The snapshot with that guid, when the host still has it (null: pruned; the bookmark alone keeps the base).</summary>
    public string? Snapshot { get; init; }
}
