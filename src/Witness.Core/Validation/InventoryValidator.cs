using System.Text.RegularExpressions;
using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Names;

namespace ZfsSync.Witness.Core.Validation;

/// <summary>
/// Checks every name and value of a <see cref="SnapshotInventoryReported"/> before anything is stored. The first
/// problem found is returned as one sentence that names the dataset or snapshot (escaped: a hostile name cannot
/// forge a log line); null means the report is acceptable.
/// </summary>
public static partial class InventoryValidator
{
    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,62}$", RegexOptions.CultureInvariant)]
    public static partial Regex HostIdPattern();

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,31}$", RegexOptions.CultureInvariant)]
    private static partial Regex PropertyWordPattern();

    [GeneratedRegex("^[0-9a-f]+(-[0-9a-f]+)+$", RegexOptions.CultureInvariant)]
    private static partial Regex ResumeTokenPattern();

    public static bool IsValidHostId(string? hostId) => hostId is not null && HostIdPattern().IsMatch(hostId);

    public static string? Validate(SnapshotInventoryReported report, InventoryLimits limits)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(limits);

        if (!IsValidHostId(report.HostId))
        {
            return $"hostId {ZfsName.Quote(report.HostId ?? "")} is not a valid host id ([a-z0-9][a-z0-9._-]{{0,62}})";
        }

        if (report.ReportId == Guid.Empty)
        {
            return "reportId is missing";
        }

        if (report.Sequence <= 0)
        {
            return $"sequence {report.Sequence} must be a positive number";
        }

        if (report.PartCount < 1 || report.PartCount > limits.MaxParts || report.Part < 1 || report.Part > report.PartCount)
        {
            return $"part {report.Part} of {report.PartCount} is not a valid part number (1 ≤ part ≤ partCount ≤ {limits.MaxParts})";
        }

        var rootsError = ValidateRoots(report.Roots, limits);
        if (rootsError is not null)
        {
            return rootsError;
        }

        var datasets = report.Datasets ?? [];
        if (datasets.Count > limits.MaxDatasets)
        {
            return $"the report lists {datasets.Count} datasets; the limit is {limits.MaxDatasets}";
        }

        long snapshots = 0;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var datasetGuids = new Dictionary<ulong, string>();
        foreach (var dataset in datasets)
        {
            if (dataset is null)
            {
                return "a dataset entry is null";
            }

            snapshots += (dataset.Snapshots?.Count ?? 0) + (dataset.Bookmarks?.Count ?? 0);
            if (snapshots > limits.MaxSnapshots)
            {
                return $"the report holds more than {limits.MaxSnapshots} snapshots and bookmarks, the limit";
            }

            var error = ValidateDataset(dataset, report.Roots!, limits);
            if (error is not null)
            {
                return error;
            }

            if (!seen.Add(dataset.Name))
            {
                return $"dataset {ZfsName.Quote(dataset.Name)} is listed twice";
            }

            // A dataset's guid identifies it across renames: two datasets of one host cannot share one.
            if (dataset.Guid is { } guid && !datasetGuids.TryAdd(guid, dataset.Name))
            {
                return $"datasets {ZfsName.Quote(datasetGuids[guid])} and {ZfsName.Quote(dataset.Name)} both have dataset guid {guid}";
            }
        }

        return null;
    }

    /// <summary>
    /// The host's claims about time: <c>capturedAt</c> and <c>sequence</c> (milliseconds since the Unix epoch, as
    /// reporters hand them out) may not be more than <paramref name="maxSkew"/> ahead of the witness's clock. A report
    /// from the future would otherwise make every later report of its host look old.
    /// </summary>
    public static string? ValidateClock(SnapshotInventoryReported report, DateTimeOffset now, TimeSpan maxSkew)
    {
        ArgumentNullException.ThrowIfNull(report);
        var limit = now + maxSkew;
        if (report.CapturedAt > limit)
        {
            return $"capturedAt {report.CapturedAt:O} is more than {maxSkew} ahead of the witness's clock ({now:O}); check the host's clock";
        }

        if (IsSequenceAhead(report.Sequence, now, maxSkew))
        {
            return $"sequence {report.Sequence} is more than {maxSkew} ahead of the witness's clock ({now.ToUnixTimeMilliseconds()} ms since the epoch); check the host's clock";
        }

        return null;
    }

    /// <summary>Whether a sequence (milliseconds since the epoch) lies more than <paramref name="maxSkew"/> after <paramref name="now"/>.</summary>
    public static bool IsSequenceAhead(long sequence, DateTimeOffset now, TimeSpan maxSkew) =>
        sequence > (now + maxSkew).ToUnixTimeMilliseconds();

    private static string? ValidateRoots(IReadOnlyList<string>? roots, InventoryLimits limits)
    {
        if (roots is null || roots.Count == 0)
        {
            return "roots is empty: a report must say which dataset trees it covers";
        }

        if (roots.Count > limits.MaxRoots)
        {
            return $"the report lists {roots.Count} roots; the limit is {limits.MaxRoots}";
        }

        foreach (var root in roots)
        {
            if (!ZfsName.TryParse(root, ZfsNameKind.Dataset, out _, out var error))
            {
                return $"root: {error}";
            }
        }

        return null;
    }

    /// <summary>Whether <paramref name="dataset"/> is one of <paramref name="roots"/> or a descendant of one.</summary>
    public static bool IsUnderAnyRoot(string dataset, IReadOnlyList<string> roots)
    {
        foreach (var root in roots)
        {
            if (dataset == root || (dataset.Length > root.Length && dataset.StartsWith(root, StringComparison.Ordinal) && dataset[root.Length] == '/'))
            {
                return true;
            }
        }

        return false;
    }

    private static string? ValidateDataset(DatasetInventory dataset, IReadOnlyList<string> roots, InventoryLimits limits)
    {
        if (!ZfsName.TryParse(dataset.Name, ZfsNameKind.Dataset, out _, out var nameError))
        {
            return $"dataset: {nameError}";
        }

        var where = $"dataset {ZfsName.Quote(dataset.Name)}";
        if (!IsUnderAnyRoot(dataset.Name, roots))
        {
            return $"{where} is not under any of the report's roots";
        }

        if (dataset.Type is not (DatasetTypes.Filesystem or DatasetTypes.Volume))
        {
            return $"{where} has type {ZfsName.Quote(dataset.Type ?? "")}; expected filesystem or volume";
        }

        if (dataset.Encryption is not null && !PropertyWordPattern().IsMatch(dataset.Encryption))
        {
            return $"{where} has an invalid encryption value {ZfsName.Quote(dataset.Encryption)}";
        }

        if (dataset.KeyStatus is not (null or "available" or "unavailable" or "none"))
        {
            return $"{where} has an invalid keyStatus {ZfsName.Quote(dataset.KeyStatus)}";
        }

        if (dataset.ReceiveResumeToken is { } token
            && (token.Length > limits.MaxResumeTokenLength || !ResumeTokenPattern().IsMatch(token)))
        {
            return $"{where} has a receiveResumeToken that is not a ZFS resume token (hex groups joined by '-', at most {limits.MaxResumeTokenLength} characters)";
        }

        if (dataset.WrittenBytes is < 0)
        {
            return $"{where} has a negative writtenBytes";
        }

        if (dataset.Guid is 0)
        {
            // ZFS never gives a dataset guid 0; a reporter without the value sends none (null) instead.
            return $"{where} has dataset guid 0 (send no guid when it is unknown)";
        }

        return ValidateSnapshots(dataset, where) ?? ValidateBookmarks(dataset, where) ?? ValidateBookmarkIdentities(dataset, where);
    }

    /// <summary>
    /// A bookmark made from a snapshot keeps that snapshot's guid and createtxg; one with a snapshot's guid but another
    /// createtxg cannot exist in one dataset.
    /// </summary>
    private static string? ValidateBookmarkIdentities(DatasetInventory dataset, string where)
    {
        if (dataset.Bookmarks is not { Count: > 0 } || dataset.Snapshots is not { Count: > 0 })
        {
            return null;
        }

        var txgByGuid = new Dictionary<ulong, ulong>(dataset.Snapshots.Count);
        foreach (var snapshot in dataset.Snapshots)
        {
            txgByGuid[snapshot.Guid] = snapshot.CreateTxg;
        }

        foreach (var bookmark in dataset.Bookmarks)
        {
            if (txgByGuid.TryGetValue(bookmark.Guid, out var txg) && txg != bookmark.CreateTxg)
            {
                return $"{where}: bookmark {ZfsName.Quote(bookmark.Name)} has the guid {bookmark.Guid} of a snapshot but createTxg {bookmark.CreateTxg} instead of the snapshot's {txg}";
            }
        }

        return null;
    }

    private static string? ValidateSnapshots(DatasetInventory dataset, string where)
    {
        var guids = new HashSet<ulong>();
        var txgs = new HashSet<ulong>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var snapshot in dataset.Snapshots ?? [])
        {
            if (snapshot is null)
            {
                return $"{where} has a null snapshot entry";
            }

            var shortError = ZfsName.CheckShortName(snapshot.Name, ZfsNameKind.Snapshot);
            if (shortError is not null)
            {
                return $"{where}: {shortError}";
            }

            var fullLength = dataset.Name.Length + 1 + snapshot.Name.Length;
            if (fullLength > ZfsName.MaxLength)
            {
                return $"snapshot {ZfsName.Quote($"{dataset.Name}@{snapshot.Name}")} is {fullLength} characters long; ZFS allows at most {ZfsName.MaxLength}";
            }

            if (snapshot.Guid == 0 || snapshot.CreateTxg == 0 || snapshot.CreateTxg > long.MaxValue || snapshot.UsedBytes < 0 || snapshot.ReferencedBytes < 0)
            {
                var full = $"snapshot {ZfsName.Quote($"{dataset.Name}@{snapshot.Name}")}";
                return CheckIdentity(snapshot.Guid, snapshot.CreateTxg, full) ?? $"{full} has a negative size";
            }

            if (!guids.Add(snapshot.Guid))
            {
                return $"{where} lists guid {snapshot.Guid} for two snapshots";
            }

            if (!txgs.Add(snapshot.CreateTxg))
            {
                return $"{where} lists createTxg {snapshot.CreateTxg} for two snapshots (ZFS creates at most one snapshot of a dataset per transaction group)";
            }

            if (!names.Add(snapshot.Name))
            {
                return $"{where} lists snapshot {ZfsName.Quote(snapshot.Name)} twice";
            }
        }

        return null;
    }

    private static string? ValidateBookmarks(DatasetInventory dataset, string where)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var bookmark in dataset.Bookmarks ?? [])
        {
            if (bookmark is null)
            {
                return $"{where} has a null bookmark entry";
            }

            var shortError = ZfsName.CheckShortName(bookmark.Name, ZfsNameKind.Bookmark);
            if (shortError is not null)
            {
                return $"{where}: {shortError}";
            }

            var full = $"{dataset.Name}#{bookmark.Name}";
            if (full.Length > ZfsName.MaxLength)
            {
                return $"bookmark {ZfsName.Quote(full)} is {full.Length} characters long; ZFS allows at most {ZfsName.MaxLength}";
            }

            var error = CheckIdentity(bookmark.Guid, bookmark.CreateTxg, $"bookmark {ZfsName.Quote(full)}");
            if (error is not null)
            {
                return error;
            }

            if (!names.Add(bookmark.Name))
            {
                return $"{where} lists bookmark {ZfsName.Quote(bookmark.Name)} twice";
            }
        }

        return null;
    }

    private static string? CheckIdentity(ulong guid, ulong createTxg, string what) =>
        guid == 0 ? $"{what} has guid 0"
        : createTxg == 0 ? $"{what} has createTxg 0"
        : createTxg > long.MaxValue ? $"{what} has a createTxg beyond 2^63"
        : null;
}
