using Microsoft.EntityFrameworkCore;
using ZfsSync.Contracts;

namespace ZfsSync.Witness.Worker.Persistence;

/// <summary>
/// The host row is the lock that serialises everything about one host across replicas: created if missing with
/// <c>INSERT … ON CONFLICT DO NOTHING</c> (a failed insert would abort a PostgreSQL transaction), then locked with
/// <c>SELECT … FOR UPDATE</c> on PostgreSQL (SQLite transactions already exclude other writers).
/// </summary>
public static class HostRows
{
    /// <summary>Inside an open transaction: ensures the row exists, locks it and returns it tracked.</summary>
    public static async Task<HostRecord> LockAsync(WitnessDbContext db, string hostId, bool configured, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        var offline = nameof(HostStatus.Offline);
        await db.Database.ExecuteSqlInterpolatedAsync(
            $"""INSERT INTO hosts ("HostId", "Configured", "Status", "HeartbeatIntervalSeconds", "LastSequence", "Version") VALUES ({hostId}, {configured}, {offline}, 0, 0, 0) ON CONFLICT DO NOTHING""",
            cancellationToken);
        if (db.Database.IsNpgsql())
        {
            await db.Database.ExecuteSqlInterpolatedAsync($"""SELECT 1 FROM hosts WHERE "HostId" = {hostId} FOR UPDATE""", cancellationToken);
        }

        // A row this context already tracks would come back with its old values: refresh that one; else one read.
        var tracked = db.Hosts.Local.FirstOrDefault(h => h.HostId == hostId);
        if (tracked is not null)
        {
            await db.Entry(tracked).ReloadAsync(cancellationToken);
            return tracked;
        }

        return await db.Hosts.SingleAsync(h => h.HostId == hostId, cancellationToken);
    }

    /// <summary>
    /// Inside an open transaction: <see cref="LockAsync"/> for several hosts at once, set-based on PostgreSQL (one
    /// insert, one lock in host id order, one read); returns the rows tracked, by host id.
    /// </summary>
    public static async Task<Dictionary<string, HostRecord>> LockManyAsync(WitnessDbContext db, IReadOnlyCollection<(string HostId, bool Configured)> hosts, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(hosts);
        var rows = new Dictionary<string, HostRecord>(StringComparer.Ordinal);
        if (!db.Database.IsNpgsql() || hosts.Count == 1 || db.Hosts.Local.Count > 0)
        {
            foreach (var (hostId, configured) in hosts.OrderBy(h => h.HostId, StringComparer.Ordinal))
            {
                rows[hostId] = await LockAsync(db, hostId, configured, cancellationToken);
            }

            return rows;
        }

        var ids = hosts.Select(h => h.HostId).ToArray();
        var configuredFlags = hosts.Select(h => h.Configured).ToArray();
        var offline = nameof(HostStatus.Offline);
        await db.Database.ExecuteSqlInterpolatedAsync(
            $"""INSERT INTO hosts ("HostId", "Configured", "Status", "HeartbeatIntervalSeconds", "LastSequence", "Version") SELECT t.h, t.c, {offline}, 0, 0, 0 FROM unnest({ids}, {configuredFlags}) AS t(h, c) ON CONFLICT DO NOTHING""",
            cancellationToken);
        await db.Database.ExecuteSqlInterpolatedAsync($"""SELECT 1 FROM hosts WHERE "HostId" = ANY({ids}) ORDER BY "HostId" FOR UPDATE""", cancellationToken);
        foreach (var host in await db.Hosts.Where(h => ids.Contains(h.HostId)).ToListAsync(cancellationToken))
        {
            rows[host.HostId] = host;
        }

        return rows;
    }
}
