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
/// <para>A row is marked only after the broker accepted it; a crash in between publishes it again with the same
/// MessageId (at least once). A failed or timed-out publish ends the round, records the error on the row and backs
/// the dispatcher off exponentially. A row whose type or body cannot be read is parked for <c>MaxBackoff</c>
/// and does not hold up the others.</para>
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
                round = new Round(0, Failed: true);
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
                if (round.Published >= _options.BatchSize)
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
                var round = await PublishAsync(pending, cancellationToken).ConfigureAwait(false);
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
                var round = await PublishAsync(locked, cancellationToken).ConfigureAwait(false);
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

    private async Task<Round> PublishAsync(List<OutboxMessage> rows, CancellationToken cancellationToken)
    {
        var published = 0;
        foreach (var row in rows)
        {
            if (!TryRead(row, out var type, out var message, out var headers, out var error))
            {
                _logger.LogError("Outbox message {MessageId} ({MessageType}) cannot be read and is parked: {Error}", row.MessageId, row.MessageType, ZfsSync.Hosting.LogText.Escape(error));
                RecordFailure(row, error, _options.MaxBackoff);
                continue;
            }

            try
            {
                await PublishOneAsync(row, type, message, headers, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Stopping: keep what was published so far; this row stays pending.
                return new Round(published, Failed: false);
            }
            catch (Exception ex)
            {
                _logger.LogWarning(ex, "Publishing outbox message {MessageId} ({MessageType}) failed; backing off", row.MessageId, row.MessageType);
                RecordFailure(row, ex.Message, Backoff(row.AttemptCount + 1));
                return new Round(published, Failed: true);
            }

            row.AttemptCount++;
            row.DispatchedAt = _timeProvider.GetUtcNow().UtcDateTime;
            row.NextAttemptAt = null;
            row.LastError = null;
            published++;
        }

        return new Round(published, Failed: false);
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

    private readonly record struct Round(int Published, bool Failed);
}
