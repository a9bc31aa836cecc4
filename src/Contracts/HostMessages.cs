using System.Text.Json.Serialization;
using ZfsSync.Contracts.Serialization;

namespace ZfsSync.Contracts;

/// <summary>
/// The complete state of the dataset trees under <see cref="Roots"/> on one host, as <c>zfs list</c> saw it.
/// Sent by the reporter on each host; may be split by dataset into parts sharing <see cref="ReportId"/>.
/// String-typed fields that come from hosts (types, encryption, health) stay strings so that the witness can
/// reject an unexpected value with a reason instead of failing to deserialize the message.
/// </summary>
public sealed record SnapshotInventoryReported
{
    public string HostId { get; init; } = "";
    public Guid ReportId { get; init; }
    public long Sequence { get; init; }
    public DateTimeOffset CapturedAt { get; init; }
    public IReadOnlyList<string> Roots { get; init; } = [];
    public int Part { get; init; } = 1;
    public int PartCount { get; init; } = 1;
    public IReadOnlyList<DatasetInventory> Datasets { get; init; } = [];
}

/// <summary>One filesystem or volume, with or without snapshots.</summary>
public sealed record DatasetInventory
{
    /// <summary>Full ZFS name, e.g. <c>tank/data</c>.</summary>
    public string Name { get; init; } = "";

    /// <summary><c>filesystem</c> or <c>volume</c>.</summary>
    public string Type { get; init; } = DatasetTypes.Filesystem;

    /// <summary>
    /// The dataset's own <c>guid</c> property (not a snapshot's): it survives a rename and changes when the dataset is
    /// destroyed and created again. Null from a reporter older than this field.
    /// </summary>
    [JsonConverter(typeof(NullableZfsUInt64Converter))]
    public ulong? Guid { get; init; }

    /// <summary><c>off</c>, <c>aes-256-gcm</c>, … or null when unknown.</summary>
    public string? Encryption { get; init; }

    /// <summary><c>available</c>, <c>unavailable</c> or null.</summary>
    public string? KeyStatus { get; init; }

    /// <summary>The <c>receive_resume_token</c> property; null when ZFS prints <c>-</c>.</summary>
    public string? ReceiveResumeToken { get; init; }

    /// <summary>The token as decoded by the reporter, when it did; the witness decodes it itself anyway.</summary>
    public ResumeTokenInfo? Resume { get; init; }

    /// <summary>The <c>written</c> property: bytes changed since the newest snapshot.</summary>
    public long? WrittenBytes { get; init; }

    public IReadOnlyList<SnapshotInfo> Snapshots { get; init; } = [];
    public IReadOnlyList<BookmarkInfo> Bookmarks { get; init; } = [];
}

public static class DatasetTypes
{
    public const string Filesystem = "filesystem";
    public const string Volume = "volume";
}

/// <summary>The fields of a receive resume token that planning needs.</summary>
public sealed record ResumeTokenInfo
{
    [JsonConverter(typeof(ZfsUInt64Converter))]
    public ulong ToGuid { get; init; }

    /// <summary>Absent for a full stream.</summary>
    [JsonConverter(typeof(NullableZfsUInt64Converter))]
    public ulong? FromGuid { get; init; }

    public string? ToName { get; init; }
    public long? Bytes { get; init; }
}

/// <summary>A snapshot: <see cref="Name"/> is the part after <c>@</c>.</summary>
public sealed record SnapshotInfo
{
    public string Name { get; init; } = "";

    [JsonConverter(typeof(ZfsUInt64Converter))]
    public ulong Guid { get; init; }

    [JsonConverter(typeof(ZfsUInt64Converter))]
    public ulong CreateTxg { get; init; }

    public DateTimeOffset CreatedAt { get; init; }
    public long UsedBytes { get; init; }
    public long ReferencedBytes { get; init; }
}

/// <summary>A bookmark: <see cref="Name"/> is the part after <c>#</c>.</summary>
public sealed record BookmarkInfo
{
    public string Name { get; init; } = "";

    [JsonConverter(typeof(ZfsUInt64Converter))]
    public ulong Guid { get; init; }

    [JsonConverter(typeof(ZfsUInt64Converter))]
    public ulong CreateTxg { get; init; }

    public DateTimeOffset CreatedAt { get; init; }
}

/// <summary>Liveness of a host and of its reporter.</summary>
public sealed record Heartbeat
{
    public string HostId { get; init; } = "";
    public DateTimeOffset SentAt { get; init; }

    /// <summary>The cadence the sender promises.</summary>
    public int IntervalSeconds { get; init; }

    public string AgentVersion { get; init; } = "";

    /// <summary><c>linux</c>, <c>freebsd</c>, …</summary>
    public string Os { get; init; } = "";

    public string? ZfsVersion { get; init; }
    public IReadOnlyList<PoolHealth> Pools { get; init; } = [];

    /// <summary>Null, or the last failure of the reporter's <c>zfs</c> commands.</summary>
    public string? ReporterError { get; init; }
}

public sealed record PoolHealth
{
    public string Name { get; init; } = "";

    /// <summary><c>ONLINE</c>, <c>DEGRADED</c>, …</summary>
    public string Health { get; init; } = "";
}
