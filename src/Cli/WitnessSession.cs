using System.Security.Authentication;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using ZfsSync.Client;
using ZfsSync.Contracts;

namespace ZfsSync.Cli;

/// <summary>
/// One conversation with the witness as an operator: a first AMQP connection (to tell an unreachable broker, refused
/// credentials and a user the witness does not know apart, each in one line), then the client library's bus (entry
/// exchange <c>operator.USER</c>, inbox <c>operator.USER.inbox</c>) for the requests.
/// </summary>
public sealed class WitnessSession : IAsyncDisposable
{
    private readonly ServiceProvider? _services;
    private readonly IBusControl? _bus;

    private WitnessSession(BrokerConnectionOptions options, IConnection connection, ServiceProvider? services, IBusControl? bus)
    {
        Options = options;
        Connection = connection;
        _services = services;
        _bus = bus;
    }

    public BrokerConnectionOptions Options { get; }

    /// <summary>The first connection: <c>watch</c> reads its own queue on it.</summary>
    public IConnection Connection { get; }

    private ZfsSyncClient Client => _services!.GetRequiredService<ZfsSyncClient>();

    public static async Task<WitnessSession> OpenAsync(BrokerConnectionOptions options, bool requests, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        var connection = await ConnectAsync(options, cancellationToken).ConfigureAwait(false);
        try
        {
            await CheckTopologyAsync(options, connection, requests, cancellationToken).ConfigureAwait(false);
            if (!requests)
            {
                return new WitnessSession(options, connection, null, null);
            }

            var services = new ServiceCollection()
                .AddLogging()
                .AddZfsSyncClient(ClientTopology.OperatorRole, options, readsInbox: true)
                .BuildServiceProvider();
            var bus = services.GetRequiredService<IBusControl>();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.RequestTimeout);
            try
            {
                await bus.StartAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or RabbitMqConnectionException or MassTransitException)
            {
                await services.DisposeAsync().ConfigureAwait(false);
                throw new CliException(ExitCodes.Unreachable, $"could not start talking to the broker {options.Uri} as {options.User} within {options.RequestTimeout.TotalSeconds:0.#}s");
            }

            return new WitnessSession(options, connection, services, bus);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async Task<IConnection> ConnectAsync(BrokerConnectionOptions options, CancellationToken cancellationToken)
    {
        var uri = new Uri(options.Uri);
        var tls = options.Tls.Enabled || uri.Scheme is "amqps" or "rabbitmqs";
        var factory = new ConnectionFactory
        {
            HostName = uri.Host,
            Port = uri.IsDefaultPort || uri.Port <= 0 ? (tls ? 5671 : 5672) : uri.Port,
            VirtualHost = uri.AbsolutePath is "" or "/" ? "/" : Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/')),
            UserName = options.User,
            Password = options.ResolvePassword(),
            AutomaticRecoveryEnabled = false,
            RequestedConnectionTimeout = options.RequestTimeout < TimeSpan.FromSeconds(10) ? options.RequestTimeout : TimeSpan.FromSeconds(10),
            ClientProvidedName = $"zfssync cli ({options.User})",
        };
        if (tls)
        {
            factory.Ssl = new SslOption
            {
                Enabled = true,
                ServerName = options.Tls.ServerName ?? uri.Host,
                Version = SslProtocols.Tls12 | SslProtocols.Tls13,
                CertPath = options.Tls.CertificatePath ?? "",
                CertPassphrase = options.Tls.CertificatePassphrase ?? "",
            };
        }

        try
        {
            return await factory.CreateConnectionAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is BrokerUnreachableException or OperationInterruptedException or IOException or System.Net.Sockets.SocketException or TimeoutException)
        {
            if (Inner<AuthenticationFailureException>(e) is not null)
            {
                throw new CliException(ExitCodes.Usage, $"the broker {options.Uri} refused the credentials of user {options.User}");
            }

            if (Inner<OperationInterruptedException>(e) is { } refused && refused.ShutdownReason?.ReplyCode == 530)
            {
                throw new CliException(ExitCodes.Usage, $"the broker {options.Uri} does not let user {options.User} into its virtual host");
            }

            throw new CliException(ExitCodes.Unreachable, $"cannot reach the broker {options.Uri}: {Innermost(e).Message}");
        }
    }

    /// <summary>The witness declares an operator's entry and inbox for every user it lists as an operator; without them nothing would reach it.</summary>
    private static async Task CheckTopologyAsync(BrokerConnectionOptions options, IConnection connection, bool requests, CancellationToken cancellationToken)
    {
        if (!requests)
        {
            return;
        }

        var entry = ClientTopology.EntryExchange(ClientTopology.OperatorRole, options.User);
        var inbox = ClientTopology.InboxQueue(ClientTopology.OperatorRole, options.User);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        try
        {
            await channel.ExchangeDeclarePassiveAsync(entry, cancellationToken).ConfigureAwait(false);
            await channel.QueueDeclarePassiveAsync(inbox, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 404)
        {
            throw new CliException(ExitCodes.Rejected,
                $"broker user {options.User} is not an operator of the witness: the broker has no {entry} and {inbox} (the witness declares them for the users under its Operators and ClientTopology:Operators)");
        }
    }

    /// <summary>Asks the witness; a <see cref="QueryRejected"/> answer ends the command (exit 5), no answer in time too (exit 4).</summary>
    public async Task<TResponse> AskAsync<TRequest, TResponse>(TRequest request, CancellationToken cancellationToken)
        where TRequest : class
        where TResponse : class
    {
        var answer = await AskAnyAsync(request, cancellationToken).ConfigureAwait(false);
        return answer switch
        {
            TResponse response => response,
            QueryRejected rejected => throw new CliException(ExitCodes.Rejected, $"the witness rejected {rejected.Query}: {rejected.Reason}"),
            _ => throw new CliException(ExitCodes.Rejected, $"the witness answered {typeof(TRequest).Name} with {answer.GetType().Name}"),
        };
    }

    public async Task<object> AskAnyAsync<TRequest>(TRequest request, CancellationToken cancellationToken)
        where TRequest : class
    {
        try
        {
            return await Client.RequestAsync<TRequest, object>(request, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (ZfsSyncClientTimeoutException e)
        {
            throw new CliException(ExitCodes.Unreachable, $"the witness did not answer {typeof(TRequest).Name} within {Options.RequestTimeout.TotalSeconds:0.#}s (broker {Options.Uri}, user {Options.User}): {e.Message}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_bus is not null)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await _bus.StopAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Leaving anyway: nothing of ours is pending.
            }
        }

        if (_services is not null)
        {
            await _services.DisposeAsync().ConfigureAwait(false);
        }

        await Connection.DisposeAsync().ConfigureAwait(false);
    }

    private static T? Inner<T>(Exception? e)
        where T : Exception
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is T t)
            {
                return t;
            }
        }

        return null;
    }

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null)
        {
            e = e.InnerException;
        }

        return e;
    }
}
