using ZfsSync.Contracts;

namespace ZfsSync.Witness.Core.Inventory;

/// <summary>
/// A dataset the witness no longer sees at <paramref name="Name"/> on a host: gone from the host's report, or
/// replaced there by a dataset with another guid. <paramref name="Guid"/> is the dataset guid last known at that path,
/// <paramref name="VanishedAt"/> when the witness applied the report that showed it gone.
/// </summary>
public sealed record VanishedDataset(string Name, ulong Guid, DateTimeOffset VanishedAt);

/// <summary>
/// What the witness holds for one host: every dataset under the reported roots (with or without snapshots), the
/// time the inventory was received (staleness is measured from it, by the witness's clock), the time its content
/// last changed (failure back-off is lifted when an inventory changes), when known the time the host captured it (by
/// the host's clock), and the last known identity of datasets that vanished (docs/PLANNING.md, "Dataset identity").
/// </summary>
public sealed class HostInventory
{
    private readonly Dictionary<string, DatasetState> datasets;
    private readonly Dictionary<ulong, DatasetState> byGuid = [];
    private readonly Dictionary<string, VanishedDataset> vanished = new(StringComparer.Ordinal);

    public HostInventory(
        string hostId, IEnumerable<DatasetInventory> datasets, DateTimeOffset receivedAt, DateTimeOffset? changedAt = null,
        IReadOnlyList<string>? roots = null, IEnumerable<VanishedDataset>? vanished = null, DateTimeOffset? capturedAt = null)
    {
        ArgumentNullException.ThrowIfNull(datasets);
        HostId = hostId;
        ReceivedAt = receivedAt;
        ChangedAt = changedAt ?? receivedAt;
        CapturedAt = capturedAt;
        this.datasets = new Dictionary<string, DatasetState>(StringComparer.Ordinal);
        foreach (var dataset in datasets)
        {
            var state = new DatasetState(dataset);
            this.datasets[dataset.Name] = state;
            if (state.Guid is { } guid)
            {
                byGuid.TryAdd(guid, state);
            }
        }

        foreach (var gone in vanished ?? [])
        {
            this.vanished[gone.Name] = gone;
        }

        Roots = roots ?? [];
    }

    /// <summary>Builds the model from a complete (all parts joined) report.</summary>
    public static HostInventory FromReport(SnapshotInventoryReported report, DateTimeOffset receivedAt, DateTimeOffset? changedAt = null)
    {
        ArgumentNullException.ThrowIfNull(report);
        return new HostInventory(
            report.HostId, report.Datasets, receivedAt, changedAt, report.Roots, capturedAt: report.CapturedAt == default ? null : report.CapturedAt);
    }

    public string HostId { get; }
    public DateTimeOffset ReceivedAt { get; }
    public DateTimeOffset ChangedAt { get; }

    /// <summary>
    /// When the host captured the report (its <c>capturedAt</c>, by the host's clock), or null when unknown. An
    /// inventory captured before an instruction into it completed may not show that instruction's effect, however
    /// late it was received (docs/PLANNING.md, "Liveness, staleness and history").
    /// </summary>
    public DateTimeOffset? CapturedAt { get; }

    public IReadOnlyList<string> Roots { get; }
    public IReadOnlyCollection<DatasetState> Datasets => datasets.Values;

    /// <summary>The last known identity of datasets no longer seen at their path, by that path.</summary>
    public IReadOnlyDictionary<string, VanishedDataset> Vanished => vanished;

    public DatasetState? Find(string datasetName) => datasets.GetValueOrDefault(datasetName);

    /// <summary>The dataset with this dataset guid, wherever it is now; null when none reported it.</summary>
    public DatasetState? FindByGuid(ulong guid) => byGuid.GetValueOrDefault(guid);

    /// <summary>What was last known at <paramref name="datasetName"/> before it vanished or was replaced, or null.</summary>
    public VanishedDataset? FindVanished(string datasetName) => vanished.GetValueOrDefault(datasetName);

    public bool Has(string datasetName) => datasets.ContainsKey(datasetName);
}
