namespace ZfsSync.Contracts;

/// <summary>
/// Internal to the witness (replicas exchange it through the broker): the stored inventory of a host changed for
/// datasets of <see cref="SyncGroup"/>, so its saga must plan again.
/// </summary>
public sealed record GroupInventoryChanged
{
    public string SyncGroup { get; init; } = "";
    public string HostId { get; init; } = "";
    public Guid ReportId { get; init; }
    public long Sequence { get; init; }

    /// <summary>The group's datasets (as named on this host) that changed, or whose parent or children did.</summary>
    public IReadOnlyList<string> Datasets { get; init; } = [];

    public DateTimeOffset ChangedAt { get; init; }
}
