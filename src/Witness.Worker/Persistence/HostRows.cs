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
}
