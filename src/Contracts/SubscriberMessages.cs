namespace ZfsSync.Contracts;

public sealed record SyncInstructionCompleted
{
    public Guid InstructionId { get; init; }
    public int Attempt { get; init; }
    public string SyncGroup { get; init; } = "";
    public string ExecutedBy { get; init; } = "";
    public DateTimeOffset CompletedAt { get; init; }
    public long? BytesTransferred { get; init; }
}

public sealed record SyncInstructionFailed
{
    public Guid InstructionId { get; init; }
    public int Attempt { get; init; }
    public string SyncGroup { get; init; } = "";
    public string ExecutedBy { get; init; } = "";
    public DateTimeOffset FailedAt { get; init; }
    public int ExitCode { get; init; }

    /// <summary>The tail of the failing command's stderr.</summary>
    public string Error { get; init; } = "";
}

/// <summary>An executor started running an attempt (published once, before the first byte).</summary>
public sealed record SyncInstructionStarted
{
    public Guid InstructionId { get; init; }
    public int Attempt { get; init; }
    public string SyncGroup { get; init; } = "";
    public string ExecutedBy { get; init; } = "";
    public DateTimeOffset StartedAt { get; init; }
}

/// <summary>An attempt is still running: sent every <c>Executor:ProgressInterval</c> while it runs.</summary>
public sealed record SyncInstructionProgressed
{
    public Guid InstructionId { get; init; }
    public int Attempt { get; init; }
    public string SyncGroup { get; init; } = "";
    public string ExecutedBy { get; init; } = "";

    /// <summary>Bytes that reached the receiving stage so far; null when the executor does not count them (the shell form).</summary>
    public long? BytesTransferred { get; init; }

    public DateTimeOffset ReportedAt { get; init; }
}

/// <summary>
/// Request: record an operator's decision for a conflict. <see cref="Resolution"/> is the kebab-case name of one
/// of the conflict's allowed resolutions; it stays a string so that an unknown value is answered with
/// <see cref="SyncConflictResolutionRejected"/> rather than failing to deserialize.
/// </summary>
public sealed record ResolveSyncConflict
{
    public Guid ConflictId { get; init; }
    public string SyncGroup { get; init; } = "";
    public string Resolution { get; init; } = "";
    public string RequestedBy { get; init; } = "";

    /// <summary>For <c>promote</c>: the member that becomes the source (defaults to the conflict's target).</summary>
    public string? PromoteHostId { get; init; }
}

public sealed record SyncConflictResolutionAccepted
{
    public Guid ConflictId { get; init; }
    public string SyncGroup { get; init; } = "";
    public ConflictResolution Resolution { get; init; }
    public string RequestedBy { get; init; } = "";
    public DateTimeOffset AcceptedAt { get; init; }
}

public sealed record SyncConflictResolutionRejected
{
    public Guid ConflictId { get; init; }
    public string SyncGroup { get; init; } = "";
    public string Resolution { get; init; } = "";

    /// <summary>Unknown conflict, already resolved, or resolution not allowed (and which are).</summary>
    public string Reason { get; init; } = "";
}

/// <summary>Request; <see cref="SyncGroup"/> null asks for every group. Answered with <see cref="SyncGroupStatusReport"/>.</summary>
public sealed record GetSyncGroupStatus
{
    public string? SyncGroup { get; init; }

    /// <summary>Groups per answer (default 100, at most 500; <see cref="Paging"/>).</summary>
    public int? PageSize { get; init; }

    /// <summary>The previous answer's <see cref="SyncGroupStatusReport.NextAfter"/>, or null for the first page.</summary>
    public string? After { get; init; }
}

public sealed record SyncGroupStatusReport
{
    public IReadOnlyList<SyncGroupStatusEntry> Groups { get; init; } = [];

    /// <summary>The token for the next page, or null on the last page.</summary>
    public string? NextAfter { get; init; }

    public DateTimeOffset GeneratedAt { get; init; }
}

public sealed record SyncGroupStatusEntry
{
    public string SyncGroup { get; init; } = "";
    public SyncGroupStatus Status { get; init; }
    public bool Degraded { get; init; }
    public int DatasetsInSync { get; init; }
    public int DatasetsTotal { get; init; }
    public IReadOnlyList<DatasetStatusEntry> Datasets { get; init; } = [];

    /// <summary>An operator paused the group (<see cref="PauseSyncGroup"/>): it issues nothing until resumed.</summary>
    public bool Paused { get; init; }

    /// <summary>While paused: the validated broker user who paused it.</summary>
    public string? PausedBy { get; init; }

    /// <summary>While paused: the free text that operator gave (<see cref="PauseSyncGroup.RequestedByName"/>).</summary>
    public string? PausedByName { get; init; }

    public DateTimeOffset? PausedAt { get; init; }

    /// <summary>While paused: why (<see cref="PauseSyncGroup.Note"/>).</summary>
    public string? PauseNote { get; init; }
}

/// <summary>The status of one dataset of a group towards one target.</summary>
public sealed record DatasetStatusEntry
{
    public string Dataset { get; init; } = "";
    public DatasetSyncStatus Status { get; init; }
    public string? SourceHostId { get; init; }
    public string TargetHostId { get; init; } = "";
    public SnapshotReference? NewestCommon { get; init; }
    public int LagSnapshots { get; init; }
    public long? LagSeconds { get; init; }

    /// <summary>Why the dataset is blocked or conflicted, in words.</summary>
    public string? Detail { get; init; }

    public IReadOnlyList<Guid> OpenConflicts { get; init; } = [];
    public IReadOnlyList<Guid> OutstandingInstructions { get; init; } = [];
}

/// <summary>Request; both filters optional. Answered with <see cref="OutstandingInstructions"/>.</summary>
public sealed record GetOutstandingInstructions
{
    public string? SyncGroup { get; init; }
    public string? HostId { get; init; }

    /// <summary>Instructions per answer (default 100, at most 500; <see cref="Paging"/>).</summary>
    public int? PageSize { get; init; }

    /// <summary>The previous answer's <see cref="OutstandingInstructions.NextAfter"/>, or null for the first page.</summary>
    public string? After { get; init; }
}

public sealed record OutstandingInstructions
{
    /// <summary>The current attempts, each as it was issued.</summary>
    public IReadOnlyList<SyncInstructionIssued> Instructions { get; init; } = [];

    /// <summary>The token for the next page, or null on the last page.</summary>
    public string? NextAfter { get; init; }
}
