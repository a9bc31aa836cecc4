using System.Globalization;
using System.Text.Json;
using MassTransit.Serialization;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;
using ZfsSync.Contracts;

namespace ZfsSync.Cli;

/// <summary>
/// <c>zfssync watch</c>: a queue of its own (<c>operator.USER.watch.ID</c>, exclusive, gone when the CLI leaves) bound to
/// the event exchanges, printed as events arrive. Events must carry the witness's validated user-id; outcomes
/// (<c>SyncInstructionCompleted</c>/<c>Failed</c>) come from executors and are shown with the executor's user.
/// </summary>
internal static class Watch
{
    public static readonly IReadOnlyList<Type> Events =
    [
        typeof(SyncInstructionIssued), typeof(SyncInstructionExpired), typeof(SyncInstructionCompleted), typeof(SyncInstructionFailed),
        typeof(SyncConflictDetected), typeof(SyncConflictResolved), typeof(SyncGroupStatusChanged), typeof(HostStatusChanged),
    ];

    private static readonly HashSet<string> Outcomes = [nameof(SyncInstructionCompleted), nameof(SyncInstructionFailed)];

    public static async Task<int> RunAsync(WitnessSession session, Output output, string? group, int? count, CancellationToken cancellationToken)
    {
        var options = session.Options;
        var queue = $"{ClientTopology.OperatorRole}.{options.User}.watch.{Guid.NewGuid():N}";
        await using var channel = await session.Connection.CreateChannelAsync(cancellationToken: cancellationToken);
        try
        {
            await channel.QueueDeclareAsync(queue, durable: false, exclusive: true, autoDelete: true, cancellationToken: cancellationToken);
            foreach (var type in Events)
            {
                await channel.QueueBindAsync(queue, ClientTopology.SharedExchange(type), "", cancellationToken: cancellationToken);
            }
        }
        catch (OperationInterruptedException e)
        {
            throw new CliException(ExitCodes.Rejected, $"the broker did not let user {options.User} watch ({e.ShutdownReason?.ReplyText ?? e.Message}); its permissions are those of operator1 in rabbitmq/definitions.json");
        }

        var events = System.Threading.Channels.Channel.CreateUnbounded<BasicDeliverEventArgs>();
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, delivery) =>
        {
            events.Writer.TryWrite(new BasicDeliverEventArgs(
                delivery.ConsumerTag, delivery.DeliveryTag, delivery.Redelivered, delivery.Exchange, delivery.RoutingKey, delivery.BasicProperties, delivery.Body.ToArray(), delivery.CancellationToken));
            return Task.CompletedTask;
        };
        await channel.BasicConsumeAsync(queue, autoAck: true, consumer, cancellationToken);
        output.Notice($"watching {options.Uri}{(group is null ? "" : $" for group {group}")} (Ctrl-C stops)");

        var shown = 0;
        try
        {
            await foreach (var delivery in events.Reader.ReadAllAsync(cancellationToken))
            {
                if (Read(delivery, options.WitnessUser) is not { } message || !Concerns(message, group))
                {
                    continue;
                }

                if (output.Json)
                {
                    output.WriteJsonLine(new WatchEvent { Type = message.GetType().Name, SentBy = delivery.BasicProperties.UserId, Message = message });
                }
                else
                {
                    output.Line(Describe(message, delivery.BasicProperties.UserId));
                }

                if (count is { } limit && ++shown >= limit)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Ctrl-C.
        }

        return ExitCodes.Ok;
    }

    /// <summary>The contract message of an envelope, or null for one to skip (unknown, unreadable, or not signed by whom it must be).</summary>
    internal static object? Read(BasicDeliverEventArgs delivery, string witnessUser)
    {
        var type = Events.FirstOrDefault(t => ClientTopology.SharedExchange(t) == delivery.Exchange);
        var userId = delivery.BasicProperties.UserId;
        if (type is null || string.IsNullOrEmpty(userId) || (!Outcomes.Contains(type.Name) && userId != witnessUser))
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(delivery.Body);
            var body = document.RootElement.TryGetProperty("message", out var inner) ? inner : document.RootElement;
            return body.Deserialize(type, SystemTextJsonMessageSerializer.Options);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static bool Concerns(object message, string? group) => group is null || message switch
    {
        SyncInstructionIssued m => m.SyncGroup == group,
        SyncInstructionExpired m => m.SyncGroup == group,
        SyncInstructionCompleted m => m.SyncGroup == group,
        SyncInstructionFailed m => m.SyncGroup == group,
        SyncConflictDetected m => m.SyncGroup == group,
        SyncConflictResolved m => m.SyncGroup == group,
        SyncGroupStatusChanged m => m.SyncGroup == group,
        _ => true,
    };

    internal static string Describe(object message, string? sentBy)
    {
        static string At(DateTimeOffset at) => at.ToString("HH:mm:ss", CultureInfo.InvariantCulture);
        static string W<T>(T value)
            where T : struct, Enum => DeterministicIds.WireName(value);
        return message switch
        {
            SyncInstructionIssued m => $"{At(m.IssuedAt)} instruction {m.SyncGroup} {m.Dataset}: {W(m.Kind)} {m.Source.HostId} -> {m.Target.HostId} (attempt {m.Attempt}, {m.InstructionId})",
            SyncInstructionExpired m => $"{At(m.ExpiredAt)} expired {m.SyncGroup}: instruction {m.InstructionId} attempt {m.Attempt}",
            SyncInstructionCompleted m => $"{At(m.CompletedAt)} completed {m.SyncGroup}: instruction {m.InstructionId} attempt {m.Attempt} by {sentBy}",
            SyncInstructionFailed m => $"{At(m.FailedAt)} failed {m.SyncGroup}: instruction {m.InstructionId} attempt {m.Attempt} by {sentBy}, exit {m.ExitCode}: {m.Error}",
            SyncConflictDetected m => $"{At(m.DetectedAt)} conflict {m.SyncGroup} {m.Dataset}: {W(m.Kind)} on {m.TargetHostId} ({m.ConflictId}); allowed: {string.Join(",", m.AllowedResolutions.Select(r => W(r)))}",
            SyncConflictResolved m => $"{At(m.ResolvedAt)} resolved {m.SyncGroup} {m.Dataset}: {W(m.Resolution)} by {m.ResolvedBy} ({m.RequestedByName ?? "no note"})",
            SyncGroupStatusChanged m => $"{At(m.ChangedAt)} group {m.SyncGroup}: {(m.PreviousStatus is { } p ? W(p) : "new")} -> {W(m.Status)} ({m.DatasetsInSync}/{m.DatasetsTotal} in sync{(m.Degraded ? ", degraded" : "")})",
            HostStatusChanged m => $"{At(DateTimeOffset.UtcNow)} host {m.HostId}: {(m.PreviousStatus is { } p ? W(p) : "new")} -> {W(m.Status)}",
            _ => message.GetType().Name,
        };
    }
}

/// <summary>One line of <c>zfssync watch --json</c>.</summary>
public sealed record WatchEvent
{
    /// <summary>The contract message type: <c>SyncInstructionIssued</c>, …</summary>
    public string Type { get; init; } = "";

    /// <summary>The validated broker user that sent it.</summary>
    public string? SentBy { get; init; }

    public object Message { get; init; } = new();
}
