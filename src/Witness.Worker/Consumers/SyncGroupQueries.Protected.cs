using MassTransit;
using Microsoft.EntityFrameworkCore;
using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Planning;
using ZfsSync.Witness.Core.Shell;

namespace ZfsSync.Witness.Worker.Consumers;

/// <summary>
/// <see cref="GetProtectedSnapshots"/>: the witness's protecting bookmarks (<c>#zfssync-TARGET-TXG</c>) among the host's
/// last reported bookmarks, each with the target it protects, the groups the host and that target share, and the
/// snapshot of the same guid when the host still has it. Sorted by dataset, then bookmark name; paged.
/// </summary>
public sealed partial class SyncGroupQueries : IConsumer<GetProtectedSnapshots>
{
    public async Task Consume(ConsumeContext<GetProtectedSnapshots> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var request = context.Message;
        if (!PageToken.TryRead("protected", request.After, 2, out var after))
        {
            await RejectAsync(context, nameof(GetProtectedSnapshots), request.After);
            return;
        }

        var host = request.HostId;
        var size = Paging.Bound(request.PageSize);
        var rows = await (
                from b in db.Bookmarks.AsNoTracking()
                join d in db.Datasets.AsNoTracking() on b.DatasetId equals d.Id
                where d.HostId == host && b.Name.StartsWith("zfssync-")
                select new { DatasetId = d.Id, Dataset = d.Name, b.Name, b.Guid, b.CreateTxg })
            .ToListAsync(context.CancellationToken);
        var entries = rows
            .Select(r => (Row: r, Target: ProtectedTarget(r.Name)))
            .Where(x => x.Target is not null)
            .OrderBy(x => x.Row.Dataset, StringComparer.Ordinal).ThenBy(x => x.Row.Name, StringComparer.Ordinal)
            .Where(x => after is null || string.CompareOrdinal(x.Row.Dataset, after[0]) > 0
                || (x.Row.Dataset == after[0] && string.CompareOrdinal(x.Row.Name, after[1]) > 0))
            .Take(size + 1)
            .ToList();
        var page = entries.Take(size).ToList();
        var datasetIds = page.Select(x => x.Row.DatasetId).Distinct().ToList();
        var guids = page.Select(x => x.Row.Guid).ToHashSet();

        // Filtered by guid here: a list of u64 values does not translate on every provider.
        var snapshots = (await db.Snapshots.AsNoTracking()
                .Where(s => datasetIds.Contains(s.DatasetId))
                .Select(s => new { s.DatasetId, s.Guid, s.Name })
                .ToListAsync(context.CancellationToken))
            .Where(s => guids.Contains(s.Guid))
            .ToLookup(s => (s.DatasetId, s.Guid));
        var membership = await MembershipAsync(context.CancellationToken);
        var ownGroups = membership.TryGetValue(host, out var own) ? own : [];
        await context.RespondAsync(new ProtectedSnapshotsReport
        {
            HostId = host,
            GeneratedAt = time.GetUtcNow(),
            NextAfter = entries.Count > size ? PageToken.Write("protected", page[^1].Row.Dataset, page[^1].Row.Name) : null,
            Protected = [.. page.Select(x => new ProtectedSnapshotEntry
            {
                Dataset = x.Row.Dataset,
                Kind = "bookmark",
                Name = x.Row.Name,
                Guid = x.Row.Guid,
                CreateTxg = x.Row.CreateTxg,
                Target = x.Target!,
                Groups = [.. ownGroups.Where(g => membership.TryGetValue(x.Target!, out var theirs) && theirs.Contains(g))],
                Snapshot = snapshots[(x.Row.DatasetId, x.Row.Guid)].Select(s => s.Name).FirstOrDefault(),
            })],
        });
    }

    /// <summary>The target a <c>zfssync-TARGET-TXG</c> bookmark protects, or null for any other name.</summary>
    internal static string? ProtectedTarget(string bookmark)
    {
        var dash = bookmark.LastIndexOf('-');
        if (!bookmark.StartsWith("zfssync-", StringComparison.Ordinal) || dash <= "zfssync-".Length)
        {
            return null;
        }

        var target = bookmark["zfssync-".Length..dash];
        return ValueValidators.HostId(target) is null && Planner.IsProtectionBookmark(bookmark, target) ? target : null;
    }
}
