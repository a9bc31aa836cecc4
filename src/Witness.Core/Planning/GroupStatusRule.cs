using ZfsSync.Contracts;

namespace ZfsSync.Witness.Core.Planning;

/// <summary>
/// The one rule for a group's status and for "a dataset counts as in sync", used by the planning round
/// (<see cref="PlanningRound"/>), the operators' queries and the history. Everything that says whether a pair, a
/// dataset or a group is in sync asks here.
/// </summary>
public static class GroupStatusRule
{
    /// <summary>A dataset × target counts as in sync when it is in sync, or when its source has nothing to send.</summary>
    public static bool CountsAsInSync(DatasetSyncStatus status) => status is DatasetSyncStatus.InSync or DatasetSyncStatus.SourceEmpty;

    /// <inheritdoc cref="CountsAsInSync(DatasetSyncStatus)"/>
    public static bool CountsAsInSync(DatasetStatusEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return CountsAsInSync(entry.Status);
    }

    /// <summary>How many of <paramref name="datasets"/> have at least one status and every status counting as in sync.</summary>
    public static int DatasetsInSync(IEnumerable<GroupDataset> datasets, IEnumerable<DatasetStatusEntry> statuses)
    {
        ArgumentNullException.ThrowIfNull(datasets);
        ArgumentNullException.ThrowIfNull(statuses);
        var byDataset = statuses.GroupBy(s => s.Dataset, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.All(CountsAsInSync), StringComparer.Ordinal);
        return datasets.Count(d => byDataset.TryGetValue(d.Path, out var inSync) && inSync);
    }

    /// <summary>
    /// <c>waiting</c> while a member has not reported; <c>conflicted</c> when a conflict is open or a dataset waits for a
    /// decision; <c>in-sync</c> when every status counts as in sync (<see cref="CountsAsInSync(DatasetSyncStatus)"/>);
    /// otherwise <c>out-of-sync</c>.
    /// </summary>
    public static SyncGroupStatus Status(bool waiting, int openConflicts, IEnumerable<DatasetStatusEntry> statuses)
    {
        ArgumentNullException.ThrowIfNull(statuses);
        if (waiting)
        {
            return SyncGroupStatus.Waiting;
        }

        var list = statuses as IReadOnlyCollection<DatasetStatusEntry> ?? [.. statuses];
        return openConflicts > 0 || list.Any(s => s.Status == DatasetSyncStatus.Conflicted) ? SyncGroupStatus.Conflicted
            : list.All(CountsAsInSync) ? SyncGroupStatus.InSync
            : SyncGroupStatus.OutOfSync;
    }

    /// <summary>Waiting: a member has not reported an inventory yet.</summary>
    public static bool Waiting(IEnumerable<string> members, IReadOnlySet<string> reported)
    {
        ArgumentNullException.ThrowIfNull(members);
        ArgumentNullException.ThrowIfNull(reported);
        return members.Any(m => !reported.Contains(m));
    }

    /// <summary>Degraded: a member is not online (a member without liveness counts as offline).</summary>
    public static bool Degraded(IEnumerable<string> members, IReadOnlyDictionary<string, HostStatus> liveness)
    {
        ArgumentNullException.ThrowIfNull(members);
        ArgumentNullException.ThrowIfNull(liveness);
        return members.Any(m => liveness.GetValueOrDefault(m, HostStatus.Offline) != HostStatus.Online);
    }
}
