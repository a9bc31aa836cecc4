using System.Collections.Concurrent;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using ZfsSync.Contracts;

namespace ZfsSync.Client;

/// <summary>Thrown when a send or a request does not complete within its bound.</summary>
public sealed class ZfsSyncClientTimeoutException(string message, Exception? inner = null) : TimeoutException(message, inner);

/// <summary>
/// Sends to the witness through this client's own entry exchange <c>{role}.{user}</c> with the routing key naming
/// the message type's shared exchange and the AMQP <c>user-id</c> of this client's broker user, and asks the
/// witness questions whose answers come back to the client's inbox. Every call is bounded
/// (<see cref="BrokerConnectionOptions.SendTimeout"/>, <see cref="BrokerConnectionOptions.RequestTimeout"/>).
/// Register it with <see cref="ZfsSyncClientServiceCollectionExtensions.AddZfsSyncClient"/>.
/// </summary>
public sealed class ZfsSyncClient(ISendEndpointProvider sendEndpointProvider, ZfsSyncClientIdentity identity, PendingRequests pending)
{
    private readonly ConcurrentDictionary<Guid, TaskCompletionSource<object>> _pending = pending.Waiting;

    /// <summary>The role (<see cref="ClientTopology.ExecutorRole"/>, …) and connection of this client.</summary>
    public ZfsSyncClientIdentity Identity { get; } = identity;

    /// <summary>Sends <paramref name="message"/> to the witness through the entry exchange.</summary>
    /// <exception cref="ZfsSyncClientTimeoutException">Not sent within <see cref="BrokerConnectionOptions.SendTimeout"/>.</exception>
    public Task SendAsync<T>(T message, CancellationToken cancellationToken = default)
        where T : class => SendCoreAsync(message, null, cancellationToken);

    /// <summary>
    /// Sends the request and waits for the witness's answer of type <typeparamref name="TResponse"/> in the inbox
    /// (requires <see cref="ClientBus.ConfigureInbox"/>): <see cref="GetSyncGroupStatus"/> → <see cref="SyncGroupStatusReport"/>,
    /// <see cref="GetOutstandingInstructions"/> → <see cref="OutstandingInstructions"/>, <see cref="ResolveSyncConflict"/> →
    /// <see cref="SyncConflictResolutionAccepted"/> or <see cref="SyncConflictResolutionRejected"/>, <see cref="PauseSyncGroup"/>,
    /// <see cref="ResumeSyncGroup"/>, <see cref="ReplanSyncGroup"/> → <see cref="SyncGroupCommandAccepted"/> or
    /// <see cref="SyncGroupCommandRejected"/> (ask for <see cref="object"/>).
    /// </summary>
    /// <exception cref="ZfsSyncClientTimeoutException">No answer within <paramref name="timeout"/> (default <see cref="BrokerConnectionOptions.RequestTimeout"/>).</exception>
    public async Task<TResponse> RequestAsync<TRequest, TResponse>(TRequest request, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
        where TRequest : class
        where TResponse : class
    {
        var requestId = NewId.NextGuid();
        var answer = new TaskCompletionSource<object>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[requestId] = answer;
        var bound = timeout ?? Identity.Connection.RequestTimeout;
        try
        {
            await SendCoreAsync(request, requestId, cancellationToken).ConfigureAwait(false);
            object response;
            try
            {
                response = await answer.Task.WaitAsync(bound, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException e)
            {
                throw new ZfsSyncClientTimeoutException($"no answer to {typeof(TRequest).Name} from the witness within {bound}", e);
            }

            return response as TResponse
                ?? throw new InvalidOperationException($"the witness answered {typeof(TRequest).Name} with {response.GetType().Name}, not {typeof(TResponse).Name}");
        }
        finally
        {
            _pending.TryRemove(requestId, out _);
        }
    }

    private async Task SendCoreAsync<T>(T message, Guid? requestId, CancellationToken cancellationToken)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(message);
        var connection = Identity.Connection;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(connection.SendTimeout);
        var routingKey = ClientTopology.SharedExchange<T>();
        var inbox = ClientBus.InboxAddress(Identity.Role, connection.User);
        try
        {
            var endpoint = await sendEndpointProvider.GetSendEndpoint(ClientBus.EntryAddress(Identity.Role, connection.User)).WaitAsync(timeout.Token).ConfigureAwait(false);
            await endpoint.Send(message, context =>
            {
                if (requestId is { } id)
                {
                    context.RequestId = id;
                    context.ResponseAddress = inbox;
                }

                if (context.TryGetPayload<RabbitMqSendContext>(out var rabbit))
                {
                    rabbit.RoutingKey = routingKey;
                    rabbit.BasicProperties.UserId = connection.User;
                }
            }, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ZfsSyncClientTimeoutException($"sending {typeof(T).Name} timed out after {connection.SendTimeout}", e);
        }
    }
}

/// <summary>The requests of a <see cref="ZfsSyncClient"/> waiting for their answers (matched on the answer's request id).</summary>
public sealed class PendingRequests
{
    internal ConcurrentDictionary<Guid, TaskCompletionSource<object>> Waiting { get; } = new();

    internal Task Answer<T>(ConsumeContext<T> context)
        where T : class
    {
        if (context.RequestId is { } requestId && Waiting.TryGetValue(requestId, out var answer))
        {
            answer.TrySetResult(context.Message);
        }

        return Task.CompletedTask;
    }
}

/// <summary>Who a client is: its role in <see cref="ClientTopology"/> and its broker connection.</summary>
public sealed record ZfsSyncClientIdentity(string Role, BrokerConnectionOptions Connection);

public static class ZfsSyncClientServiceCollectionExtensions
{
    /// <summary>
    /// Adds MassTransit on RabbitMQ as a client of the witness in <paramref name="role"/>: the connection,
    /// <see cref="ZfsSyncClient"/>, usage telemetry off, and (when <paramref name="readsInbox"/>) the inbox with the
    /// handlers <paramref name="inbox"/> adds. <paramref name="registrations"/> registers consumers.
    /// </summary>
    public static IServiceCollection AddZfsSyncClient(
        this IServiceCollection services,
        string role,
        BrokerConnectionOptions connection,
        bool readsInbox,
        Action<IBusRegistrationContext, IRabbitMqReceiveEndpointConfigurator>? inbox = null,
        Action<IBusRegistrationConfigurator>? registrations = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(connection);
        services.AddSingleton(new ZfsSyncClientIdentity(role, connection));
        services.AddSingleton<PendingRequests>();
        services.AddSingleton<ZfsSyncClient>();
        services.AddMassTransit(bus =>
        {
            bus.DisableUsageTelemetry();
            registrations?.Invoke(bus);
            bus.UsingRabbitMq((context, cfg) =>
            {
                cfg.ConfigureBroker(connection);
                if (readsInbox)
                {
                    cfg.ConfigureInbox(context, role, connection, e => inbox?.Invoke(context, e));
                }
            });
        });
        return services;
    }
}
