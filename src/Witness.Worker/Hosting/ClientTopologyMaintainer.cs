using Microsoft.Extensions.Options;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Names;

namespace ZfsSync.Witness.Worker.Hosting;

/// <summary>
/// Declares and binds what the witness owns for its clients (<see cref="ClientTopology"/>): each client's entry
/// exchange bound to the shared exchanges its role may send to, each reading client's inbox queue bound to the
/// shared exchanges its role may read, and each executor's inbox bound to the host exchanges
/// (<see cref="ClientTopology.HostExchange"/>) of the hosts whose instructions it runs (and unbound from all others). Runs once at start (before the witness reports started), then every
/// <see cref="ClientTopologyOptions.RefreshInterval"/> and whenever its connection recovers, so that a client that
/// deleted or re-declared its own entry gets it back. Declarations are idempotent; one client's broken entry (e.g.
/// re-declared with another type) is logged and does not stop the others.
/// </summary>
public sealed class ClientTopologyMaintainer(
    IOptions<WitnessOptions> witnessOptions,
    ILogger<ClientTopologyMaintainer> logger) : BackgroundService
{
    private readonly ClientTopologyOptions _topology = witnessOptions.Value.ClientTopology;
    private readonly SemaphoreSlim _wake = new(0, 1);
    private IConnection? _connection;
    private int _applied;

    /// <summary>How many complete passes have run (tests wait on it).</summary>
    public int PassesCompleted => Volatile.Read(ref _applied);

    public IReadOnlyList<ClientTopologyPlan.Client> Plan { get; } = ClientTopologyPlan.For(witnessOptions.Value, witnessOptions.Value.ClientTopology);

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await ApplyAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is BrokerUnreachableException or OperationInterruptedException or IOException or TimeoutException)
        {
            logger.LogWarning("Could not declare the clients' entry exchanges and inboxes yet ({Error}); retrying every {Interval}",
                ZfsName.Quote(e.Message), _topology.RefreshInterval);
        }

        await base.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Wakes the loop now (tests; connection recovery).</summary>
    public void Nudge()
    {
        try
        {
            _wake.Release();
        }
        catch (SemaphoreFullException)
        {
            // A pass is already pending.
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await _wake.WaitAsync(_topology.RefreshInterval, stoppingToken).ConfigureAwait(false);
                await ApplyAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is BrokerUnreachableException or OperationInterruptedException or IOException or TimeoutException or AlreadyClosedException)
            {
                logger.LogWarning("Could not check the clients' entry exchanges and inboxes ({Error}); retrying in {Interval}",
                    ZfsName.Quote(e.Message), _topology.RefreshInterval);
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        if (_connection is { } connection)
        {
            _connection = null;
            await connection.CloseAsync(cancellationToken).ConfigureAwait(false);
            connection.Dispose();
        }
    }

    public override void Dispose()
    {
        _connection?.Dispose();
        _wake.Dispose();
        base.Dispose();
    }

    private async Task ApplyAsync(CancellationToken cancellationToken)
    {
        if (Plan.Count == 0)
        {
            Interlocked.Increment(ref _applied);
            return;
        }

        var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        foreach (var client in Plan)
        {
            // A channel per client: a refused declaration closes the channel it was made on.
            var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            await using (channel.ConfigureAwait(false))
            {
                try
                {
                    await ApplyAsync(channel, client, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationInterruptedException e) when (e.ShutdownReason?.Initiator == ShutdownInitiator.Peer && connection.IsOpen)
                {
                    logger.LogWarning("Could not declare the {Role} entry or inbox of RabbitMQ user {User}: {Error}",
                        client.Role, ZfsName.Quote(client.User), ZfsName.Quote(e.ShutdownReason.ReplyText));
                }
            }
        }

        Interlocked.Increment(ref _applied);
    }

    private async Task ApplyAsync(IChannel channel, ClientTopologyPlan.Client client, CancellationToken cancellationToken)
    {
        foreach (var shared in client.Sends.Concat(client.Reads).Concat(client.Unbinds.Where(IsSharedExchange)))
        {
            // As MassTransit declares them: fanout, durable.
            await channel.ExchangeDeclareAsync(shared, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: cancellationToken).ConfigureAwait(false);
        }

        foreach (var hostExchange in client.Routes.Concat(client.Unbinds.Where(e => !IsSharedExchange(e))))
        {
            await channel.ExchangeDeclareAsync(hostExchange, ClientTopology.HostExchangeType, durable: true, autoDelete: false, cancellationToken: cancellationToken).ConfigureAwait(false);
        }

        if (client.Sends.Count > 0)
        {
            await channel.ExchangeDeclareAsync(client.Entry, ClientTopology.EntryExchangeType, durable: true, autoDelete: false, cancellationToken: cancellationToken).ConfigureAwait(false);
            foreach (var shared in client.Sends)
            {
                await channel.ExchangeBindAsync(shared, client.Entry, routingKey: shared, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
        }

        if (client.Reads.Count > 0 || client.Routes.Count > 0 || client.Role == ClientTopology.ExecutorRole)
        {
            var quorum = _topology.QuorumQueues ?? witnessOptions.Value.RabbitMq.QuorumQueues;
            var arguments = quorum ? new Dictionary<string, object?> { ["x-queue-type"] = "quorum" } : null;
            await channel.QueueDeclareAsync(client.Inbox, durable: true, exclusive: false, autoDelete: false, arguments: arguments, cancellationToken: cancellationToken).ConfigureAwait(false);
            foreach (var exchange in client.Reads.Concat(client.Routes))
            {
                await channel.QueueBindAsync(client.Inbox, exchange, routingKey: "", cancellationToken: cancellationToken).ConfigureAwait(false);
            }

            // What this inbox must no longer receive: the shared instruction exchanges an older witness bound every
            // executor to, and the host exchanges of hosts it does not (or no longer) serve. Unbinding what is not
            // bound is allowed and changes nothing.
            foreach (var exchange in client.Unbinds)
            {
                await channel.QueueUnbindAsync(client.Inbox, exchange, routingKey: "", cancellationToken: cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private static bool IsSharedExchange(string exchange) => exchange.StartsWith("ZfsSync.Contracts:", StringComparison.Ordinal);

    private async Task<IConnection> ConnectAsync(CancellationToken cancellationToken)
    {
        if (_connection is { IsOpen: true } open)
        {
            return open;
        }

        _connection?.Dispose();
        var rabbit = witnessOptions.Value.RabbitMq;
        var factory = new ConnectionFactory
        {
            Uri = AmqpUri(rabbit.Uri),
            AutomaticRecoveryEnabled = true,
            TopologyRecoveryEnabled = false,
            NetworkRecoveryInterval = TimeSpan.FromSeconds(5),
            ClientProvidedName = "zfssync-witness client topology",
        };
        if (!string.IsNullOrEmpty(rabbit.User))
        {
            factory.UserName = rabbit.User;
        }

        if (!string.IsNullOrEmpty(rabbit.Password))
        {
            factory.Password = rabbit.Password;
        }

        // With RabbitMq:ClusterNodes, a listed node that answers; automatic recovery walks the same list.
        var connection = await factory.CreateConnectionAsync(ZfsSync.Shared.BrokerClusterNodes.Endpoints(factory, rabbit.ClusterNodes), cancellationToken).ConfigureAwait(false);
        connection.RecoverySucceededAsync += (_, _) =>
        {
            Nudge();
            return Task.CompletedTask;
        };
        _connection = connection;
        return connection;
    }

    /// <summary>MassTransit also accepts rabbitmq:// and rabbitmqs://; the client library only amqp:// and amqps://.</summary>
    internal static Uri AmqpUri(Uri uri)
    {
        var builder = new UriBuilder(uri);
        builder.Scheme = uri.Scheme switch
        {
            "rabbitmq" => "amqp",
            "rabbitmqs" => "amqps",
            _ => uri.Scheme,
        };
        if (uri.IsDefaultPort || uri.Port <= 0)
        {
            builder.Port = builder.Scheme == "amqps" ? 5671 : 5672;
        }

        return builder.Uri;
    }
}

/// <summary>What <see cref="ClientTopologyMaintainer"/> declares, per client.</summary>
public static class ClientTopologyPlan
{
    /// <summary>The shared exchanges an older witness bound every executor's inbox to (unbound now).</summary>
    public static IReadOnlyList<string> FormerExecutorReads { get; } =
        [.. new[] { typeof(SyncInstructionIssued), typeof(SyncInstructionExpired), typeof(SyncConflictDetected), typeof(HostStatusChanged) }.Select(ClientTopology.SharedExchange)];

    /// <param name="Role">reporter, executor or operator.</param>
    /// <param name="User">The client's broker user.</param>
    /// <param name="Entry">Its entry exchange.</param>
    /// <param name="Inbox">Its inbox queue (declared when it reads or is routed anything, and for every executor).</param>
    /// <param name="Sends">The shared exchanges its entry is bound to (routing key = the exchange's name).</param>
    /// <param name="Reads">The shared exchanges its inbox is bound to.</param>
    /// <param name="Routes">The host exchanges its inbox is bound to (an executor: those of the hosts it runs instructions for).</param>
    /// <param name="Unbinds">Exchanges its inbox must not be bound to (an executor: the former shared bindings, other hosts' exchanges).</param>
    public sealed record Client(
        string Role, string User, string Entry, string Inbox, IReadOnlyList<string> Sends, IReadOnlyList<string> Reads,
        IReadOnlyList<string> Routes, IReadOnlyList<string> Unbinds);

    public static IReadOnlyList<Client> For(WitnessOptions witness, ClientTopologyOptions topology)
    {
        ArgumentNullException.ThrowIfNull(witness);
        ArgumentNullException.ThrowIfNull(topology);
        var clients = new List<Client>();
        var reporters = witness.Hosts.Select(h => string.IsNullOrEmpty(h.ReportsAs) ? h.Id : h.ReportsAs).Concat(topology.Reporters);
        Add(clients, ClientTopology.ReporterRole, reporters, ClientTopology.ReporterSends, [], _ => ([], []));
        var hostExchanges = witness.Hosts.Where(h => !string.IsNullOrEmpty(h.Id)).Select(h => h.Id).Distinct(StringComparer.Ordinal)
            .Select(ClientTopology.HostExchange).ToList();
        var executors = witness.Hosts.Select(h => h.Executor ?? "").Concat(topology.Executors);
        Add(clients, ClientTopology.ExecutorRole, executors, ClientTopology.ExecutorSends, [], user =>
        {
            var routes = InstructionRouting.HostsServedBy(witness, user).Select(ClientTopology.HostExchange).ToList();
            return (routes, [.. FormerExecutorReads, .. hostExchanges.Except(routes, StringComparer.Ordinal)]);
        });
        Add(clients, ClientTopology.OperatorRole, topology.Operators.Concat(witness.Operators), ClientTopology.OperatorSends, ClientTopology.OperatorReads, _ => ([], []));
        return clients;
    }

    private static void Add(
        List<Client> clients, string role, IEnumerable<string> users, IReadOnlyList<Type> sends, IReadOnlyList<Type> reads,
        Func<string, (IReadOnlyList<string> Routes, IReadOnlyList<string> Unbinds)> routing)
    {
        foreach (var user in users.Where(u => !string.IsNullOrEmpty(u)).Distinct(StringComparer.Ordinal))
        {
            var (routes, unbinds) = routing(user);
            clients.Add(new Client(
                role,
                user,
                ClientTopology.EntryExchange(role, user),
                ClientTopology.InboxQueue(role, user),
                [.. sends.Select(ClientTopology.SharedExchange)],
                [.. reads.Select(ClientTopology.SharedExchange)],
                routes,
                unbinds));
        }
    }
}
