using ZfsSync.Contracts;

namespace ZfsSync.Witness.Core.Inventory;

/// <summary>
/// What the witness holds for one host: every dataset under the reported roots (with or without snapshots), the
/// time the inventory was received (staleness is measured from it, by the witness's clock), the time its content
/// last changed (failure back-off is lifted when an inventory changes) and, when known, the time the host captured it
/// (by the host's clock).
/// </summary>
public sealed class HostInventory
{
    private readonly Dictionary<string, DatasetState> datasets;

    public HostInventory(
        string hostId, IEnumerable<DatasetInventory> datasets, DateTimeOffset receivedAt, DateTimeOffset? changedAt = null,
        IReadOnlyList<string>? roots = null, DateTimeOffset? capturedAt = null)
    {
        ArgumentNullException.ThrowIfNull(datasets);
        HostId = hostId;
        ReceivedAt = receivedAt;
        ChangedAt = changedAt ?? receivedAt;
        CapturedAt = capturedAt;
        this.datasets = new Dictionary<string, DatasetState>(StringComparer.Ordinal);
        foreach (var dataset in datasets)
        {
            this.datasets[dataset.Name] = new DatasetState(dataset);
        }

        Roots = roots ?? [];
    }

    /// <summary>Builds the model from a complete (all parts joined) report.</summary>
    public static HostInventory FromReport(SnapshotInventoryReported report, DateTimeOffset receivedAt, DateTimeOffset? changedAt = null)
    {
        ArgumentNullException.ThrowIfNull(report);
        return new HostInventory(
            report.HostId, report.Datasets, receivedAt, changedAt, report.Roots, report.CapturedAt == default ? null : report.CapturedAt);
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

    public DatasetState? Find(string datasetName) => datasets.GetValueOrDefault(datasetName);

    public bool Has(string datasetName) => datasets.ContainsKey(datasetName);
}
