using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Inventory;

namespace ZfsSync.Witness.Core.Planning;

/// <summary>One failed (or expired) attempt of an instruction.</summary>
public sealed record InstructionFailure
{
    public int Attempt { get; init; }
    public DateTimeOffset FailedAt { get; init; }
    public int? ExitCode { get; init; }
    public string Error { get; init; } = "";
}

/// <summary>An instruction the witness has issued: its latest attempt, the failures so far, and completion.</summary>
public sealed record InstructionRecord
{
    /// <summary>The latest attempt as it was issued.</summary>
    public required SyncInstructionIssued Instruction { get; init; }

    public IReadOnlyList<InstructionFailure> Failures { get; init; } = [];

    /// <summary>When an executor reported the latest attempt completed, or null.</summary>
    public DateTimeOffset? CompletedAt { get; init; }

    /// <summary>Awaiting an outcome: not completed, the latest attempt not failed, not expired.</summary>
    public bool IsOpenAt(DateTimeOffset now) =>
        CompletedAt is null && !Failures.Any(f => f.Attempt >= Instruction.Attempt) && now < Instruction.ExpiresAt;
}

/// <summary>An operator's decision for a conflict.</summary>
public sealed record RecordedResolution
{
    public Guid ConflictId { get; init; }
    public ConflictResolution Resolution { get; init; }

    /// <summary>For <see cref="ConflictResolution.Promote"/>: the member that becomes the source (defaults to the conflict's target).</summary>
    public string? PromoteHostId { get; init; }

    public DateTimeOffset ResolvedAt { get; init; }
    public string ResolvedBy { get; init; } = "";
}

/// <summary>Everything the planner looks at. Nothing else (no clock, no I/O) influences a plan.</summary>
public sealed record PlannerInput
{
    public required SyncGroupDefinition Group { get; init; }
    public required IReadOnlyDictionary<string, HostDefinition> Hosts { get; init; }

    /// <summary>The members' stored inventories by host id; a member without one has not reported yet.</summary>
    public required IReadOnlyDictionary<string, HostInventory> Inventories { get; init; }

    /// <summary>Liveness by host id; a host missing here is treated as offline.</summary>
    public required IReadOnlyDictionary<string, HostStatus> Liveness { get; init; }

    /// <summary>This group's issued instructions that still matter (outstanding, failed, recently completed).</summary>
    public IReadOnlyList<InstructionRecord> Instructions { get; init; } = [];

    public IReadOnlyList<RecordedResolution> Resolutions { get; init; } = [];
    public required DateTimeOffset Now { get; init; }
}

public sealed record PlannerOptions
{
    public static readonly PlannerOptions Default = new();

    /// <summary>Attempts of one decision before the dataset is reported blocked.</summary>
    public int MaxAttempts { get; init; } = 3;

    /// <summary>Wait after the first failure; each further failure multiplies it by <see cref="BackoffFactor"/>.</summary>
    public TimeSpan RetryBackoff { get; init; } = TimeSpan.FromMinutes(5);

    public int BackoffFactor { get; init; } = 3;

    /// <summary>Relative difference of <c>referenced</c> between two sides of one guid that is reported.</summary>
    public double ReferencedTolerance { get; init; } = 0.05;

    /// <summary>Absolute difference of <c>referenced</c> below which nothing is reported.</summary>
    public long ReferencedToleranceBytes { get; init; } = 1 << 20;

    /// <summary>
    /// A snapshot created more than this after <see cref="PlannerInput.Now"/> has a creation time in the future (a host
    /// clock that is wrong): an anomaly, and no lag in seconds is computed from it.
    /// </summary>
    public TimeSpan MaxClockSkew { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>At most this many anomalies per (dataset, source, target), so that a pathological pair cannot flood.</summary>
    public int MaxAnomaliesPerPair { get; init; } = 20;
}

public enum AnomalyKind
{
    /// <summary>Same guid, creation times that differ.</summary>
    CreationTimeDiffers,

    /// <summary>Same guid, <c>referenced</c> sizes that differ beyond the tolerance.</summary>
    ReferencedSizeDiffers,

    /// <summary>Same snapshot name, different guid, where no planned stream touches it.</summary>
    NameClash,

    /// <summary>A receive resume token that does not decode.</summary>
    CorruptResumeToken,

    /// <summary>The reporter's decoding of a token disagrees with the witness's.</summary>
    ResumeTokenDisagrees,

    /// <summary>A recorded resolution that the conflict does not allow.</summary>
    UnusableResolution,

    /// <summary>A value that cannot be rendered safely; nothing was issued.</summary>
    UnsafeValue,

    /// <summary>A snapshot whose creation time lies in the future (beyond <see cref="PlannerOptions.MaxClockSkew"/>).</summary>
    CreationTimeInFuture,
}

/// <summary>A non-blocking observation: reported, never blocks.</summary>
public sealed record PlanAnomaly
{
    public AnomalyKind Kind { get; init; }
    public string Dataset { get; init; } = "";
    public string HostId { get; init; } = "";
    public string? OtherHostId { get; init; }
    public ulong? Guid { get; init; }
    public string Details { get; init; } = "";
}

/// <summary>The planner's answer.</summary>
public sealed record PlanResult
{
    /// <summary>Instructions to publish now: first attempts and retries (the attempt number says which).</summary>
    public IReadOnlyList<SyncInstructionIssued> Instructions { get; init; } = [];

    /// <summary>Every conflict currently detected that has no usable resolution.</summary>
    public IReadOnlyList<SyncConflictDetected> Conflicts { get; init; } = [];

    public IReadOnlyList<PlanAnomaly> Anomalies { get; init; } = [];

    /// <summary>One entry per dataset and target.</summary>
    public IReadOnlyList<DatasetStatusEntry> Statuses { get; init; } = [];
}
