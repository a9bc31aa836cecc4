using ZfsSync.Contracts;

namespace ZfsSync.Witness.Core.Planning;

/// <summary>A group's status as <c>SyncGroupStatusChanged</c> reports it, derived from a plan.</summary>
public sealed record GroupStatusSummary(SyncGroupStatus Status, bool Degraded, int DatasetsInSync, int DatasetsTotal)
{
    /// <summary>The status of a plan of the whole group, by <see cref="GroupStatusRule"/>; degraded when a member is not online.</summary>
    public static GroupStatusSummary From(PlannerInput input, PlanResult plan)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(plan);
        var members = input.Group.Members;
        var reported = input.Inventories.Keys.ToHashSet(StringComparer.Ordinal);
        return new GroupStatusSummary(
            GroupStatusRule.Status(GroupStatusRule.Waiting(members, reported), plan.Conflicts.Count, plan.Statuses),
            GroupStatusRule.Degraded(members, input.Liveness),
            GroupStatusRule.DatasetsInSync(input.Group.Datasets, plan.Statuses),
            input.Group.Datasets.Count);
    }
}
