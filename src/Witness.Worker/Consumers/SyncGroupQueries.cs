using System.Globalization;
using System.Text;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Planning;
using ZfsSync.Witness.Worker.Groups;
using ZfsSync.Witness.Worker.Persistence;
using ZfsSync.Witness.Worker.StateMachines;

namespace ZfsSync.Witness.Worker.Consumers;

/// <summary>
/// Answers the operators' queries from stored state: <see cref="GetSyncGroupStatus"/> (the saga rows and the per-dataset
/// statuses of each group's latest planning round), <see cref="GetOutstandingInstructions"/>, <see cref="GetHostStatus"/>,
/// <see cref="GetConflicts"/>, <see cref="GetFleetStatistics"/>, <see cref="GetSyncGroupHistory"/> and <see cref="GetProtectedSnapshots"/>. Every list is paged (<see cref="Paging"/>): at most
/// 500 entries per answer and an opaque <c>after</c> token; a token the witness did not issue is answered with
/// <see cref="QueryRejected"/>.
/// </summary>
public sealed partial class SyncGroupQueries(WitnessDbContext db, TimeProvider time, GroupDefinitionCache definitions, ILogger<SyncGroupQueries> logger) :
    IConsumer<GetSyncGroupStatus>,
    IConsumer<GetOutstandingInstructions>,
    IConsumer<GetHostStatus>,
    IConsumer<GetConflicts>,
    IConsumer<GetFleetStatistics>,
    IConsumer<GetSyncGroupHistory>
{
    public async Task Consume(ConsumeContext<GetSyncGroupStatus> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var request = context.Message;
        if (!PageToken.TryRead("groups", request.After, 1, out var after))
        {
            await RejectAsync(context, nameof(GetSyncGroupStatus), request.After);
            return;
        }

        var name = request.SyncGroup;
        var size = Paging.Bound(request.PageSize);
        var last = after?[0];
        var sagas = await db.Set<SyncGroupState>().AsNoTracking()
            .Where(s => name == null || s.Name == name)
            .Where(s => last == null || string.Compare(s.Name, last) > 0)
            .OrderBy(s => s.Name)
            .Take(size + 1)
            .ToListAsync(context.CancellationToken);
        var page = sagas.Take(size).ToList();
        var names = page.Select(s => s.Name).ToList();
        var statuses = await db.Set<GroupStatusRecord>().AsNoTracking()
            .Where(s => names.Contains(s.SyncGroup))
            .ToDictionaryAsync(s => s.SyncGroup, s => s.Datasets, StringComparer.Ordinal, context.CancellationToken);
        await context.RespondAsync(new SyncGroupStatusReport
        {
            GeneratedAt = time.GetUtcNow(),
            NextAfter = sagas.Count > size ? PageToken.Write("groups", page[^1].Name) : null,
            Groups = [.. page.Select(s => new SyncGroupStatusEntry
            {
                SyncGroup = s.Name,
                Status = SyncGroupStates.StatusOf(s.CurrentState) ?? SyncGroupStatus.Waiting,
                Degraded = s.Degraded,
                DatasetsInSync = s.DatasetsInSync,
                DatasetsTotal = s.DatasetsTotal,
                Datasets = statuses.TryGetValue(s.Name, out var json) ? StoredJson.Deserialize<List<DatasetStatusEntry>>(json) : [],
                Paused = s.PausedAt is not null,
                PausedBy = s.PausedBy,
                PausedByName = s.PausedByName,
                PausedAt = s.PausedAt,
                PauseNote = s.PauseNote,
            })],
        });
    }

    public async Task Consume(ConsumeContext<GetOutstandingInstructions> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var request = context.Message;
        if (!PageToken.TryRead("instructions", request.After, 2, out var after)
            || (after is not null && (!long.TryParse(after[0], NumberStyles.None, CultureInfo.InvariantCulture, out _) || !Guid.TryParse(after[1], out _))))
        {
            await RejectAsync(context, nameof(GetOutstandingInstructions), request.After);
            return;
        }

        var size = Paging.Bound(request.PageSize);
        var (group, host) = (request.SyncGroup, request.HostId);
        var now = time.GetUtcNow();
        var rows = await db.Set<InstructionAttemptRecord>().AsNoTracking()
            .Where(a => a.Outcome == null && a.ExpiresAt > now)
            .Where(a => db.Set<SyncGroupState>().Any(g => g.Name == a.SyncGroup)) // not those of a removed group
            .Where(a => group == null || a.SyncGroup == group)
            .Where(a => host == null || a.SourceHostId == host || a.TargetHostId == host || a.ExecutingHostId == host)
            .ToListAsync(context.CancellationToken);
        var current = rows
            .GroupBy(a => a.InstructionId)
            .Select(g => g.MaxBy(a => a.Attempt)!)
            .OrderBy(a => a.IssuedAt).ThenBy(a => a.InstructionId)
            .ToList();
        if (after is not null)
        {
            var (ticks, id) = (long.Parse(after[0], CultureInfo.InvariantCulture), Guid.Parse(after[1]));
            current = [.. current.Where(a => a.IssuedAt.UtcTicks > ticks || (a.IssuedAt.UtcTicks == ticks && a.InstructionId.CompareTo(id) > 0))];
        }

        var page = current.Take(size).ToList();
        await context.RespondAsync(new OutstandingInstructions
        {
            Instructions = [.. page.Select(a => StoredJson.Deserialize<SyncInstructionIssued>(a.Body))],
            NextAfter = current.Count > size
                ? PageToken.Write("instructions", page[^1].IssuedAt.UtcTicks.ToString(CultureInfo.InvariantCulture), page[^1].InstructionId.ToString())
                : null,
        });
    }

    public async Task Consume(ConsumeContext<GetHostStatus> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var request = context.Message;
        if (!PageToken.TryRead("hosts", request.After, 1, out var after))
        {
            await RejectAsync(context, nameof(GetHostStatus), request.After);
            return;
        }

        var size = Paging.Bound(request.PageSize);
        var (id, last) = (request.HostId, after?[0]);
        var hosts = await db.Hosts.AsNoTracking()
            .Where(h => id == null || h.HostId == id)
            .Where(h => last == null || string.Compare(h.HostId, last) > 0)
            .OrderBy(h => h.HostId)
            .Take(size + 1)
            .ToListAsync(context.CancellationToken);
        var page = hosts.Take(size).ToList();
        var ids = page.Select(h => h.HostId).ToList();
        var datasets = await db.Datasets.AsNoTracking()
            .Where(d => ids.Contains(d.HostId))
            .GroupBy(d => d.HostId)
            .Select(g => new { HostId = g.Key, Datasets = g.Count(), Snapshots = g.Sum(d => d.Snapshots.Count) })
            .ToDictionaryAsync(x => x.HostId, StringComparer.Ordinal, context.CancellationToken);
        var membership = await MembershipAsync(context.CancellationToken);
        await context.RespondAsync(new HostStatusReport
        {
            GeneratedAt = time.GetUtcNow(),
            NextAfter = hosts.Count > size ? PageToken.Write("hosts", page[^1].HostId) : null,
            Hosts = [.. page.Select(h => new HostStatusEntry
            {
                HostId = h.HostId,
                Configured = h.Configured,
                Status = h.Status,
                LastSeenAt = h.LastSeenAt,
                HeartbeatIntervalSeconds = h.HeartbeatIntervalSeconds,
                Os = h.Os,
                ZfsVersion = h.ZfsVersion,
                AgentVersion = h.AgentVersion,
                ReporterError = h.ReporterError,
                Pools = Pools(h.Pools),
                LastReportId = h.LastReportId,
                LastSequence = h.LastSequence,
                LastReportReceivedAt = h.LastReportReceivedAt,
                Groups = membership.TryGetValue(h.HostId, out var groups) ? groups : [],
                Datasets = datasets.TryGetValue(h.HostId, out var d) ? d.Datasets : 0,
                Snapshots = datasets.TryGetValue(h.HostId, out var s) ? s.Snapshots : 0,
            })],
        });
    }

    public async Task Consume(ConsumeContext<GetConflicts> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var request = context.Message;
        if (!PageToken.TryRead("conflicts", request.After, 2, out var after)
            || (after is not null && (!long.TryParse(after[0], NumberStyles.None, CultureInfo.InvariantCulture, out _) || !Guid.TryParse(after[1], out _))))
        {
            await RejectAsync(context, nameof(GetConflicts), request.After);
            return;
        }

        var size = Paging.Bound(request.PageSize);
        var group = request.SyncGroup;
        var closed = request.IncludeClosed;
        var rows = await db.Set<ConflictRecord>().AsNoTracking()
            .Where(c => db.Set<SyncGroupState>().Any(g => g.Name == c.SyncGroup))
            .Where(c => group == null || c.SyncGroup == group)
            .Where(c => closed || (c.Resolution == null && c.ClearedAt == null))
            .ToListAsync(context.CancellationToken);

        // Newest first; the stored DateTimeOffset of SQLite (ticks) does not order in SQL the same way everywhere, so in memory.
        var ordered = rows.OrderByDescending(c => c.DetectedAt.UtcTicks).ThenBy(c => c.ConflictId).ToList();
        if (after is not null)
        {
            var (ticks, id) = (long.Parse(after[0], CultureInfo.InvariantCulture), Guid.Parse(after[1]));
            ordered = [.. ordered.Where(c => c.DetectedAt.UtcTicks < ticks || (c.DetectedAt.UtcTicks == ticks && c.ConflictId.CompareTo(id) > 0))];
        }

        var page = ordered.Take(size).ToList();
        await context.RespondAsync(new ConflictsReport
        {
            GeneratedAt = time.GetUtcNow(),
            NextAfter = ordered.Count > size
                ? PageToken.Write("conflicts", page[^1].DetectedAt.UtcTicks.ToString(CultureInfo.InvariantCulture), page[^1].ConflictId.ToString())
                : null,
            Conflicts = [.. page.Select(Entry)],
        });
    }

    public async Task Consume(ConsumeContext<GetFleetStatistics> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var token = context.CancellationToken;
        var hosts = await db.Hosts.AsNoTracking().Select(h => new { h.HostId, h.Status }).ToListAsync(token);
        var sagas = await db.Set<SyncGroupState>().AsNoTracking().ToListAsync(token);
        var names = sagas.Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
        var volumes = await db.Datasets.AsNoTracking()
            .GroupBy(d => d.HostId)
            .Select(g => new { HostId = g.Key, Datasets = g.Count(), Snapshots = g.Sum(d => d.Snapshots.Count) })
            .ToListAsync(token);
        var bytes = await db.Snapshots.AsNoTracking()
            .Join(db.Datasets, s => s.DatasetId, d => d.Id, (s, d) => new { d.HostId, s.UsedBytes })
            .GroupBy(x => x.HostId)
            .Select(g => new { HostId = g.Key, Bytes = g.Sum(x => x.UsedBytes) })
            .ToDictionaryAsync(x => x.HostId, x => x.Bytes, StringComparer.Ordinal, token);
        var statusRows = await db.Set<GroupStatusRecord>().AsNoTracking().ToListAsync(token);
        var pairs = statusRows.Where(r => names.Contains(r.SyncGroup)).SelectMany(r => StoredJson.Deserialize<List<DatasetStatusEntry>>(r.Datasets)).ToList();
        var open = await db.Set<ConflictRecord>().AsNoTracking()
            .Where(c => c.Resolution == null && c.ClearedAt == null)
            .Select(c => c.SyncGroup)
            .ToListAsync(token);
        var lags = pairs.Where(p => !GroupStatusRule.CountsAsInSync(p) && p.LagSeconds is not null).Select(p => p.LagSeconds!.Value).ToList();
        await context.RespondAsync(new FleetStatistics
        {
            GeneratedAt = time.GetUtcNow(),
            HostsOnline = hosts.Count(h => h.Status == HostStatus.Online),
            HostsLate = hosts.Count(h => h.Status == HostStatus.Late),
            HostsOffline = hosts.Count(h => h.Status == HostStatus.Offline),
            GroupsWaiting = sagas.Count(s => (SyncGroupStates.StatusOf(s.CurrentState) ?? SyncGroupStatus.Waiting) == SyncGroupStatus.Waiting),
            GroupsInSync = sagas.Count(s => SyncGroupStates.StatusOf(s.CurrentState) == SyncGroupStatus.InSync),
            GroupsOutOfSync = sagas.Count(s => SyncGroupStates.StatusOf(s.CurrentState) == SyncGroupStatus.OutOfSync),
            GroupsConflicted = sagas.Count(s => SyncGroupStates.StatusOf(s.CurrentState) == SyncGroupStatus.Conflicted),
            GroupsDegraded = sagas.Count(s => s.Degraded),
            OpenConflicts = open.Count(names.Contains),
            OutstandingInstructions = sagas.Sum(s => s.OutstandingInstructions),
            Hosts = [.. volumes.OrderBy(v => v.HostId, StringComparer.Ordinal).Select(v => new HostVolume
            {
                HostId = v.HostId,
                Datasets = v.Datasets,
                Snapshots = v.Snapshots,
                SnapshotBytes = bytes.GetValueOrDefault(v.HostId),
            })],
            Lag = new LagDistribution
            {
                InSync = pairs.Count(GroupStatusRule.CountsAsInSync),
                UpToOneHour = lags.Count(l => l <= 3600),
                UpToOneDay = lags.Count(l => l is > 3600 and <= 86400),
                OverOneDay = lags.Count(l => l > 86400),
                Unknown = pairs.Count(p => !GroupStatusRule.CountsAsInSync(p) && p.LagSeconds is null),
                MaxLagSeconds = lags.Count > 0 ? lags.Max() : null,
            },
        });
    }

    public async Task Consume(ConsumeContext<GetSyncGroupHistory> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var request = context.Message;
        if (!PageToken.TryRead("history", request.After, 2, out var after)
            || (after is not null && (!long.TryParse(after[0], NumberStyles.None, CultureInfo.InvariantCulture, out var afterTicks)
                || afterTicks > DateTimeOffset.MaxValue.UtcTicks || !long.TryParse(after[1], NumberStyles.None, CultureInfo.InvariantCulture, out _))))
        {
            await RejectAsync(context, nameof(GetSyncGroupHistory), request.After);
            return;
        }

        var group = request.SyncGroup;
        var token = context.CancellationToken;
        if (string.IsNullOrEmpty(group) || !await db.Set<SyncGroupState>().AsNoTracking().AnyAsync(s => s.Name == group, token))
        {
            logger.LogInformation("Rejected {Query}: there is no sync group {Group}", nameof(GetSyncGroupHistory), ZfsSync.Hosting.LogText.Quote(group));
            await context.RespondAsync(new QueryRejected { Query = nameof(GetSyncGroupHistory), Reason = $"unknown sync group: the witness has no sync group {ZfsSync.Hosting.LogText.Quote(group)}" });
            return;
        }

        var undefined = request.Kinds?.Where(k => !Enum.IsDefined(k)).ToList() ?? [];
        if (undefined.Count > 0)
        {
            await context.RespondAsync(new QueryRejected { Query = nameof(GetSyncGroupHistory), Reason = $"unknown history entry kind {(int)undefined[0]}" });
            return;
        }

        var size = Paging.Bound(request.PageSize);
        var kinds = request.Kinds is { Count: > 0 } asked ? asked.Distinct().Select(GroupHistory.Wire).ToList() : null;
        var query = db.Set<HistoryRecord>().AsNoTracking().Where(h => h.SyncGroup == group);
        if (kinds is not null)
        {
            query = query.Where(h => kinds.Contains(h.Kind));
        }

        if (request.Since is { } since)
        {
            query = query.Where(h => h.At >= since);
        }

        if (after is not null)
        {
            var at = new DateTimeOffset(long.Parse(after[0], CultureInfo.InvariantCulture), TimeSpan.Zero);
            var id = long.Parse(after[1], CultureInfo.InvariantCulture);
            query = query.Where(h => h.At < at || (h.At == at && h.Id < id));
        }

        var rows = await query.OrderByDescending(h => h.At).ThenByDescending(h => h.Id).Take(size + 1).ToListAsync(token);
        var page = rows.Take(size).ToList();
        await context.RespondAsync(new SyncGroupHistory
        {
            SyncGroup = group,
            GeneratedAt = time.GetUtcNow(),
            NextAfter = rows.Count > size
                ? PageToken.Write("history", page[^1].At.UtcTicks.ToString(CultureInfo.InvariantCulture), page[^1].Id.ToString(CultureInfo.InvariantCulture))
                : null,
            Entries = [.. page.Select(GroupHistory.Entry)],
        });
    }

    /// <summary>A stored conflict as <see cref="ConflictEntry"/>.</summary>
    public static ConflictEntry Entry(ConflictRecord row)
    {
        ArgumentNullException.ThrowIfNull(row);
        var detected = StoredJson.Deserialize<SyncConflictDetected>(row.Body);
        return new ConflictEntry
        {
            ConflictId = row.ConflictId,
            SyncGroup = row.SyncGroup,
            Dataset = detected.Dataset,
            Kind = detected.Kind,
            SourceHostId = detected.SourceHostId,
            TargetHostId = detected.TargetHostId,
            Details = detected.Details,
            Evidence = detected.Evidence,
            AllowedResolutions = detected.AllowedResolutions,
            DetectedAt = row.DetectedAt,
            State = row.Resolution is not null ? ConflictState.Resolved : row.ClearedAt is not null ? ConflictState.Cleared : ConflictState.Open,
            ClearedAt = row.ClearedAt,
            Resolution = ConflictResolutions.Parse(row.Resolution),
            ResolvedBy = row.ResolvedBy,
            RequestedByName = row.RequestedByName,
            ResolvedAt = row.ResolvedAt,
            PromoteHostId = row.PromoteHostId,
        };
    }

    private async Task<Dictionary<string, List<string>>> MembershipAsync(CancellationToken cancellationToken)
    {
        // The stored definitions, each parsed once per hash (GroupDefinitionCache): only the hashes are read when they are known.
        var stored = await db.Set<GroupDefinitionRecord>().AsNoTracking()
            .Where(d => db.Set<SyncGroupState>().Any(g => g.Name == d.SyncGroup))
            .Select(d => new { d.SyncGroup, d.DefinitionHash })
            .ToListAsync(cancellationToken);
        var groups = new List<ParsedGroupDefinition>();
        var missing = new List<string>();
        foreach (var pair in stored)
        {
            if (definitions.TryGet(pair.DefinitionHash, out var parsed))
            {
                groups.Add(parsed);
            }
            else
            {
                missing.Add(pair.SyncGroup);
            }
        }

        foreach (var chunk in missing.Chunk(500))
        {
            var rows = await db.Set<GroupDefinitionRecord>().AsNoTracking().Where(d => chunk.Contains(d.SyncGroup)).ToListAsync(cancellationToken);
            groups.AddRange(rows.Select(definitions.Get));
        }

        var membership = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var group in groups.Select(d => d.Document.Group).OrderBy(g => g.Name, StringComparer.Ordinal))
        {
            foreach (var member in group.Members.Distinct(StringComparer.Ordinal))
            {
                if (!membership.TryGetValue(member, out var list))
                {
                    membership[member] = list = [];
                }

                list.Add(group.Name);
            }
        }

        return membership;
    }

    private static List<PoolHealth> Pools(string? stored) =>
        string.IsNullOrEmpty(stored)
            ? []
            : [.. stored.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=', 2)).Select(p => new PoolHealth { Name = p[0], Health = p.Length > 1 ? p[1] : "" })];

    private Task RejectAsync(ConsumeContext context, string query, string? after)
    {
        logger.LogInformation("Rejected {Query}: the after token {After} was not issued by the witness", query, ZfsSync.Hosting.LogText.Quote(after));
        return context.RespondAsync(new QueryRejected { Query = query, Reason = $"invalid after token: {ZfsSync.Hosting.LogText.Quote(after)} is not a nextAfter of a {query} answer" });
    }
}

/// <summary>
/// The opaque paging token: base64url of the query's kind and the last entry's sort key. It is not a secret nor signed —
/// a forged token only moves where the page starts — but a token of another query or of garbage is refused.
/// </summary>
public static class PageToken
{
    public static string Write(string kind, params string[] key) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(string.Join('\n', [kind, .. key]))).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>True with <paramref name="key"/> null for no token, true with the key for a valid one, false for anything else.</summary>
    public static bool TryRead(string kind, string? token, int parts, out string[]? key)
    {
        key = null;
        if (string.IsNullOrEmpty(token))
        {
            return true;
        }

        if (token.Length > 1024)
        {
            return false;
        }

        try
        {
            var padded = token.Replace('-', '+').Replace('_', '/');
            padded += new string('=', (4 - (padded.Length % 4)) % 4);
            var fields = Encoding.UTF8.GetString(Convert.FromBase64String(padded)).Split('\n');
            if (fields.Length != parts + 1 || fields[0] != kind || fields.Skip(1).Any(f => f.Length == 0))
            {
                return false;
            }

            key = fields[1..];
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }
}

/// <summary>Raw JSON requests only with their message type header: the requests are small objects that would otherwise be read as any of them.</summary>
public sealed class SyncGroupQueriesDefinition : ConsumerDefinition<SyncGroupQueries>
{
    protected override void ConfigureConsumer(
        IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<SyncGroupQueries> consumerConfigurator, IRegistrationContext context)
    {
        ArgumentNullException.ThrowIfNull(endpointConfigurator);
        ArgumentNullException.ThrowIfNull(context);
        endpointConfigurator.UseRawJsonDeserializer(RawSerializerOptions.AddTransportHeaders | RawSerializerOptions.CopyHeaders, isDefault: false);
        endpointConfigurator.UseFilter(new RawMessageTypeFilter(
            [typeof(GetSyncGroupStatus), typeof(GetOutstandingInstructions), typeof(GetHostStatus), typeof(GetConflicts), typeof(GetFleetStatistics), typeof(GetSyncGroupHistory), typeof(GetProtectedSnapshots)],
            context.GetRequiredService<TimeProvider>(),
            context.GetRequiredService<ILoggerFactory>().CreateLogger<SyncGroupQueries>()));
    }
}
