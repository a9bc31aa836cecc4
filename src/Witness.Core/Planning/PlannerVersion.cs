namespace ZfsSync.Witness.Core.Planning;

/// <summary>
/// The version of the planner's decisions. Each sync group records the version that last planned it; a start-up
/// announcement whose definition is unchanged plans the group again only when this version differs. <b>Bump it with
/// every change to what the planner decides</b> (a rule, an id, a status, a default) — otherwise groups whose
/// definition did not change keep the previous planner's plan until their next inventory change (docs/PLANNING.md).
/// 2: a target inventory received before a completion counts when it already holds the received snapshot.
/// 3: a target inventory captured before a completion (within the clock skew) that does not show it waits for the next;
/// a resume token whose snapshot the group's filter excludes is aborted; lag (and newestCommon) is given for every pair
/// whose two sides have reported, conflicted ones included; renamed and re-created datasets are said plainly; replication
/// windows gate what is issued; dataset trees, a child's full send after its parent's; each send bookmarks its new base
/// on the source (ProtectBases: bookmark, the default).
/// </summary>
public static class PlannerVersion
{
    public const int Current = 3;
}
