using System.Security.Authentication;
using System.Text;
using MassTransit;
using Microsoft.Extensions.Logging;
using ZfsSync.Contracts;

namespace ZfsSync.Client;

/// <summary>
/// Configures a MassTransit RabbitMQ bus as a client of the witness (<see cref="ClientTopology"/>): the broker
/// connection, and the client's inbox queue <c>{role}.{user}.inbox</c> read with exactly the arguments the witness
/// declares it with, envelope JSON only (no raw-JSON reader), skipped and faulted messages discarded (a client's user
/// may not declare <c>_skipped</c>/<c>_error</c> queues), and a filter that drops every message whose validated AMQP
/// <c>user-id</c> is not the witness's broker user.
/// </summary>
public static class ClientBus
{
    /// <summary>The entry exchange of <paramref name="user"/> in <paramref name="role"/>, as MassTransit must declare it (direct, durable).</summary>
    public static Uri EntryAddress(string role, string user) =>
        new($"exchange:{Uri.EscapeDataString(ClientTopology.EntryExchange(role, user))}?type={ClientTopology.EntryExchangeType}&durable=true&autodelete=false");

    /// <summary>The inbox queue of <paramref name="user"/> in <paramref name="role"/>, as a response address.</summary>
    public static Uri InboxAddress(string role, string user) =>
        new($"queue:{Uri.EscapeDataString(ClientTopology.InboxQueue(role, user))}");

    /// <summary>The AMQP <c>user-id</c> of a received message (RabbitMQ checked it against the publishing connection), or null.</summary>
    public static string? UserIdOf(ConsumeContext context) =>
        context is not null && context.TryGetPayload<RabbitMqBasicConsumeContext>(out var basic) && basic.Properties.IsUserIdPresent()
            ? basic.Properties.UserId
            : null;

    /// <summary>Connects the bus to the broker of <paramref name="options"/> with its user, password (or password file) and TLS.</summary>
    public static void ConfigureBroker(this IRabbitMqBusFactoryConfigurator configurator, BrokerConnectionOptions options)
    {
        ArgumentNullException.ThrowIfNull(configurator);
        ArgumentNullException.ThrowIfNull(options);
        if (!Uri.TryCreate(options.Uri, UriKind.Absolute, out var uri) || !string.IsNullOrEmpty(uri.UserInfo)
            || uri.Scheme is not ("amqp" or "amqps" or "rabbitmq" or "rabbitmqs"))
        {
            // Validation reports the bad URI before the bus starts; never connect with credentials from a URI.
            uri = new Uri("amqp://localhost/");
        }

        var password = string.IsNullOrEmpty(options.Password) && string.IsNullOrEmpty(options.PasswordFile) ? "" : SafePassword(options);
        configurator.Host(uri, h =>
        {
            // MassTransit's default, made explicit: a publish or send completes only when the broker confirmed it.
            h.PublisherConfirmation = true;
            ZfsSync.Shared.BrokerClusterNodes.UseClusterNodes(h, options.ClusterNodes);
            h.Username(options.User);
            h.Password(password);
            if (options.Tls.Enabled || uri.Scheme is "amqps" or "rabbitmqs")
            {
                h.UseSsl(ssl =>
                {
                    ssl.Protocol = SslProtocols.Tls12 | SslProtocols.Tls13;
                    ssl.ServerName = options.Tls.ServerName ?? uri.Host;
                    if (options.Tls.CertificatePath is { Length: > 0 } certificate)
                    {
                        ssl.CertificatePath = certificate;
                        ssl.CertificatePassphrase = options.Tls.CertificatePassphrase;
                    }
                });
            }
        });
    }

    private static string SafePassword(BrokerConnectionOptions options)
    {
        try
        {
            return options.ResolvePassword();
        }
        catch (InvalidOperationException)
        {
            return "";
        }
    }

    /// <summary>
    /// Reads the client's inbox. <paramref name="configure"/> adds the client's handlers and consumers; the answers
    /// to <see cref="ZfsSyncClient.RequestAsync{TRequest, TResponse}"/> are handled here.
    /// </summary>
    public static void ConfigureInbox(
        this IRabbitMqBusFactoryConfigurator configurator,
        IBusRegistrationContext context,
        string role,
        BrokerConnectionOptions options,
        Action<IRabbitMqReceiveEndpointConfigurator>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(configurator);
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(options);
        var client = context.GetService(typeof(PendingRequests)) as PendingRequests;
        var logger = (context.GetService(typeof(ILoggerFactory)) as ILoggerFactory)?.CreateLogger("ZfsSync.Client.Inbox");
        configurator.ReceiveEndpoint(ClientTopology.InboxQueue(role, options.User), e =>
        {
            // The witness declares and binds the inbox; the client only reads it.
            e.ConfigureConsumeTopology = false;
            e.Durable = true;
            e.AutoDelete = false;
            if (options.QuorumQueues)
            {
                e.SetQuorumQueue();
            }

            e.DiscardSkippedMessages();
            e.DiscardFaultedMessages();
            e.UseFilter(new WitnessSignatureFilter(options.WitnessUser, logger));
            if (client is not null)
            {
                e.Handler<SyncGroupStatusReport>(c => client.Answer(c));
                e.Handler<OutstandingInstructions>(c => client.Answer(c));
                e.Handler<SyncConflictResolutionAccepted>(c => client.Answer(c));
                e.Handler<SyncConflictResolutionRejected>(c => client.Answer(c));
                e.Handler<SyncGroupCommandAccepted>(c => client.Answer(c));
                e.Handler<SyncGroupCommandRejected>(c => client.Answer(c));
                e.Handler<HostStatusReport>(c => client.Answer(c));
                e.Handler<ConflictsReport>(c => client.Answer(c));
                e.Handler<FleetStatistics>(c => client.Answer(c));
                e.Handler<QueryRejected>(c => client.Answer(c));
                e.Handler<SyncGroupHistory>(c => client.Answer(c));
                e.Handler<ProtectedSnapshotsReport>(c => client.Answer(c));
            }

            configure?.Invoke(e);
        });
    }

    /// <summary>One line, printable ASCII: control and non-ASCII characters escaped (for logging values from the wire).</summary>
    public static string Escape(string? text)
    {
        if (text is null)
        {
            return "(none)";
        }

        var sb = new StringBuilder(text.Length + 2).Append('"');
        foreach (var c in text)
        {
            if (c is >= ' ' and < (char)0x7F and not '"' and not '\\')
            {
                sb.Append(c);
            }
            else
            {
                sb.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            }
        }

        return sb.Append('"').ToString();
    }
}

/// <summary>Drops (acknowledges and logs) every message whose validated <c>user-id</c> is not the witness's.</summary>
public sealed class WitnessSignatureFilter(string witnessUser, ILogger? logger) : IFilter<ConsumeContext>
{
    /// <summary>How many messages were dropped (tests, metrics).</summary>
    public static long Dropped => Interlocked.Read(ref _dropped);

    private static long _dropped;

    public Task Send(ConsumeContext context, IPipe<ConsumeContext> next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        var userId = ClientBus.UserIdOf(context);
        if (string.Equals(userId, witnessUser, StringComparison.Ordinal))
        {
            return next.Send(context);
        }

        Interlocked.Increment(ref _dropped);
        logger?.LogWarning(
            "Dropped message {MessageId} of type {MessageType}: its user-id {UserId} is not the witness's broker user {WitnessUser}",
            context.MessageId, ClientBus.Escape(string.Join(",", context.SupportedMessageTypes)), ClientBus.Escape(userId), ClientBus.Escape(witnessUser));
        return Task.CompletedTask;
    }

    public void Probe(ProbeContext context) => context?.CreateFilterScope("witnessSignature");
}
