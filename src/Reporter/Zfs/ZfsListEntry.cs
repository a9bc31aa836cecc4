namespace ZfsSync.Reporter.Zfs;

/// <summary>The kinds of object that <c>zfs list -t filesystem,volume,snapshot,bookmark</c> prints.</summary>
public enum ZfsObjectType
{
    Filesystem,
    Volume,
    Snapshot,
    Bookmark,
}

/// <summary>
/// One line of <c>zfs list -H -p -o name,type,guid,createtxg,creation,used,referenced</c>. Values ZFS prints as
/// <c>-</c> (not applicable, e.g. <c>used</c> of a bookmark) are null.
/// </summary>
public sealed record ZfsListEntry(
    string Name,
    ZfsObjectType Type,
    ulong? Guid,
    ulong? CreateTxg,
    DateTimeOffset? Creation,
    long? Used,
    long? Referenced)
{
    public bool IsDataset => Type is ZfsObjectType.Filesystem or ZfsObjectType.Volume;
}

/// <summary>The properties read with <c>zfs get</c> for one filesystem or volume; null where ZFS printed <c>-</c>.</summary>
public sealed record ZfsDatasetProperties
{
    public string? ReceiveResumeToken { get; init; }
    public string? Encryption { get; init; }
    public string? KeyStatus { get; init; }
    public long? Written { get; init; }
}

/// <summary>Output of a <c>zfs</c> or <c>zpool</c> command that does not have the documented shape.</summary>
public sealed class ZfsOutputException : Exception
{
    public ZfsOutputException()
    {
    }

    public ZfsOutputException(string message)
        : base(message)
    {
    }

    public ZfsOutputException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
