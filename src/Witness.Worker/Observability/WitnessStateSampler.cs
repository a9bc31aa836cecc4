using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using ZfsSync.Contracts;
using ZfsSync.Observability;
using ZfsSync.Witness.Worker.Persistence;
using ZfsSync.Witness.Worker.Persistence.Outbox;
using ZfsSync.Witness.Worker.StateMachines;

namespace ZfsSync.Witness.Worker.Observability;

/// <summary>
/// Reads the fleet-wide gauges from the database every <c>Observability:SampleInterval</c> (15 s): hosts by status,
/// groups by state, open conflicts by kind, outstanding and hung instructions (past their deadline, or started and
/// without progress for the group's <c>HangAfter</c>), lag per dataset and target (from each
/// group's latest planning round), outbox backlog and the age of its oldest row. A failed reading is logged and the
/// previous one stays.
/// </summary>
public sealed class WitnessStateSampler(
    IServiceScopeFactory scopes,
    WitnessMetrics metrics,
    IOptions<ObservabilityOptions> options,
    IOptionsMonitor<Hosting.WitnessOptions> witnessOptions,
    TimeProvider time,
    ILogger<WitnessStateSampler> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.Enabled)
        {
            return;
        }

        using var timer = new PeriodicTimer(options.Value.SampleInterval, time);
        do
        {
            try
            {
                metrics.State.Set(await SampleAsync(stoppingToken));
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is DbUpdateException or InvalidOperationException or System.Data.Common.DbException or System.Text.Json.JsonException)
            {
                logger.LogWarning(e, "Reading the metrics gauges from the database failed; keeping the previous reading");
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    public async Task<WitnessStateSample> SampleAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<WitnessDbContext>();
        var now = time.GetUtcNow();

        var hosts = Enum.GetValues<HostStatus>().ToDictionary(s => Kebab(s.ToString()), _ => 0L, StringComparer.Ordinal);
        foreach (var status in await db.Hosts.AsNoTracking().Select(h => h.Status).ToListAsync(cancellationToken))
        {
            hosts[Kebab(status.ToString())]++;
        }

        var groups = Enum.GetValues<SyncGroupStatus>().ToDictionary(s => Kebab(s.ToString()), _ => 0L, StringComparer.Ordinal);
        foreach (var state in await db.Set<SyncGroupState>().AsNoTracking().Select(g => g.CurrentState).ToListAsync(cancellationToken))
        {
            var key = SyncGroupStates.StatusOf(state) is { } status ? Kebab(status.ToString()) : Kebab(state);
            groups[key] = groups.GetValueOrDefault(key) + 1;
        }

        var conflicts = Enum.GetValues<ConflictKind>().ToDictionary(k => Kebab(k.ToString()), _ => 0L, StringComparer.Ordinal);
        foreach (var kind in await db.Set<ConflictRecord>().AsNoTracking()
            .Where(c => c.ClearedAt == null && c.Resolution == null).Select(c => c.Kind).ToListAsync(cancellationToken))
        {
            conflicts[kind] = conflicts.GetValueOrDefault(kind) + 1;
        }

        var outstanding = await db.Set<InstructionAttemptRecord>().AsNoTracking()
            .Where(a => a.Outcome == null)
            .Select(a => new { a.SyncGroup, a.ExpiresAt, a.ProgressAt, a.ProgressBytes, a.BytesGrewAt })
            .ToListAsync(cancellationToken);
        var config = witnessOptions.CurrentValue;
        var hung = outstanding.Count(a => a.ExpiresAt <= now
            || Groups.InstructionExpirySweeper.HangReason(a.ProgressAt, a.ProgressBytes, a.BytesGrewAt, Groups.InstructionExpirySweeper.HangAfter(config, a.SyncGroup), now) is not null);

        var lag = new List<DatasetLag>();
        foreach (var row in await db.Set<GroupStatusRecord>().AsNoTracking().ToListAsync(cancellationToken))
        {
            foreach (var entry in StoredJson.Deserialize<List<DatasetStatusEntry>>(row.Datasets))
            {
                lag.Add(new DatasetLag(row.SyncGroup, entry.Dataset, entry.TargetHostId, entry.LagSnapshots, entry.LagSeconds));
            }
        }

        var pending = db.Set<OutboxMessage>().AsNoTracking().Where(m => m.DispatchedAt == null);
        var backlog = await pending.LongCountAsync(cancellationToken);
        var oldest = backlog == 0 ? (DateTime?)null : await pending.OrderBy(m => m.SequenceNumber).Select(m => (DateTime?)m.CreatedAt).FirstOrDefaultAsync(cancellationToken);
        var oldestAge = oldest is { } created ? Math.Max(0, (now.UtcDateTime - DateTime.SpecifyKind(created, DateTimeKind.Utc)).TotalSeconds) : 0;

        return new WitnessStateSample
        {
            HostsByStatus = hosts,
            GroupsByState = groups,
            OpenConflictsByKind = conflicts,
            InstructionsOutstanding = outstanding.Count,
            InstructionsHung = hung,
            Lag = lag,
            OutboxBacklog = backlog,
            OutboxOldestAgeSeconds = oldestAge,
        };
    }

    /// <summary><c>OutOfSync</c> → <c>out-of-sync</c>, as the wire contract spells enum values.</summary>
    public static string Kebab(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var text = new StringBuilder(name.Length + 4);
        for (var i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0)
            {
                text.Append('-');
            }

            text.Append(char.ToLowerInvariant(name[i]));
        }

        return text.ToString();
    }
}
