using ZfsSync.Contracts;

namespace ZfsSync.Witness.Worker.Persistence;

/// <summary>A host: declared in configuration or first seen in a heartbeat; its liveness and last applied report.</summary>
public sealed class HostRecord
{
    public string HostId { get; set; } = "";

    /// <summary>False for a host that sent something but is not declared under <c>Hosts</c>.</summary>
    public bool Configured { get; set; }

    public HostStatus Status { get; set; } = HostStatus.Offline;
    public DateTimeOffset? LastSeenAt { get; set; }
    public int HeartbeatIntervalSeconds { get; set; }
    public string? Os { get; set; }
    public string? ZfsVersion { get; set; }
    public string? AgentVersion { get; set; }

    /// <summary><c>name=HEALTH</c> pairs joined by commas.</summary>
    public string? Pools { get; set; }

    public string? ReporterError { get; set; }

    /// <summary>The sequence of the newest report applied (or being assembled from parts).</summary>
    public long LastSequence { get; set; }

    public Guid? LastReportId { get; set; }

    /// <summary>When the witness received the newest applied report (staleness is measured from here).</summary>
    public DateTimeOffset? LastReportReceivedAt { get; set; }

    /// <summary>
    /// When the host captured the newest applied report (its <c>capturedAt</c>, by the host's clock), or null when the
    /// report carried none: the planner does not trust a report captured before a completion to show it.
    /// </summary>
    public DateTimeOffset? LastReportCapturedAt { get; set; }

    /// <summary>When an applied report last changed a stored row (lifts the planner's failure back-off).</summary>
    public DateTimeOffset? LastInventoryChangedAt { get; set; }

    /// <summary>The roots the newest applied report covered, newline-separated.</summary>
    public string? Roots { get; set; }

    public int Version { get; set; }
}

/// <summary>A filesystem or volume on a host, with the properties planning needs.</summary>
public sealed class DatasetRecord
{
    public long Id { get; set; }
    public string HostId { get; set; } = "";
    public string Name { get; set; } = "";
    public string Type { get; set; } = DatasetTypes.Filesystem;

    /// <summary>The dataset's own guid as last reported; null from a reporter older than the field.</summary>
    public ulong? Guid { get; set; }

    public string? Encryption { get; set; }
    public string? KeyStatus { get; set; }
    public string? ReceiveResumeToken { get; set; }
    public long? WrittenBytes { get; set; }

    /// <summary>A digest of the dataset's snapshots and bookmarks as last stored: an unchanged list is not re-read.</summary>
    public string ContentHash { get; set; } = "";

    public List<SnapshotRecord> Snapshots { get; set; } = [];
    public List<BookmarkRecord> Bookmarks { get; set; } = [];
}

/// <summary>
/// The last known identity of a dataset no longer seen at <see cref="Name"/> on a host: it vanished from the host's
/// report (under the report's roots), or a dataset with another guid took its place. One row per host and path, the
/// newest sighting winning; removed when a dataset with that guid is reported at that path again, and after
/// <see cref="Retention"/>. Only datasets whose guid was reported are recorded.
/// </summary>
public sealed class VanishedDatasetRecord
{
    /// <summary>How long a vanished dataset's identity is kept (a host that creates and destroys datasets all day stays bounded).</summary>
    public static readonly TimeSpan Retention = TimeSpan.FromDays(30);

    public string HostId { get; set; } = "";
    public string Name { get; set; } = "";
    public ulong Guid { get; set; }

    /// <summary>When the witness applied the report that showed the dataset gone (or replaced).</summary>
    public DateTimeOffset VanishedAt { get; set; }
}

/// <summary>A snapshot, unique per dataset by guid (its identity), never by name.</summary>
public sealed class SnapshotRecord
{
    public long Id { get; set; }
    public long DatasetId { get; set; }
    public string Name { get; set; } = "";
    public ulong Guid { get; set; }
    public ulong CreateTxg { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public long UsedBytes { get; set; }
    public long ReferencedBytes { get; set; }
}

/// <summary>A bookmark: unique per dataset by name (two bookmarks of one snapshot share its guid).</summary>
public sealed class BookmarkRecord
{
    public long Id { get; set; }
    public long DatasetId { get; set; }
    public string Name { get; set; } = "";
    public ulong Guid { get; set; }
    public ulong CreateTxg { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>What happened to one part of one report: kept so that a redelivery is recognised and its effect audited.</summary>
public sealed class ProcessedReport
{
    public Guid ReportId { get; set; }
    public int Part { get; set; }
    public int PartCount { get; set; }
    public string HostId { get; set; } = "";
    public long Sequence { get; set; }
    public DateTimeOffset ReceivedAt { get; set; }
    public string Outcome { get; set; } = "";
    public int RowsInserted { get; set; }
    public int RowsUpdated { get; set; }
    public int RowsDeleted { get; set; }

    /// <summary>For a part of a split report: the datasets it listed, newline-separated, until every part arrived.</summary>
    public string? PendingDatasets { get; set; }
}

public static class ReportOutcomes
{
    public const string Applied = "applied";
    public const string Incomplete = "applied-part";
    public const string OutOfOrder = "ignored-out-of-order";
}
