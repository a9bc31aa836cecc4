using System.Data;
using System.Text.Json;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.Options;

namespace ZfsSync.Witness.Worker.Persistence.Outbox;

/// <summary>
/// Publishes committed outbox rows of <typeparamref name="TContext"/> and marks them dispatched.
/// <para>PostgreSQL: each round locks its rows with <c>FOR UPDATE SKIP LOCKED</c> inside a transaction that lasts until
/// they are marked, so N replicas never publish the same row concurrently. SQLite (one process): a plain ordered
/// select, no transaction held while publishing.</para>
/// <para>A round takes up to <c>BatchSize</c> due rows in commit order and splits them into lanes by
/// <see cref="OutboxMessage.PartitionKey"/> (the sync group; rows without one are a lane of their own). Lanes are published
/// concurrently (at most <c>MaxConcurrentGroups</c> at once), the rows of a lane one at a time in commit order. A row is
/// marked only after its publish task completed, i.e. the broker confirmed it (publisher confirms); a crash in between
/// publishes it again with the same MessageId (at least once). The round's marks are saved together at its end.</para>
/// <para>A failed or timed-out publish records the error on the row, backs that row off exponentially and stops its lane:
/// the group's later rows wait until it went out (also across rounds and replicas), while the other lanes go on. A round
/// in which nothing could be published (the broker is away) backs the whole dispatcher off, for as long as it takes.
/// A row whose type or body cannot be read is parked for <c>MaxBackoff</c> and holds up nothing.</para>
/// </summary>
public sealed class OutboxDispatcher<TContext> : BackgroundService
    where TContext : DbContext
{
    private readonly IServiceScopeFactory _scopes;
    private readonly IBus _bus;
    private readonly OutboxSignal<TContext> _signal;
    private readonly WitnessOutboxOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private DateTime _lastCleanup = DateTime.MinValue;

    public OutboxDispatcher(
        IServiceScopeFactory scopes,
        IBus bus,
        OutboxSignal<TContext> signal,
        IOptions<WitnessOutboxOptions> options,
        TimeProvider timeProvider,
        ILogger<OutboxDispatcher<TContext>> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _scopes = scopes;
        _bus = bus;
        _signal = signal;
        _options = options.Value;
        _timeProvider = timeProvider;
        _logger = logger;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_options.RunDispatcher)
        {
            _logger.LogInformation("Outbox dispatcher for {DbContext} is disabled in this process", typeof(TContext).Name);
            return;
        }

        var failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            _signal.Reset();
            Round round;
            try
            {
                round = await DispatchRoundAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                _logger.LogWarning(ex, "Outbox round for {DbContext} failed", typeof(TContext).Name);
                round = new Round(0, 0, Failed: true);
            }

            try
            {
                if (round.Failed)
                {
                    failures++;
                    await Task.Delay(Backoff(failures), _timeProvider, stoppingToken).ConfigureAwait(false);
                    continue;
                }

                failures = 0;
                if (round.Taken >= _options.BatchSize && round.Published > 0)
                {
                    continue;
                }

                await CleanupAsync(stoppingToken).ConfigureAwait(false);
                await _signal.WaitAsync(await NextWaitAsync(stoppingToken).ConfigureAwait(false), _timeProvider, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                // The idle wait asks the database when the next row is due: while the database is away that fails like
                // a round does, and must not escape (an escaping exception stops the witness).
                _logger.LogWarning(ex, "Outbox wait for {DbContext} failed", typeof(TContext).Name);
                failures++;
                try
                {
                    await Task.Delay(Backoff(failures), _timeProvider, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    break;
                }
            }
        }
    }

    /// <summary>
    /// How long to sleep when nothing is due: until a commit signals, the polling interval passes, or the earliest row
    /// that is backing off becomes due — whichever comes first, so a retry is not held back by a long polling interval.
    /// </summary>
    private async Task<TimeSpan> NextWaitAsync(CancellationToken cancellationToken)
    {
        var scope = _scopes.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            var db = scope.ServiceProvider.GetRequiredService<TContext>();
            var next = await db.Set<OutboxMessage>()
                .Where(m => m.DispatchedAt == null && m.NextAttemptAt != null)
                .OrderBy(m => m.NextAttemptAt)
                .Select(m => m.NextAttemptAt)
                .FirstOrDefaultAsync(cancellationToken)
                .ConfigureAwait(false);
            if (next is null)
            {
                return _options.PollingInterval;
            }

            // At least a moment: a due row that another replica holds locked must not make this one spin.
            var untilDue = next.Value - _timeProvider.GetUtcNow().UtcDateTime;
            var floor = TimeSpan.FromMilliseconds(50);
            return untilDue < floor ? floor : untilDue < _options.PollingInterval ? untilDue : _options.PollingInterval;
        }
    }

    private TimeSpan Backoff(int failures)
    {
        var factor = Math.Pow(2, Math.Min(failures - 1, 20));
        var wait = TimeSpan.FromTicks((long)Math.Min(_options.InitialBackoff.Ticks * factor, _options.MaxBackoff.Ticks));
        return wait;
    }

    private async Task<Round> DispatchRoundAsync(CancellationToken cancellationToken)
    {
        var scope = _scopes.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            var db = scope.ServiceProvider.GetRequiredService<TContext>();
            var now = _timeProvider.GetUtcNow().UtcDateTime;

            if (!db.Database.IsNpgsql())
            {
                var pending = await db.Set<OutboxMessage>()
                    .Where(m => m.DispatchedAt == null && (m.NextAttemptAt == null || m.NextAttemptAt <= now))
                    .OrderBy(m => m.SequenceNumber)
                    .Take(_options.BatchSize)
                    .ToListAsync(cancellationToken)
                    .ConfigureAwait(false);
                var blockers = await BlockersAsync(db, pending, cancellationToken).ConfigureAwait(false);
                var round = await PublishAsync(pending, blockers, cancellationToken).ConfigureAwait(false);
                await db.SaveChangesAsync(CancellationToken.None).ConfigureAwait(false);
                return round;
            }

            var transaction = await db.Database.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                var locked = await db.Set<OutboxMessage>()
                    .FromSqlRaw(LockPendingSql(db), now, _options.BatchSize)
                    .ToListAsync(cancellationToken)
                    .ConfigureAwait(false);
                var blockers = await BlockersAsync(db, locked, cancellationToken).ConfigureAwait(false);
                var round = await PublishAsync(locked, blockers, cancellationToken).ConfigureAwait(false);
                await db.SaveChangesAsync(CancellationToken.None).ConfigureAwait(false);
                await transaction.CommitAsync(CancellationToken.None).ConfigureAwait(false);
                return round;
            }
        }
    }

    private static string LockPendingSql(DbContext db)
    {
        var entity = db.Model.FindEntityType(typeof(OutboxMessage))
            ?? throw new InvalidOperationException($"{db.GetType().Name} does not map the outbox: call modelBuilder.AddOutbox() in OnModelCreating.");
        var sql = db.GetService<ISqlGenerationHelper>();
        var table = sql.DelimitIdentifier(entity.GetTableName()!, entity.GetSchema());
        var store = StoreObjectIdentifier.Table(entity.GetTableName()!, entity.GetSchema());
        string Column(string property) => sql.DelimitIdentifier(entity.FindProperty(property)!.GetColumnName(store)!);

        var dispatched = Column(nameof(OutboxMessage.DispatchedAt));
        var next = Column(nameof(OutboxMessage.NextAttemptAt));
        var sequence = Column(nameof(OutboxMessage.SequenceNumber));
        return $"SELECT * FROM {table} WHERE {dispatched} IS NULL AND ({next} IS NULL OR {next} <= {{0}}) " +
               $"ORDER BY {sequence} LIMIT {{1}} FOR UPDATE SKIP LOCKED";
    }

    /// <summary>
    /// Per lane of <paramref name="taken"/>, the first earlier pending row that is not in this round: one still backing
    /// off after a failed publish, or one another replica holds locked. A lane publishes only the rows before it, so a
    /// group's messages never overtake one another, whichever replica or round publishes them. Parked (unreadable) rows
    /// hold up nothing.
    /// </summary>
    private static async Task<Dictionary<LaneKey, long>> BlockersAsync(DbContext db, List<OutboxMessage> taken, CancellationToken cancellationToken)
    {
        var blockers = new Dictionary<LaneKey, long>();
        if (taken.Count == 0)
        {
            return blockers;
        }

        var sequences = taken.Select(r => r.SequenceNumber).ToList();
        var last = sequences.Max();
        var keys = taken.Where(r => r.PartitionKey is not null).Select(r => r.PartitionKey!).Distinct(StringComparer.Ordinal).ToList();
        var ungrouped = taken.Any(r => r.PartitionKey is null);
        var found = await db.Set<OutboxMessage>()
            .AsNoTracking()
            .Where(m => m.DispatchedAt == null && m.ParkedAt == null && m.SequenceNumber < last && !sequences.Contains(m.SequenceNumber)
                        && ((m.PartitionKey != null && keys.Contains(m.PartitionKey!)) || (ungrouped && m.PartitionKey == null)))
            .GroupBy(m => m.PartitionKey)
            .Select(g => new { g.Key, First = g.Min(m => m.SequenceNumber) })
            .ToListAsync(cancellationToken)
            .ConfigureAwait(false);
        foreach (var blocker in found)
        {
            blockers[new LaneKey(blocker.Key)] = blocker.First;
        }

        return blockers;
    }

    /// <summary>
    /// Publishes <paramref name="rows"/> (in commit order) lane by lane, up to <c>MaxConcurrentGroups</c> lanes at once,
    /// each lane's rows one at a time. A failed publish stops its lane (its later rows wait for a later round); the other
    /// lanes go on. The rows are marked in memory and saved together by the caller.
    /// </summary>
    private async Task<Round> PublishAsync(List<OutboxMessage> rows, Dictionary<LaneKey, long> blockers, CancellationToken cancellationToken)
    {
        var lanes = rows.GroupBy(r => new LaneKey(r.PartitionKey)).ToList();
        var results = new LaneResult[lanes.Count];
        await Parallel.ForEachAsync(
            Enumerable.Range(0, lanes.Count),
            new ParallelOptions { MaxDegreeOfParallelism = _options.MaxConcurrentGroups },
            async (i, _) =>
            {
                var lane = lanes[i];
                long? blocker = blockers.TryGetValue(lane.Key, out var first) ? first : null;
                try
                {
                    results[i] = await PublishLaneAsync(lane, blocker, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    // Whatever a lane throws stays in the lane: its rows not yet marked stay pending for a later round.
                    _logger.LogError(ex, "Outbox lane {Lane} failed", ZfsSync.Hosting.LogText.Escape(lane.Key.Value ?? "(no group)"));
                    results[i] = new LaneResult(0, Failed: true);
                }
            }).ConfigureAwait(false);

        var published = results.Sum(r => r.Published);
        var failed = results.Any(r => r.Failed);

        // Only a round in which nothing went out backs the whole dispatcher off (the broker is away): one group's failing
        // message backs off on its own row and must not slow down the others.
        return new Round(rows.Count, published, Failed: failed && published == 0);
    }

    private async Task<LaneResult> PublishLaneAsync(IEnumerable<OutboxMessage> lane, long? blocker, CancellationToken cancellationToken)
    {
        var published = 0;
        foreach (var row in lane)
        {
            if (row.SequenceNumber > blocker)
            {
                // An earlier row of this group is backing off or held by another replica: the rest waits for it.
                break;
            }

            if (!TryRead(row, out var type, out var message, out var headers, out var error))
            {
                _logger.LogError("Outbox message {MessageId} ({MessageType}) cannot be read and is parked: {Error}",
                    row.MessageId, ZfsSync.Hosting.LogText.Escape(row.MessageType), ZfsSync.Hosting.LogText.Escape(error));
                RecordFailure(row, error, _options.MaxBackoff);
                row.ParkedAt = _timeProvider.GetUtcNow().UtcDateTime;
                continue;
            }

            try
            {
                await PublishOneAsync(row, type, message, headers, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Stopping: keep what was published so far; this row stays pending.
                return new LaneResult(published, Failed: false);
            }
            catch (Exception ex)
            {
                _logger.LogWarning(ex, "Publishing outbox message {MessageId} ({MessageType}) failed; backing off", row.MessageId, ZfsSync.Hosting.LogText.Escape(row.MessageType));
                RecordFailure(row, ex.Message, Backoff(row.AttemptCount + 1));
                row.ParkedAt = null;
                return new LaneResult(published, Failed: true);
            }

            // Only now, after the publish task completed (the broker confirmed it), is the row marked.
            row.AttemptCount++;
            row.DispatchedAt = _timeProvider.GetUtcNow().UtcDateTime;
            row.NextAttemptAt = null;
            row.LastError = null;
            row.ParkedAt = null;
            published++;
        }

        return new LaneResult(published, Failed: false);
    }

    private async Task PublishOneAsync(
        OutboxMessage row, Type type, object message, Dictionary<string, string>? headers, CancellationToken cancellationToken)
    {
        void Stamp(SendContext context)
        {
            context.MessageId = row.MessageId;
            if (headers is not null)
            {
                foreach (var (key, value) in headers)
                {
                    context.Headers.Set(key, value);
                }
            }
        }

        using var timeout = new CancellationTokenSource(_options.PublishTimeout, _timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);

        Task publish;
        if (row.DestinationAddress is null)
        {
            publish = _bus.Publish(message, type, Pipe.Execute<PublishContext>(Stamp), linked.Token);
        }
        else
        {
            var endpoint = await _bus.GetSendEndpoint(new Uri(row.DestinationAddress)).WaitAsync(_options.PublishTimeout, _timeProvider, cancellationToken)
                .ConfigureAwait(false);
            publish = endpoint.Send(message, type, Pipe.Execute<SendContext>(Stamp), linked.Token);
        }

        // The token should end a stuck publish; WaitAsync makes sure we stop waiting even if the transport ignores it.
        await publish.WaitAsync(_options.PublishTimeout, _timeProvider, cancellationToken).ConfigureAwait(false);
    }

    private static bool TryRead(
        OutboxMessage row, out Type type, out object message, out Dictionary<string, string>? headers, out string error)
    {
        type = typeof(object);
        message = null!;
        headers = null;
        error = "";

        var resolved = OutboxMessageTypes.Resolve(row.MessageType);
        if (resolved is null)
        {
            error = $"unknown message type {row.MessageType}";
            return false;
        }

        try
        {
            var body = JsonSerializer.Deserialize(row.Body, resolved, OutboxMessageTypes.BodyOptions);
            if (body is null)
            {
                error = "the body is null";
                return false;
            }

            headers = row.Headers is null ? null : JsonSerializer.Deserialize<Dictionary<string, string>>(row.Headers);
            type = resolved;
            message = body;
            return true;
        }
        catch (JsonException ex)
        {
            error = ex.Message;
            return false;
        }
    }

    private void RecordFailure(OutboxMessage row, string error, TimeSpan retryAfter)
    {
        row.AttemptCount++;
        row.LastError = error.Length > OutboxModelBuilderExtensions.LastErrorMaxLength
            ? error[..OutboxModelBuilderExtensions.LastErrorMaxLength]
            : error;
        row.NextAttemptAt = _timeProvider.GetUtcNow().UtcDateTime + retryAfter;
    }

    private async Task CleanupAsync(CancellationToken cancellationToken)
    {
        var now = _timeProvider.GetUtcNow().UtcDateTime;
        if (_options.RetainDispatchedFor <= TimeSpan.Zero || now - _lastCleanup < TimeSpan.FromHours(1))
        {
            return;
        }

        _lastCleanup = now;
        var cutoff = now - _options.RetainDispatchedFor;
        try
        {
            var scope = _scopes.CreateAsyncScope();
            await using (scope.ConfigureAwait(false))
            {
                var db = scope.ServiceProvider.GetRequiredService<TContext>();
                var deleted = await db.Set<OutboxMessage>()
                    .Where(m => m.DispatchedAt != null && m.DispatchedAt < cutoff)
                    .ExecuteDeleteAsync(cancellationToken)
                    .ConfigureAwait(false);
                if (deleted > 0)
                {
                    _logger.LogInformation("Deleted {Count} outbox messages dispatched before {Cutoff:O}", deleted, cutoff);
                }
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            _logger.LogWarning(ex, "Deleting dispatched outbox messages failed; trying again in an hour");
        }
    }

    private readonly record struct Round(int Taken, int Published, bool Failed);

    private readonly record struct LaneResult(int Published, bool Failed);

    /// <summary>A lane's partition key; null (no group) is a lane too.</summary>
    private readonly record struct LaneKey(string? Value);
}
