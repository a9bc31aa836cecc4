using ZfsSync.Contracts;
using ZfsSync.Witness.Worker.StateMachines;

namespace ZfsSync.Witness.Worker.Groups;

/// <summary>
/// An operator's pause of a sync group (<see cref="PauseSyncGroup"/>, <see cref="ResumeSyncGroup"/>), stored on the
/// saga row (<see cref="SyncGroupState.PausedAt"/> …) so that it survives a restart. While paused, a planning round
/// (<see cref="GroupPlanning.PlanAsync(Persistence.WitnessDbContext, SyncGroupState, Persistence.Outbox.ITransactionalOutbox, CancellationToken)"/>) runs as usual (statuses, conflicts) but records and sends no instruction
/// (<see cref="Core.Planning.PlanningRound.Withhold"/>).
/// <see cref="ApplyPause"/> and <see cref="ApplyResume"/> are the only places the flag changes; their callers record it in
/// the group's history (<see cref="HistoryEntryKind.Paused"/>, <see cref="HistoryEntryKind.Resumed"/>) in the same transaction.
/// </summary>
public static class SyncGroupPause
{
    public const int MaxNameLength = 200;
    public const int MaxNoteLength = 2000;

    /// <summary>Pauses the group; false (and nothing changed) when it is paused already.</summary>
    public static bool ApplyPause(SyncGroupState saga, string userId, string? requestedByName, string? note, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(saga);
        ArgumentException.ThrowIfNullOrEmpty(userId);
        if (saga.Paused)
        {
            return false;
        }

        saga.PausedAt = at;
        saga.PausedBy = Clip(userId, 128);
        saga.PausedByName = Clip(requestedByName, MaxNameLength);
        saga.PauseNote = Clip(note, MaxNoteLength);
        return true;
    }

    /// <summary>Lifts the pause; false (and nothing changed) when the group was not paused.</summary>
    public static bool ApplyResume(SyncGroupState saga, string userId, string? requestedByName, string? note, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(saga);
        ArgumentException.ThrowIfNullOrEmpty(userId);
        if (!saga.Paused)
        {
            return false;
        }

        saga.PausedAt = null;
        saga.PausedBy = null;
        saga.PausedByName = null;
        saga.PauseNote = null;
        return true;
    }

    /// <summary>One line: "paused by operator1 (alice) since 2026-12-03 10:00:00Z: disk swap".</summary>
    public static string Describe(SyncGroupState saga)
    {
        ArgumentNullException.ThrowIfNull(saga);
        if (!saga.Paused)
        {
            return "not paused";
        }

        var name = string.IsNullOrWhiteSpace(saga.PausedByName) ? "" : $" ({saga.PausedByName})";
        var note = string.IsNullOrWhiteSpace(saga.PauseNote) ? "" : $": {saga.PauseNote}";
        return FormattableString.Invariant($"paused by {saga.PausedBy}{name} since {saga.PausedAt:u}{note}");
    }

    private static string? Clip(string? value, int max) =>
        string.IsNullOrWhiteSpace(value) ? null : value.Length <= max ? value : value[..max];
}
