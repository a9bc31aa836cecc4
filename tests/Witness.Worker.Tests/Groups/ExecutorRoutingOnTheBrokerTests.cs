using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MassTransit.Serialization;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Worker.Persistence;
using ZfsSync.Witness.Worker.Tests.Support;

namespace ZfsSync.Witness.Worker.Tests.Groups;

/// <summary>
/// The running witness on the real broker with two executor users for two targets (permissions exactly as
/// rabbitmq/definitions.json gives executor-backup1) and an operator: each executor's inbox receives only its host's
/// instructions and expiries, the operator's receives all of them and the outcomes; an outcome from the wrong
/// executor user, or from a reporter's user, changes nothing and is logged; the right executor's completes the attempt
/// and is recorded with its validated user-id.
/// </summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class When_two_hosts_have_their_own_executors(InfrastructureFixture infrastructure)
{
    private static readonly string Issued = ClientTopology.SharedExchange<SyncInstructionIssued>();

    [Fact]
    public async Task Should_route_each_hosts_instructions_to_its_executor_only_and_accept_outcomes_only_from_it()
    {
        await using var world = await WitnessWorld.CreateAsync(infrastructure, ["nas1", "backup1", "backup2"]);
        var executor1 = await world.Vhost.CreateUserAsDefinedAsync("executor-backup1", "executor-backup1");
        var executor2 = await world.Vhost.CreateUserAsDefinedAsync("executor-backup1", "executor-backup2");
        var operatorUser = await world.Vhost.CreateUserAsDefinedAsync("operator1");
        // A reporter's user that (misconfigured broker) may write anywhere: the witness still tells it apart by its user-id.
        var reporter = await world.Vhost.CreateUserAsync("nas1");
        await world.Vhost.Broker.SetPermissionsAsync(world.Vhost.Name, reporter.Name, "^$", ".*", "^$");
        var logs = new LogCapture();
        await world.StartWitnessAsync(
            new Dictionary<string, string?>
            {
                ["Hosts:1:Executor"] = executor1.Name,
                ["Hosts:2:Executor"] = executor2.Name,
                ["ClientTopology:Operators:0"] = operatorUser.Name,
                ["SyncGroups:0:InstructionTtl"] = "00:00:20",
            },
            logs: logs);
        await world.HeartbeatsAsync();
        await world.Bus.Publish(world.SourceReport(2));
        await world.Bus.Publish(WitnessWorld.TargetReport("backup1", 0));
        await world.Bus.Publish(WitnessWorld.TargetReport("backup2", 0));
        await world.SettledAsync(SyncGroupStatus.OutOfSync, g => g.OutstandingInstructions == 2);

        await using var connection1 = await ConnectAsync(executor1);
        await using var connection2 = await ConnectAsync(executor2);
        await using var operatorConnection = await ConnectAsync(operatorUser);
        var inbox1 = new Inbox(connection1, ClientTopology.InboxQueue(ClientTopology.ExecutorRole, executor1.Name));
        var inbox2 = new Inbox(connection2, ClientTopology.InboxQueue(ClientTopology.ExecutorRole, executor2.Name));
        var operatorInbox = new Inbox(operatorConnection, ClientTopology.InboxQueue(ClientTopology.OperatorRole, operatorUser.Name));

        var forBackup1 = (await inbox1.UntilAsync<SyncInstructionIssued>(1)).ShouldHaveSingleItem();
        forBackup1.Target.HostId.ShouldBe("backup1");
        forBackup1.Execution.ShouldBe(new InstructionExecution { Mode = ExecutionMode.Pull, HostId = "backup1" });
        var forBackup2 = (await inbox2.UntilAsync<SyncInstructionIssued>(1)).ShouldHaveSingleItem();
        forBackup2.Target.HostId.ShouldBe("backup2");
        (await operatorInbox.UntilAsync<SyncInstructionIssued>(2)).Select(i => i.Target.HostId).Order().ShouldBe(["backup1", "backup2"]);
        inbox1.Signers.ShouldAllBe(u => u == world.Vhost.Broker.AdminUser, "signed by the witness");

        // One executor user can never read the other's inbox, nor the shared instruction exchange.
        (await TryAsync(connection1, c => c.BasicGetAsync(inbox2.Queue, autoAck: false))).ShouldBe(403);
        (await TryAsync(connection1, c => c.QueueBindAsync(inbox1.Queue, Issued, ""))).ShouldBe(403);

        // backup1's attempt: completed by backup2's executor, then by the reporter — both ignored, logged; then by its own executor.
        var attempt1 = Completed(forBackup1);
        await PublishOutcomeAsync(connection2, ClientTopology.EntryExchange(ClientTopology.ExecutorRole, executor2.Name), attempt1, executor2.Name);
        await using (var reporterConnection = await ConnectAsync(reporter))
        {
            await PublishOutcomeAsync(reporterConnection, ClientTopology.SharedExchange<SyncInstructionCompleted>(), attempt1, reporter.Name);
        }

        await Poll.UntilAsync(
            () => Task.FromResult(logs.Lines.Count(l => l.Message.StartsWith("Ignored a completed outcome for attempt 1 of instruction " + forBackup1.InstructionId, StringComparison.Ordinal)) == 2),
            "both foreign outcomes logged as ignored");
        logs.Contains(Microsoft.Extensions.Logging.LogLevel.Warning, $"sent by RabbitMQ user \"{executor2.Name}\", but the executors of host \"backup1\" send as \"{executor1.Name}\"").ShouldBeTrue();
        logs.Contains(Microsoft.Extensions.Logging.LogLevel.Warning, $"sent by RabbitMQ user \"{reporter.Name}\"").ShouldBeTrue();
        (await world.AttemptsAsync()).Single(a => a.TargetHostId == "backup1").Outcome.ShouldBeNull();
        (await world.Vhost.QueueMessageCountAsync("sync-group-state_error")).ShouldBeLessThanOrEqualTo(0, "consumed, not dead-lettered");

        await PublishOutcomeAsync(connection1, ClientTopology.EntryExchange(ClientTopology.ExecutorRole, executor1.Name), attempt1, executor1.Name);
        await Poll.UntilAsync(
            async () => (await world.AttemptsAsync()).Single(a => a.TargetHostId == "backup1").Outcome == InstructionOutcomes.Completed,
            "backup1's attempt completed by its own executor");
        var completed = (await world.AttemptsAsync()).Single(a => a.TargetHostId == "backup1");
        completed.ExecutorUser.ShouldBe(executor1.Name);
        completed.ExecutedBy.ShouldBe("machine/backup1");
        completed.ExecutingHostId.ShouldBe("backup1");
        // The operator observes every outcome sent (the two ignored ones too); the witness's record is what counts.
        (await operatorInbox.UntilAsync<SyncInstructionCompleted>(3)).ShouldAllBe(c => c.InstructionId == forBackup1.InstructionId);

        // backup2's attempt gets no outcome: its expiry reaches backup2's executor (and the operator), never backup1's.
        var expired = (await inbox2.UntilAsync<SyncInstructionExpired>(1, TimeSpan.FromSeconds(90))).ShouldHaveSingleItem();
        expired.InstructionId.ShouldBe(forBackup2.InstructionId);
        (await operatorInbox.UntilAsync<SyncInstructionExpired>(1, TimeSpan.FromSeconds(30))).ShouldHaveSingleItem().InstructionId.ShouldBe(forBackup2.InstructionId);
        await inbox1.DrainAsync();
        inbox1.Of<SyncInstructionExpired>().ShouldBeEmpty();
        inbox1.Of<SyncInstructionIssued>().ShouldAllBe(i => i.Target.HostId == "backup1");
        inbox1.Types.ShouldNotContain(nameof(SyncConflictDetected));
        inbox1.Types.ShouldNotContain(nameof(HostStatusChanged));
        await inbox2.DrainAsync();
        inbox2.Of<SyncInstructionIssued>().ShouldAllBe(i => i.Target.HostId == "backup2");
    }

    private static SyncInstructionCompleted Completed(SyncInstructionIssued instruction) => new()
    {
        InstructionId = instruction.InstructionId,
        Attempt = instruction.Attempt,
        SyncGroup = instruction.SyncGroup,
        ExecutedBy = "machine/" + instruction.Target.HostId,
        CompletedAt = DateTimeOffset.UtcNow,
        BytesTransferred = 1,
    };

    /// <summary>Publishes a MassTransit envelope as the client would: to <paramref name="exchange"/>, routing key the shared exchange's name, with its user-id.</summary>
    private static async Task PublishOutcomeAsync<T>(IConnection connection, string exchange, T message, string userId)
        where T : class
    {
        var envelope = new JsonObject
        {
            ["messageId"] = Guid.NewGuid().ToString(),
            ["messageType"] = new JsonArray($"urn:message:{typeof(T).Namespace}:{typeof(T).Name}"),
            ["sentTime"] = DateTimeOffset.UtcNow.ToString("O"),
            ["headers"] = new JsonObject(),
            ["message"] = JsonSerializer.SerializeToNode(message, SystemTextJsonMessageSerializer.Options),
        };
        var properties = new BasicProperties
        {
            ContentType = "application/vnd.masstransit+json",
            DeliveryMode = DeliveryModes.Persistent,
            MessageId = Guid.NewGuid().ToString(),
            UserId = userId,
        };
        var channel = await connection.CreateChannelAsync();
        await using (channel)
        {
            await channel.BasicPublishAsync(exchange, ClientTopology.SharedExchange<T>(), mandatory: false, properties, Encoding.UTF8.GetBytes(envelope.ToJsonString()));
        }
    }

    private static async Task<IConnection> ConnectAsync(TestBrokerUser user) =>
        await new ConnectionFactory { Uri = user.AmqpUri, AutomaticRecoveryEnabled = false }.CreateConnectionAsync();

    private static async Task<int> TryAsync(IConnection connection, Func<IChannel, Task> operation)
    {
        var channel = await connection.CreateChannelAsync();
        try
        {
            await operation(channel);
            return 0;
        }
        catch (OperationInterruptedException e)
        {
            return e.ShutdownReason?.ReplyCode ?? -1;
        }
        finally
        {
            await channel.DisposeAsync();
        }
    }

    /// <summary>A client's inbox read as that client (basic.get), every message kept by its type's name.</summary>
    private sealed class Inbox(IConnection connection, string queue)
    {
        private readonly List<(string Type, JsonNode Message)> _messages = [];

        public string Queue { get; } = queue;

        public List<string> Signers { get; } = [];

        public IEnumerable<string> Types => _messages.Select(m => m.Type);

        public List<T> Of<T>() => [.. _messages.Where(m => m.Type == typeof(T).Name).Select(m => m.Message.Deserialize<T>(SystemTextJsonMessageSerializer.Options)!)];

        public async Task<List<T>> UntilAsync<T>(int count, TimeSpan? timeout = null)
        {
            await Poll.UntilAsync(
                async () =>
                {
                    await DrainAsync();
                    return Of<T>().Count >= count;
                },
                $"{count} {typeof(T).Name} in {Queue}",
                timeout ?? TimeSpan.FromSeconds(30));
            return Of<T>();
        }

        public async Task DrainAsync()
        {
            var channel = await connection.CreateChannelAsync();
            await using (channel)
            {
                while (await channel.BasicGetAsync(Queue, autoAck: true) is { } got)
                {
                    var envelope = JsonNode.Parse(Encoding.UTF8.GetString(got.Body.Span))!;
                    var urn = (string)envelope["messageType"]![0]!;
                    _messages.Add((urn[(urn.LastIndexOf(':') + 1)..], envelope["message"]!));
                    Signers.Add(got.BasicProperties.UserId ?? "");
                }
            }
        }
    }
}
