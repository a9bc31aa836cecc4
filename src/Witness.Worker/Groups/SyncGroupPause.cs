using ZfsSync.Contracts;
using ZfsSync.Witness.Worker.StateMachines;

namespace ZfsSync.Witness.Worker.Groups;

/// <summary>
/// An operator's pause of a sync group (<see cref="PauseSyncGroup"/>, <see cref="ResumeSyncGroup"/>), stored on the
/// saga row (<see cref="SyncGroupState.PausedAt"/> …) so that it survives a restart. While paused, a planning round
/// (<see cref="GroupPlanning.PlanAsync"/>) runs as usual (statuses, conflicts) but records and sends no instruction.
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

    /// <summary>
    /// The round's statuses with the instructions withheld by the pause taken out: a pair that was to get one is
    /// <see cref="DatasetSyncStatus.Behind"/>, and its detail says why nothing went out.
    /// </summary>
    public static IReadOnlyList<DatasetStatusEntry> Withhold(IReadOnlyList<DatasetStatusEntry> statuses, IReadOnlySet<Guid> withheld, SyncGroupState saga)
    {
        ArgumentNullException.ThrowIfNull(statuses);
        ArgumentNullException.ThrowIfNull(withheld);
        ArgumentNullException.ThrowIfNull(saga);
        return [.. statuses.Select(s => !s.OutstandingInstructions.Any(withheld.Contains) ? s : s with
        {
            Status = DatasetSyncStatus.Behind,
            Detail = $"nothing issued: the group is {Describe(saga)} (would issue: {s.Detail})",
            OutstandingInstructions = [.. s.OutstandingInstructions.Where(id => !withheld.Contains(id))],
        })];
    }

    private static string? Clip(string? value, int max) =>
        string.IsNullOrWhiteSpace(value) ? null : value.Length <= max ? value : value[..max];
}
