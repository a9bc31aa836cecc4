using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace ZfsSync.Witness.Worker.Hosting;

/// <summary>
/// <c>ZfsSync.Witness.Worker replay-errors [--queue NAME]…</c>: moves the messages of the witness's <c>_error</c>
/// queues back to the queues they failed in, unchanged but for the fault headers MassTransit added (<c>MT-Fault-*</c>,
/// <c>MT-Reason</c>). Each message keeps its properties, among them the <c>user-id</c> RabbitMQ validated when the
/// reporter published it — so <c>ReportsAs</c> still accepts the replayed report. Publishing a message with another
/// user's <c>user-id</c> needs the <c>impersonator</c> tag, which the witness's broker user has; the command connects
/// with the witness's own configuration (<c>RabbitMq:Uri</c>, <c>User</c>, <c>Password</c>, from appsettings.json,
/// <c>zfs_sync.yaml</c> or <c>ZFS_SYNC_</c> environment variables). Each message is republished with a publisher
/// confirm before it is removed from the error queue, so a crash replays it twice at worst — which the witness
/// ignores as a duplicate. Only the messages present at the start are moved: one that fails again is not looped.
/// </summary>
public static class ErrorQueueReplay
{
    public const string Command = "replay-errors";

    /// <summary>The witness's receive endpoints, whose error queues are replayed when no <c>--queue</c> is given.</summary>
    public static readonly IReadOnlyList<string> WitnessQueues = ["inventory-ingest", "heartbeat", "sync-group-state", "host-status-router", "sync-group-queries"];

    /// <param name="args">The arguments after the command.</param>
    /// <param name="output">Where the counts go.</param>
    /// <param name="rabbit">The broker to use; default: the witness's configuration.</param>
    /// <param name="cancellationToken">Stops the replay between two messages.</param>
    public static async Task<int> RunAsync(string[] args, TextWriter output, RabbitMqOptions? rabbit = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        var queues = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--queue" && i + 1 < args.Length && !string.IsNullOrWhiteSpace(args[i + 1]))
            {
                queues.Add(args[++i].EndsWith("_error", StringComparison.Ordinal) ? args[i][..^"_error".Length] : args[i]);
            }
            else
            {
                await output.WriteLineAsync($"usage: {Command} [--queue NAME]…  (default: {string.Join(", ", WitnessQueues)})");
                return 2;
            }
        }

        rabbit ??= WitnessRabbitMqOptions();
        var invalid = ZfsSync.Shared.BrokerClusterNodes.Failures(rabbit.ClusterNodes);
        if (invalid.Count > 0)
        {
            foreach (var line in invalid)
            {
                await output.WriteLineAsync($"{Command}: invalid configuration: {line}");
            }

            return 2;
        }

        var factory = new ConnectionFactory { Uri = rabbit.Uri, ClientProvidedName = "zfssync-witness replay-errors" };
        if (!string.IsNullOrEmpty(rabbit.User))
        {
            factory.UserName = rabbit.User;
        }

        if (!string.IsNullOrEmpty(rabbit.Password))
        {
            factory.Password = rabbit.Password;
        }

        await using var connection = await factory.CreateConnectionAsync(ZfsSync.Shared.BrokerClusterNodes.Endpoints(factory, rabbit.ClusterNodes), cancellationToken);
        var total = 0;
        var failed = false;
        foreach (var queue in queues.Count > 0 ? queues : WitnessQueues)
        {
            try
            {
                var moved = await ReplayQueueAsync(connection, queue, cancellationToken);
                total += moved;
                await output.WriteLineAsync($"{queue}_error: {moved} message(s) replayed to {queue}");
            }
            catch (OperationInterruptedException ex) when (ex.ShutdownReason?.ReplyCode == 404)
            {
                await output.WriteLineAsync($"{queue}_error: no such queue");
            }
            catch (Exception ex) when (ex is PublishException or OperationInterruptedException or AlreadyClosedException)
            {
                failed = true;
                await output.WriteLineAsync($"{queue}_error: replay stopped: {ex.Message.ReplaceLineEndings(" ")}");
            }
        }

        await output.WriteLineAsync($"{total} message(s) replayed");
        return failed ? 1 : 0;
    }

    private static RabbitMqOptions WitnessRabbitMqOptions()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddJsonFile("appsettings.json", optional: true);
        builder.AddWitnessConfiguration();
        return builder.Configuration.GetSection("RabbitMq").Get<RabbitMqOptions>() ?? new RabbitMqOptions();
    }

    private static async Task<int> ReplayQueueAsync(IConnection connection, string queue, CancellationToken cancellationToken)
    {
        await using var channel = await connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), cancellationToken);
        var errorQueue = queue + "_error";
        var present = (await channel.QueueDeclarePassiveAsync(errorQueue, cancellationToken)).MessageCount;
        await channel.QueueDeclarePassiveAsync(queue, cancellationToken); // the destination must exist: never drop a message
        var moved = 0;
        for (var i = 0; i < present; i++)
        {
            var message = await channel.BasicGetAsync(errorQueue, autoAck: false, cancellationToken);
            if (message is null)
            {
                break;
            }

            var properties = new BasicProperties(message.BasicProperties);
            if (properties.Headers is { } headers)
            {
                foreach (var key in headers.Keys.Where(IsFaultHeader).ToList())
                {
                    headers.Remove(key);
                }
            }

            // The default exchange routes to the queue of the same name; mandatory: an unroutable message fails the publish.
            await channel.BasicPublishAsync("", queue, mandatory: true, properties, message.Body, cancellationToken);
            await channel.BasicAckAsync(message.DeliveryTag, multiple: false, cancellationToken);
            moved++;
        }

        return moved;
    }

    private static bool IsFaultHeader(string key) =>
        key.StartsWith("MT-Fault-", StringComparison.Ordinal) || key is "MT-Reason" || key.StartsWith("MT-Host-", StringComparison.Ordinal);
}
