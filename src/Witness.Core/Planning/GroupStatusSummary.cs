using ZfsSync.Contracts;

namespace ZfsSync.Witness.Core.Planning;

/// <summary>A group's status as <c>SyncGroupStatusChanged</c> reports it, derived from a plan.</summary>
public sealed record GroupStatusSummary(SyncGroupStatus Status, bool Degraded, int DatasetsInSync, int DatasetsTotal)
{
    /// <summary>
    /// <c>waiting</c> while a member has not reported; <c>conflicted</c> when a dataset waits for a decision;
    /// <c>in-sync</c> when every target of every dataset is in sync (a source with nothing to send counts as in sync);
    /// otherwise <c>out-of-sync</c>. Degraded when a member is not online.
    /// </summary>
    public static GroupStatusSummary From(PlannerInput input, PlanResult plan)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(plan);
        var degraded = input.Group.Members.Any(m => !input.Liveness.TryGetValue(m, out var s) || s != HostStatus.Online);
        var byDataset = plan.Statuses.GroupBy(s => s.Dataset, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        var inSync = input.Group.Datasets.Count(d =>
            byDataset.TryGetValue(d.Path, out var entries) && entries.All(e => e.Status is DatasetSyncStatus.InSync or DatasetSyncStatus.SourceEmpty));
        var total = input.Group.Datasets.Count;
        var status = input.Group.Members.Any(m => !input.Inventories.ContainsKey(m))
            ? SyncGroupStatus.Waiting
            : plan.Statuses.Any(s => s.Status == DatasetSyncStatus.Conflicted) || plan.Conflicts.Count > 0
                ? SyncGroupStatus.Conflicted
                : inSync == total ? SyncGroupStatus.InSync : SyncGroupStatus.OutOfSync;
        return new GroupStatusSummary(status, degraded, inSync, total);
    }
}
