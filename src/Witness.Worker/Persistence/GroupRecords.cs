using System.Text.Json;
using MassTransit.Serialization;

namespace ZfsSync.Witness.Worker.Persistence;

/// <summary>The definition of a sync group in force: the newest configuration that announced it.</summary>
public sealed class GroupDefinitionRecord
{
    public string SyncGroup { get; set; } = "";
    public string DefinitionHash { get; set; } = "";
    public DateTimeOffset LoadedAt { get; set; }

    /// <summary>JSON of <see cref="Groups.GroupDefinitionDocument"/>.</summary>
    public string Definition { get; set; } = "";
}

/// <summary>
/// One issued attempt of an instruction, unique by (<see cref="InstructionId"/>, <see cref="Attempt"/>): the attempts
/// of one instruction are its history (failures and expiries included), the newest one its current state.
/// </summary>
public sealed class InstructionAttemptRecord
{
    public Guid InstructionId { get; set; }
    public int Attempt { get; set; }
    public string SyncGroup { get; set; } = "";
    public string Dataset { get; set; } = "";
    public string SourceHostId { get; set; } = "";
    public string TargetHostId { get; set; } = "";
    public string Kind { get; set; } = "";
    public DateTimeOffset IssuedAt { get; set; }
    public DateTimeOffset ExpiresAt { get; set; }

    /// <summary>The <c>SyncInstructionIssued</c> of this attempt as published (JSON).</summary>
    public string Body { get; set; } = "";

    /// <summary>Null while outstanding; otherwise one of <see cref="InstructionOutcomes"/>.</summary>
    public string? Outcome { get; set; }

    /// <summary>When the witness recorded the outcome (its own clock).</summary>
    public DateTimeOffset? OutcomeAt { get; set; }

    /// <summary>The host whose executors run this attempt (<c>execution.hostId</c>); null for attempts issued before it was recorded (their target).</summary>
    public string? ExecutingHostId { get; set; }

    /// <summary>The executor's free-text <c>executedBy</c> (machine and hosts), as it said.</summary>
    public string? ExecutedBy { get; set; }

    /// <summary>The validated AMQP user-id of the accepted outcome: the broker user who executed (null when the outcome carried none).</summary>
    public string? ExecutorUser { get; set; }

    public int? ExitCode { get; set; }
    public string? Error { get; set; }
    public long? BytesTransferred { get; set; }

    /// <summary>When the expiry sweeper published <c>SyncInstructionExpired</c> for this attempt.</summary>
    public DateTimeOffset? ExpiryPublishedAt { get; set; }

    /// <summary>When an executor reported it started the attempt (<c>SyncInstructionStarted</c>, the executor's clock).</summary>
    public DateTimeOffset? StartedAt { get; set; }

    /// <summary>When the witness last recorded a start or progress message of the attempt (the witness's clock).</summary>
    public DateTimeOffset? ProgressAt { get; set; }

    /// <summary>The last byte count an executor reported (<c>SyncInstructionProgressed.bytesTransferred</c>); null when none was.</summary>
    public long? ProgressBytes { get; set; }

    /// <summary>When the witness saw the byte count grow (or the start); the hang check measures from here.</summary>
    public DateTimeOffset? BytesGrewAt { get; set; }
}

public static class InstructionOutcomes
{
    public const string Completed = "completed";
    public const string Failed = "failed";
    public const string Expired = "expired";
}

/// <summary>A detected conflict and, once an operator answered it, its resolution.</summary>
public sealed class ConflictRecord
{
    public Guid ConflictId { get; set; }
    public string SyncGroup { get; set; } = "";
    public string Dataset { get; set; } = "";
    public string Kind { get; set; } = "";
    public string SourceHostId { get; set; } = "";
    public string TargetHostId { get; set; } = "";

    /// <summary>The <c>SyncConflictDetected</c> as published (JSON).</summary>
    public string Body { get; set; } = "";

    public DateTimeOffset DetectedAt { get; set; }

    /// <summary>When the planner stopped reporting it (its evidence changed) without a resolution; null while open.</summary>
    public DateTimeOffset? ClearedAt { get; set; }

    /// <summary>The kebab-case resolution, or null.</summary>
    public string? Resolution { get; set; }

    /// <summary>The validated AMQP user-id of the operator who resolved it (one of <c>Operators</c>).</summary>
    public string? ResolvedBy { get; set; }

    /// <summary>The free text the operator gave (<c>ResolveSyncConflict.requestedBy</c>): a name, a ticket, a note.</summary>
    public string? RequestedByName { get; set; }

    public DateTimeOffset? ResolvedAt { get; set; }
    public string? PromoteHostId { get; set; }
}

/// <summary>The per-dataset statuses of a group's latest planning round (what <c>GetSyncGroupStatus</c> answers).</summary>
public sealed class GroupStatusRecord
{
    public string SyncGroup { get; set; } = "";
    public DateTimeOffset PlannedAt { get; set; }

    /// <summary>JSON array of <c>DatasetStatusEntry</c>.</summary>
    public string Datasets { get; set; } = "[]";
}

/// <summary>How message bodies are stored: MassTransit's System.Text.Json options, unindented.</summary>
public static class StoredJson
{
    public static readonly JsonSerializerOptions Options = new(SystemTextJsonMessageSerializer.Options) { WriteIndented = false };

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);

    public static T Deserialize<T>(string json) =>
        JsonSerializer.Deserialize<T>(json, Options) ?? throw new JsonException($"stored {typeof(T).Name} is null");
}
