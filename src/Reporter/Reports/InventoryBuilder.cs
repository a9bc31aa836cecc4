using ZfsSync.Contracts;
using ZfsSync.Reporter.Zfs;

namespace ZfsSync.Reporter.Reports;

/// <summary>
/// Turns parsed <c>zfs list</c> and <c>zfs get</c> output into the datasets of a <see cref="SnapshotInventoryReported"/>:
/// every filesystem and volume (also those without snapshots), each with its own guid and its snapshots and bookmarks ordered by
/// createtxg, datasets ordered by name. Pure: no I/O.
/// </summary>
public static class InventoryBuilder
{
    public static List<DatasetInventory> Build(
        IEnumerable<ZfsListEntry> entries,
        IReadOnlyDictionary<string, ZfsDatasetProperties> properties)
    {
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentNullException.ThrowIfNull(properties);

        var datasets = new Dictionary<string, DatasetAccumulator>(StringComparer.Ordinal);
        var children = new List<ZfsListEntry>();
        foreach (var entry in entries)
        {
            if (entry.IsDataset)
            {
                // Overlapping roots list a dataset twice; the first sighting wins.
                datasets.TryAdd(entry.Name, new DatasetAccumulator(entry));
            }
            else
            {
                children.Add(entry);
            }
        }

        foreach (var child in children)
        {
            var separator = child.Type == ZfsObjectType.Snapshot ? '@' : '#';
            var at = child.Name.IndexOf(separator, StringComparison.Ordinal);
            var datasetName = child.Name[..at];
            if (!datasets.TryGetValue(datasetName, out var dataset))
            {
                throw new ZfsOutputException(
                    $"{child.Type.ToString().ToLowerInvariant()} '{child.Name}' belongs to a dataset that zfs list did not print");
            }

            var shortName = child.Name[(at + 1)..];
            if (child.Type == ZfsObjectType.Snapshot)
            {
                if (dataset.SnapshotNames.Add(shortName))
                {
                    dataset.Snapshots.Add(new SnapshotInfo
                    {
                        Name = shortName,
                        Guid = child.Guid!.Value,
                        CreateTxg = child.CreateTxg!.Value,
                        CreatedAt = child.Creation!.Value,
                        UsedBytes = child.Used ?? 0,
                        ReferencedBytes = child.Referenced ?? 0,
                    });
                }
            }
            else if (dataset.BookmarkNames.Add(shortName))
            {
                dataset.Bookmarks.Add(new BookmarkInfo
                {
                    Name = shortName,
                    Guid = child.Guid!.Value,
                    CreateTxg = child.CreateTxg!.Value,
                    CreatedAt = child.Creation!.Value,
                });
            }
        }

        var result = new List<DatasetInventory>(datasets.Count);
        foreach (var (name, dataset) in datasets.OrderBy(d => d.Key, StringComparer.Ordinal))
        {
            var props = properties.GetValueOrDefault(name);
            result.Add(new DatasetInventory
            {
                Name = name,
                Type = dataset.Entry.Type == ZfsObjectType.Volume ? DatasetTypes.Volume : DatasetTypes.Filesystem,
                Guid = dataset.Entry.Guid,
                Encryption = props?.Encryption,
                KeyStatus = props?.KeyStatus,
                ReceiveResumeToken = props?.ReceiveResumeToken,
                Resume = props?.ReceiveResumeToken is { } token ? ResumeTokenDecoder.TryDecode(token) : null,
                WrittenBytes = props?.Written,
                Snapshots = [.. dataset.Snapshots.OrderBy(s => s.CreateTxg).ThenBy(s => s.Name, StringComparer.Ordinal)],
                Bookmarks = [.. dataset.Bookmarks.OrderBy(b => b.CreateTxg).ThenBy(b => b.Name, StringComparer.Ordinal)],
            });
        }

        return result;
    }

    private sealed class DatasetAccumulator(ZfsListEntry entry)
    {
        public ZfsListEntry Entry { get; } = entry;
        public List<SnapshotInfo> Snapshots { get; } = [];
        public List<BookmarkInfo> Bookmarks { get; } = [];
        public HashSet<string> SnapshotNames { get; } = new(StringComparer.Ordinal);
        public HashSet<string> BookmarkNames { get; } = new(StringComparer.Ordinal);
    }
}
