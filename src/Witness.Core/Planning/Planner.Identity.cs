using ZfsSync.Witness.Core.Inventory;

namespace ZfsSync.Witness.Core.Planning;

/// <summary>
/// Dataset identity (docs/PLANNING.md, "Dataset identity"): what a dataset's own guid, and the guid last known at a
/// path that no longer holds it, tell about a dataset that was renamed or destroyed and created again.
/// </summary>
public sealed partial class Planner
{
    /// <summary>
    /// Where the dataset last known at <paramref name="name"/> is now, when it is on the same host under another
    /// path (renamed: same dataset guid, new path); null when nothing is at another path or the guid is unknown.
    /// </summary>
    private static DatasetState? RenamedTo(HostInventory inventory, string name)
    {
        if (inventory.Has(name) || inventory.FindVanished(name) is not { } gone)
        {
            return null;
        }

        return inventory.FindByGuid(gone.Guid) is { } now && now.Name != name ? now : null;
    }

    /// <summary>The status detail of a dataset renamed away from its configured path on <paramref name="host"/>.</summary>
    private static string RenamedDetail(string host, string name, DatasetState now) =>
        $"{host}:{name} was renamed to {now.Name} (dataset guid {now.Guid}); update the configuration to name {now.Name} on {host}";

    /// <summary>
    /// The sentence saying that the dataset at <paramref name="state"/>'s path is not the one the witness knew there:
    /// destroyed and created again, or another dataset in the place of one renamed away. Null when the guid is the
    /// one last known at that path, or when either guid is unknown.
    /// </summary>
    private static string? RecreatedNote(string host, HostInventory inventory, DatasetState state)
    {
        if (state.Guid is not { } current || inventory.FindVanished(state.Name) is not { } gone || gone.Guid == current)
        {
            return null;
        }

        if (inventory.FindByGuid(gone.Guid) is { } moved && moved.Name != state.Name)
        {
            return $"{host}:{state.Name} is not the dataset it was: the one with dataset guid {gone.Guid} was renamed to {moved.Name} "
                + $"and another (dataset guid {current}) took its path; its history is gone";
        }

        return $"{host}:{state.Name} was destroyed and created again (noticed {gone.VanishedAt:u}): its dataset guid was {gone.Guid}, "
            + $"now {current}; its history is gone";
    }

    /// <summary>
    /// Without dataset guids (an older reporter): the sentence saying that the target no longer holds the snapshot
    /// the latest completed instruction received into it, as its inventory since shows. Null when it does, or when no
    /// instruction into it completed before that inventory.
    /// </summary>
    private static string? LostReceivedNote(string host, DatasetState state, DateTimeOffset receivedAt, IEnumerable<InstructionRecord> records)
    {
        var latest = records
            .Where(r => r.CompletedAt <= receivedAt && r.Instruction.Kind != Contracts.InstructionKind.AbortResume)
            .MaxBy(r => r.CompletedAt);
        if (latest is null || state.HasSnapshot(latest.Instruction.To.Guid))
        {
            return null;
        }

        var to = latest.Instruction.To;
        return $"{host}:{state.Name} no longer holds {to.Name} ({to.Guid}), which the witness's instruction received into it at {latest.CompletedAt:u}: "
            + "it was destroyed and created again, or that snapshot was destroyed; its history is gone";
    }

    /// <summary>The source-empty detail of a dataset whose path is gone; says what was last known there, if anything.</summary>
    private static string MissingDetail(string host, HostInventory inventory, string name) =>
        inventory.FindVanished(name) is { } gone
            ? $"{host} has no dataset {name} (it vanished at {gone.VanishedAt:u} with dataset guid {gone.Guid}; no dataset with that guid is in {host}'s report)"
            : $"{host} has no dataset {name}";
}
