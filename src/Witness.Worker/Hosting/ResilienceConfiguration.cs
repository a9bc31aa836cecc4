using System.Net.Sockets;
using MassTransit;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using Npgsql;

namespace ZfsSync.Witness.Worker.Hosting;

/// <summary>
/// How the witness waits out database and broker faults in process (section <c>Resilience</c>). Plain Debian RabbitMQ
/// has no delayed-message plugin, so nothing is redelivered later: a message that fails for a transient reason is
/// retried where it is, with exponentially growing pauses, until <see cref="TransientFaultBudget"/> is spent.
/// </summary>
public sealed class ResilienceOptions
{
    /// <summary>How long one message may keep failing for a transient reason before it goes to its <c>_error</c> queue.</summary>
    public TimeSpan TransientFaultBudget { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>The first pause after a transient failure; each further pause doubles, up to <see cref="MaxRetryInterval"/>.</summary>
    public TimeSpan FirstRetryInterval { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The longest pause between two attempts.</summary>
    public TimeSpan MaxRetryInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Messages an endpoint must have handled (in the tracking period) before its kill switch can trip.</summary>
    public int KillSwitchActivationThreshold { get; set; } = 5;

    /// <summary>The share of messages (percent) that failed for a transient reason past the budget that trips the kill switch.</summary>
    public int KillSwitchTripPercent { get; set; } = 10;

    /// <summary>How long a tripped endpoint stays stopped (its messages stay in their queue) before it consumes again.</summary>
    public TimeSpan KillSwitchRestartTimeout { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The window over which the kill switch counts messages and failures.</summary>
    public TimeSpan KillSwitchTrackingPeriod { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The pauses of the transient retry: doubling from the first interval, capped, until they add up to the budget.</summary>
    public TimeSpan[] RetryIntervals()
    {
        var intervals = new List<TimeSpan>();
        var total = TimeSpan.Zero;
        var next = FirstRetryInterval;
        while (total < TransientFaultBudget)
        {
            var pause = next < TransientFaultBudget - total ? next : TransientFaultBudget - total;
            intervals.Add(pause);
            total += pause;
            next = next * 2 < MaxRetryInterval ? next * 2 : MaxRetryInterval;
        }

        return [.. intervals];
    }
}

public static class ResilienceConfiguration
{
    /// <summary>
    /// RabbitMQ cancels a delivery that stays unacknowledged longer than its <c>consumer_timeout</c> (default 30 min);
    /// a message being retried stays unacknowledged.
    /// </summary>
    public static readonly TimeSpan MaxBudget = TimeSpan.FromMinutes(25);

    /// <summary>Binds and validates <see cref="ResilienceOptions"/> (section <c>Resilience</c>).</summary>
    public static IServiceCollection AddWitnessResilience(this IServiceCollection services)
    {
        services.AddOptions<ResilienceOptions>().BindConfiguration("Resilience")
            .Validate(o => o.TransientFaultBudget > TimeSpan.Zero && o.TransientFaultBudget <= MaxBudget,
                $"Resilience:TransientFaultBudget: must be positive and at most {MaxBudget} (RabbitMQ's consumer_timeout is 30 min by default)")
            .Validate(o => o.FirstRetryInterval > TimeSpan.Zero && o.MaxRetryInterval >= o.FirstRetryInterval,
                "Resilience:FirstRetryInterval, MaxRetryInterval: must be positive, the first no longer than the longest")
            .Validate(o => o.KillSwitchActivationThreshold >= 1 && o.KillSwitchTripPercent is >= 1 and <= 100,
                "Resilience:KillSwitchActivationThreshold: at least 1; KillSwitchTripPercent: 1 to 100")
            .Validate(o => o.KillSwitchRestartTimeout > TimeSpan.Zero && o.KillSwitchTrackingPeriod > TimeSpan.Zero,
                "Resilience:KillSwitchRestartTimeout, KillSwitchTrackingPeriod: must be positive")
            .ValidateOnStart();
        return services;
    }

    /// <summary>
    /// On every receive endpoint: (1) a transient fault (database or broker unreachable, a connection lost, a
    /// serialization failure or deadlock) is retried with growing pauses until the budget is spent; (2) anything else
    /// but an unreadable body — an optimistic concurrency conflict, a unique-key race between replicas — is retried a
    /// few times quickly with a fresh scope; (3) the kill switch stops an endpoint whose messages keep failing for a
    /// transient reason past the budget, so the rest stay in their queue instead of filling the <c>_error</c> queue;
    /// (4) the in-memory outbox holds the publishes of an attempt until it succeeds.
    /// </summary>
    public static void UseWitnessResilience(this IReceiveEndpointConfigurator endpoint, IRegistrationContext context)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(context);
        var options = context.GetRequiredService<IOptions<ResilienceOptions>>().Value;
        endpoint.UseKillSwitch(k => k
            .SetActivationThreshold(options.KillSwitchActivationThreshold)
            .SetTripThreshold(options.KillSwitchTripPercent)
            .SetTrackingPeriod(options.KillSwitchTrackingPeriod)
            .SetRestartTimeout(options.KillSwitchRestartTimeout)
            .SetExceptionFilter(f => f.Handle<Exception>(IsTransient)));
        endpoint.UseMessageRetry(r =>
        {
            r.Handle<Exception>(IsTransient);
            r.Intervals(options.RetryIntervals());
        });
        endpoint.UseMessageRetry(r =>
        {
            // A body that does not deserialize will not deserialize on a second try either; transient faults are
            // the outer retry's.
            r.Ignore<Exception>(ex => IsMalformed(ex) || IsTransient(ex));
            r.Exponential(8, TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(100));
        });
        endpoint.UseInMemoryOutbox(context);
    }

    private static bool IsMalformed(Exception ex) => ex is System.Text.Json.JsonException || ex.GetType().Name == "SerializationException";

    /// <summary>Whether <paramref name="exception"/> (or one it wraps) is a fault that goes away by itself.</summary>
    public static bool IsTransient(Exception? exception)
    {
        for (var depth = 0; exception is not null && depth < 16; depth++)
        {
            switch (exception)
            {
                case PostgresException postgres:
                    // Connection lost, server shutting down or starting, out of resources, serialization failure or deadlock.
                    return postgres.IsTransient || postgres.SqlState.StartsWith("08", StringComparison.Ordinal)
                        || postgres.SqlState.StartsWith("57P", StringComparison.Ordinal) || postgres.SqlState.StartsWith("53", StringComparison.Ordinal);
                case NpgsqlException npgsql when npgsql.IsTransient || npgsql.InnerException is IOException or SocketException or TimeoutException:
                    return true;
                case SqliteException sqlite when sqlite.SqliteErrorCode is 5 or 6: // SQLITE_BUSY, SQLITE_LOCKED
                case TimeoutException:
                case SocketException:
                case IOException:
                    return true;
                case AggregateException aggregate when aggregate.InnerExceptions.Any(IsTransient):
                    return true;
            }

            // The broker: connection or channel lost, unreachable (by name: RabbitMQ.Client's and MassTransit's types).
            if (exception.GetType().Name is "AlreadyClosedException" or "BrokerUnreachableException" or "OperationInterruptedException"
                or "RabbitMqConnectionException" or "ConnectFailureException" or "ConnectionException")
            {
                return true;
            }

            exception = exception.InnerException;
        }

        return false;
    }
}
