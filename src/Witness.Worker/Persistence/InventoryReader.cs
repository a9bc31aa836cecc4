using Microsoft.EntityFrameworkCore;
using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Inventory;

namespace ZfsSync.Witness.Worker.Persistence;

/// <summary>Loads the stored inventories of a group's members into the planner's model.</summary>
public static class InventoryReader
{
    /// <summary>
    /// Hosts that have reported at least once, keyed by id; snapshots and bookmarks ordered by createtxg; with the last
    /// known identity of their vanished datasets.
    /// </summary>
    public static Task<IReadOnlyDictionary<string, HostInventory>> LoadAsync(
        WitnessDbContext db, IReadOnlyCollection<string> hostIds, CancellationToken cancellationToken) =>
        LoadAsync(db, hostIds, null, cancellationToken);

    /// <summary>
    /// As <see cref="LoadAsync(WitnessDbContext, IReadOnlyCollection{string}, CancellationToken)"/>, but with only the
    /// datasets named in <paramref name="namesByHost"/> for each host (null: every dataset), and those that now hold the
    /// dataset guid a named dataset had when it vanished (so that a rename is told as one). A host that has reported is
    /// in the answer even when none of its datasets is.
    /// </summary>
    public static async Task<IReadOnlyDictionary<string, HostInventory>> LoadAsync(
        WitnessDbContext db, IReadOnlyCollection<string> hostIds, IReadOnlyDictionary<string, IReadOnlySet<string>>? namesByHost, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(hostIds);
        var ids = hostIds.ToList();
        var hosts = await db.Hosts.AsNoTracking()
            .Where(h => ids.Contains(h.HostId) && h.LastReportReceivedAt != null)
            .ToListAsync(cancellationToken);
        var vanishedRows = await db.VanishedDatasets.AsNoTracking().Where(v => ids.Contains(v.HostId)).ToListAsync(cancellationToken);
        var vanished = vanishedRows.ToLookup(v => v.HostId);
        List<DatasetRecord> datasets;
        ILookup<long, SnapshotRecord> snapshots;
        ILookup<long, BookmarkRecord> bookmarks;
        if (namesByHost is null)
        {
            datasets = await db.Datasets.AsNoTracking().Where(d => ids.Contains(d.HostId)).ToListAsync(cancellationToken);
            snapshots = (await db.Snapshots.AsNoTracking()
                    .Join(db.Datasets.Where(d => ids.Contains(d.HostId)), s => s.DatasetId, d => d.Id, (s, d) => s)
                    .ToListAsync(cancellationToken))
                .ToLookup(s => s.DatasetId);
            bookmarks = (await db.Bookmarks.AsNoTracking()
                    .Join(db.Datasets.Where(d => ids.Contains(d.HostId)), b => b.DatasetId, d => d.Id, (b, d) => b)
                    .ToListAsync(cancellationToken))
                .ToLookup(b => b.DatasetId);
        }
        else
        {
            // Names of any host in SQL, the exact (host, name) pairs in memory; then the rows of those datasets only.
            var names = namesByHost.Where(p => ids.Contains(p.Key)).SelectMany(p => p.Value).Distinct(StringComparer.Ordinal).ToList();
            datasets = [.. (await db.Datasets.AsNoTracking().Where(d => ids.Contains(d.HostId) && names.Contains(d.Name)).ToListAsync(cancellationToken))
                .Where(d => namesByHost.TryGetValue(d.HostId, out var own) && own.Contains(d.Name))];
            var gone = vanishedRows.Where(v => namesByHost.TryGetValue(v.HostId, out var own) && own.Contains(v.Name)).ToList();
            if (gone.Count > 0)
            {
                var guids = gone.Select(v => (ulong?)v.Guid).Distinct().ToList();
                var loaded = datasets.Select(d => d.Id).ToHashSet();
                datasets.AddRange((await db.Datasets.AsNoTracking().Where(d => ids.Contains(d.HostId) && guids.Contains(d.Guid)).ToListAsync(cancellationToken))
                    .Where(d => !loaded.Contains(d.Id) && gone.Any(v => v.HostId == d.HostId && v.Guid == d.Guid)));
            }

            var datasetIds = datasets.Select(d => d.Id).ToList();
            snapshots = (await db.Snapshots.AsNoTracking().Where(s => datasetIds.Contains(s.DatasetId)).ToListAsync(cancellationToken)).ToLookup(s => s.DatasetId);
            bookmarks = (await db.Bookmarks.AsNoTracking().Where(b => datasetIds.Contains(b.DatasetId)).ToListAsync(cancellationToken)).ToLookup(b => b.DatasetId);
        }

        var byHost = datasets.ToLookup(d => d.HostId);
        var result = new Dictionary<string, HostInventory>(StringComparer.Ordinal);
        foreach (var host in hosts)
        {
            var inventories = byHost[host.HostId].Select(d => new DatasetInventory
            {
                Name = d.Name,
                Type = d.Type,
                Guid = d.Guid,
                Encryption = d.Encryption,
                KeyStatus = d.KeyStatus,
                ReceiveResumeToken = d.ReceiveResumeToken,
                WrittenBytes = d.WrittenBytes,
                Snapshots = [.. snapshots[d.Id].OrderBy(s => s.CreateTxg).Select(s => new SnapshotInfo
                {
                    Name = s.Name, Guid = s.Guid, CreateTxg = s.CreateTxg, CreatedAt = s.CreatedAt, UsedBytes = s.UsedBytes, ReferencedBytes = s.ReferencedBytes,
                })],
                Bookmarks = [.. bookmarks[d.Id].OrderBy(b => b.CreateTxg).Select(b => new BookmarkInfo
                {
                    Name = b.Name, Guid = b.Guid, CreateTxg = b.CreateTxg, CreatedAt = b.CreatedAt,
                })],
            });
            var roots = host.Roots?.Split('\n', StringSplitOptions.RemoveEmptyEntries) ?? [];
            result[host.HostId] = new HostInventory(
                host.HostId, inventories, host.LastReportReceivedAt!.Value, host.LastInventoryChangedAt, roots,
                vanished[host.HostId].Select(v => new VanishedDataset(v.Name, v.Guid, v.VanishedAt)), host.LastReportCapturedAt);
        }

        return result;
    }
}
