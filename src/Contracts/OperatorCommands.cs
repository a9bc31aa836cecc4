namespace ZfsSync.Contracts;

/// <summary>
/// Request: pause a sync group for maintenance. A paused group issues no new instruction and no retry (the outstanding
/// ones stay outstanding and their outcomes are still recorded); it keeps taking reports and detecting conflicts. The
/// pause is stored and lasts until <see cref="ResumeSyncGroup"/>. Only the witness's <c>Operators</c> may send it.
/// Answered with <see cref="SyncGroupCommandAccepted"/> or <see cref="SyncGroupCommandRejected"/>.
/// </summary>
public sealed record PauseSyncGroup
{
    public string SyncGroup { get; init; } = "";

    /// <summary>Free text naming who asks (a name, a ticket); recorded beside the validated broker user, never checked.</summary>
    public string RequestedByName { get; init; } = "";

    /// <summary>Why the group is paused, in words (shown by <c>GetSyncGroupStatus</c>); optional.</summary>
    public string? Note { get; init; }
}

/// <summary>Request: lift an operator's pause and plan the group at once. Answered like <see cref="PauseSyncGroup"/>.</summary>
public sealed record ResumeSyncGroup
{
    public string SyncGroup { get; init; } = "";
    public string RequestedByName { get; init; } = "";
    public string? Note { get; init; }
}

/// <summary>
/// Request: run a planning round of the group now instead of waiting for the next report, outcome or timer. On a paused
/// group the round still updates statuses and conflicts but issues nothing, and the answer says so.
/// </summary>
public sealed record ReplanSyncGroup
{
    public string SyncGroup { get; init; } = "";
    public string RequestedByName { get; init; } = "";
    public string? Note { get; init; }
}

/// <summary>The witness carried out a <see cref="PauseSyncGroup"/>, <see cref="ResumeSyncGroup"/> or <see cref="ReplanSyncGroup"/>.</summary>
public sealed record SyncGroupCommandAccepted
{
    /// <summary>The request's message type name: <c>PauseSyncGroup</c>, <c>ResumeSyncGroup</c> or <c>ReplanSyncGroup</c>.</summary>
    public string Command { get; init; } = "";

    public string SyncGroup { get; init; } = "";

    /// <summary>Whether the group is paused now, after the command.</summary>
    public bool Paused { get; init; }

    /// <summary>While paused: the validated broker user who paused it.</summary>
    public string? PausedBy { get; init; }

    /// <summary>While paused: when it was paused.</summary>
    public DateTimeOffset? PausedAt { get; init; }

    /// <summary>Instructions the command's planning round issued (0 for a pause, and always 0 while paused).</summary>
    public int InstructionsIssued { get; init; }

    /// <summary>Instructions the round would have issued but did not, because the group is paused.</summary>
    public int InstructionsWithheld { get; init; }

    /// <summary>The group's status after the command's planning round (the one before it for a pause).</summary>
    public SyncGroupStatus Status { get; init; }

    /// <summary>What happened, in words ("paused; 1 outstanding instruction stays outstanding", "already paused by …").</summary>
    public string Detail { get; init; } = "";

    /// <summary>The validated broker user who sent the command.</summary>
    public string RequestedBy { get; init; } = "";

    public DateTimeOffset AcceptedAt { get; init; }
}

/// <summary>The witness did not carry out the command, and nothing changed.</summary>
public sealed record SyncGroupCommandRejected
{
    public string Command { get; init; } = "";
    public string SyncGroup { get; init; } = "";

    /// <summary>"not an operator: …", "unknown sync group: …", or a malformed request.</summary>
    public string Reason { get; init; } = "";
}
