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

/// <summary>
/// Internal: a sync group's definition as one witness process loaded it from configuration (at start-up). The saga
/// keeps the newest one by <see cref="LoadedAt"/> (ties broken by <see cref="DefinitionHash"/>), so replicas started
/// with different files do not undo each other.
/// </summary>
public sealed record SyncGroupConfigured
{
    public string SyncGroup { get; init; } = "";

    /// <summary>SHA-256 (hex) of <see cref="Definition"/>.</summary>
    public string DefinitionHash { get; init; } = "";

    /// <summary>The group and the hosts of its members, as JSON (the witness's configuration shape).</summary>
    public string Definition { get; init; } = "";

    /// <summary>When the publishing process loaded its configuration.</summary>
    public DateTimeOffset LoadedAt { get; init; }
}

/// <summary>
/// Internal: a configuration loaded at <see cref="LoadedAt"/> no longer declares <see cref="SyncGroup"/>. The saga is
/// finalized only if that configuration is newer than the one it holds.
/// </summary>
public sealed record SyncGroupRemoved
{
    public string SyncGroup { get; init; } = "";
    public DateTimeOffset LoadedAt { get; init; }
}

/// <summary>Internal: the liveness of a member of <see cref="SyncGroup"/> changed, so its saga must plan again.</summary>
public sealed record GroupHostStatusChanged
{
    public string SyncGroup { get; init; } = "";
    public string HostId { get; init; } = "";
    public HostStatus Status { get; init; }
    public DateTimeOffset? LastSeenAt { get; init; }
}
