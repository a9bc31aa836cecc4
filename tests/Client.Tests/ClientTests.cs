using System.Collections.Concurrent;
using System.Text;
using System.Text.Json.Nodes;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RabbitMQ.Client;
using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;

namespace ZfsSync.Client.Tests;

/// <summary>
/// The client library on the real broker, as an operator user with exactly the permissions rabbitmq/definitions.json
/// gives operator1: it sends through its own entry with its user-id, reads only witness-signed messages from its
/// inbox, and gets (or times out waiting for) answers to its requests there.
/// </summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class When_a_client_talks_to_the_witness(InfrastructureFixture infrastructure) : IAsyncLifetime
{
    private readonly ConcurrentQueue<SyncConflictDetected> _received = new();
    private TestVhost _vhost = null!;
    private TestBrokerUser _operator = null!;
    private WitnessStandIn _witness = null!;
    private IHost _host = null!;

    public async Task InitializeAsync()
    {
        _vhost = await infrastructure.CreateVhostAsync();
        _operator = await _vhost.CreateUserAsDefinedAsync("operator1");
        _witness = await WitnessStandIn.StartAsync(_vhost);
        await _witness.DeclareClientAsync(ClientTopology.OperatorRole, _operator.Name, ClientTopology.OperatorSends, ClientTopology.OperatorReads);
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddZfsSyncClient(ClientTopology.OperatorRole, Connection(), readsInbox: true, inbox: (_, e) =>
            e.Handler<SyncConflictDetected>(c =>
            {
                _received.Enqueue(c.Message);
                return Task.CompletedTask;
            }));
        _host = builder.Build();
        await _host.StartAsync();
    }

    private BrokerConnectionOptions Connection() => new()
    {
        Uri = new UriBuilder(_operator.AmqpUri) { UserName = "", Password = "" }.Uri.ToString(),
        User = _operator.Name,
        Password = _operator.Password,
        WitnessUser = _witness.User,
        RequestTimeout = TimeSpan.FromSeconds(20),
    };

    public async Task DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
        await _witness.DisposeAsync();
        await _vhost.DisposeAsync();
    }

    private ZfsSyncClient Client => _host.Services.GetRequiredService<ZfsSyncClient>();

    [Fact]
    public async Task Should_send_through_its_own_entry_with_its_user_id()
    {
        var probe = await _witness.ProbeAsync(typeof(ResolveSyncConflict));
        var conflictId = Guid.NewGuid();

        await Client.SendAsync(new ResolveSyncConflict { ConflictId = conflictId, SyncGroup = "g", Resolution = "ignore", RequestedBy = "me" });

        BasicGetResult? got = null;
        await Poll.UntilAsync(async () => (got = await _witness.Channel.BasicGetAsync(probe, autoAck: true)) is not null, "the decision on the shared exchange");
        got!.BasicProperties.UserId.ShouldBe(_operator.Name);
        got.Exchange.ShouldBe(ClientTopology.EntryExchange(ClientTopology.OperatorRole, _operator.Name));
        got.RoutingKey.ShouldBe(ClientTopology.SharedExchange<ResolveSyncConflict>());
        var body = JsonNode.Parse(Encoding.UTF8.GetString(got.Body.Span))!;
        ((string?)body["message"]!["conflictId"]).ShouldBe(conflictId.ToString());
    }

    [Fact]
    public async Task Should_read_only_what_the_witness_signed_from_its_inbox()
    {
        var impostor = await _vhost.CreateUserAsync("impostor");
        await _vhost.Broker.SetPermissionsAsync(_vhost.Name, impostor.Name, ".*", ".*", ".*");
        var forgedNoUser = Guid.NewGuid();
        var forgedOtherUser = Guid.NewGuid();
        var signed = Guid.NewGuid();
        var exchange = ClientTopology.SharedExchange<SyncConflictDetected>();

        await WitnessStandIn.PublishAsync(_witness.Channel, exchange, "", new SyncConflictDetected { ConflictId = forgedNoUser }, userId: null);
        var impostorConnection = await new ConnectionFactory { Uri = impostor.AmqpUri, AutomaticRecoveryEnabled = false }.CreateConnectionAsync();
        await using (impostorConnection)
        {
            var channel = await impostorConnection.CreateChannelAsync();
            await using (channel)
            {
                await WitnessStandIn.PublishAsync(channel, exchange, "", new SyncConflictDetected { ConflictId = forgedOtherUser }, userId: impostor.Name);
            }
        }

        await _witness.PublishSignedAsync(new SyncConflictDetected { ConflictId = signed });

        await Poll.UntilAsync(() => Task.FromResult(_received.Any(m => m.ConflictId == signed)), "the signed conflict");
        // The inbox is read in order: the forged ones came first and were dropped, not held back.
        await Poll.UntilAsync(async () => await _vhost.QueueMessageCountAsync(ClientTopology.InboxQueue(ClientTopology.OperatorRole, _operator.Name)) == 0, "an empty inbox");
        _received.ShouldNotContain(m => m.ConflictId == forgedNoUser);
        _received.ShouldNotContain(m => m.ConflictId == forgedOtherUser);
    }

    [Fact]
    public async Task Should_get_the_answer_to_a_request_in_its_inbox()
    {
        var probe = await _witness.ProbeAsync(typeof(GetOutstandingInstructions));
        var instructionId = Guid.NewGuid();
        var answering = Task.Run(async () =>
        {
            BasicGetResult? got = null;
            await Poll.UntilAsync(async () => (got = await _witness.Channel.BasicGetAsync(probe, autoAck: true)) is not null, "the request");
            var body = JsonNode.Parse(Encoding.UTF8.GetString(got!.Body.Span))!;
            var requestId = Guid.Parse((string)body["requestId"]!);
            var responseAddress = new Uri((string)body["responseAddress"]!);
            var queue = responseAddress.AbsolutePath.TrimStart('/').Split('/')[^1];
            await WitnessStandIn.PublishAsync(_witness.Channel, "", queue,
                new OutstandingInstructions { Instructions = [new SyncInstructionIssued { InstructionId = instructionId }] }, _witness.User, requestId);
        });

        var answer = await Client.RequestAsync<GetOutstandingInstructions, OutstandingInstructions>(new GetOutstandingInstructions { HostId = "nas1" });
        await answering;

        answer.Instructions.Single().InstructionId.ShouldBe(instructionId);
    }

    [Fact]
    public async Task Should_give_up_on_a_request_nobody_answers_at_its_bound()
    {
        await Should.ThrowAsync<ZfsSyncClientTimeoutException>(() =>
            Client.RequestAsync<GetSyncGroupStatus, SyncGroupStatusReport>(new GetSyncGroupStatus(), TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public async Task Should_connect_through_the_cluster_nodes_when_the_uri_s_host_is_down()
    {
        // Nothing listens on the URI's port (the first node, as a node that is down): the bus must go on to the next.
        var down = FreePort();
        var options = Connection();
        var live = new Uri(options.Uri);
        options.Uri = new UriBuilder(live) { Port = down }.Uri.ToString();
        options.ClusterNodes = [$"127.0.0.1:{down}", $"{live.Host}:{live.Port}"];
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddZfsSyncClient(ClientTopology.OperatorRole, options, readsInbox: false);
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            var probe = await _witness.ProbeAsync(typeof(ResolveSyncConflict));
            var conflictId = Guid.NewGuid();

            await host.Services.GetRequiredService<ZfsSyncClient>().SendAsync(new ResolveSyncConflict { ConflictId = conflictId, SyncGroup = "g", Resolution = "ignore", RequestedBy = "me" });

            BasicGetResult? got = null;
            await Poll.UntilAsync(async () => (got = await _witness.Channel.BasicGetAsync(probe, autoAck: true)) is not null, "the decision sent through the second node");
            got!.BasicProperties.UserId.ShouldBe(_operator.Name);
        }
        finally
        {
            await host.StopAsync();
        }
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}

public sealed class When_connection_options_are_checked
{
    [Fact]
    public void Should_read_the_password_from_its_file_without_the_newline()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "s3cret\n");
            new BrokerConnectionOptions { PasswordFile = file }.ResolvePassword().ShouldBe("s3cret");
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Should_name_each_bad_key_once_and_never_accept_credentials_in_the_uri()
    {
        var errors = new BrokerConnectionOptions { Uri = "amqp://u:p@host/", User = "" }.Validate();

        errors.ShouldContain(e => e.StartsWith("RabbitMq:Uri:", StringComparison.Ordinal) || e.StartsWith("RabbitMq:Uri must not contain credentials", StringComparison.Ordinal));
        errors.ShouldContain("RabbitMq:User is required");
        errors.ShouldContain("RabbitMq:Password or RabbitMq:PasswordFile is required");
        errors.ShouldNotContain(e => e.Contains("u:p", StringComparison.Ordinal));
    }

    [Fact]
    public void Should_name_each_cluster_node_that_is_not_host_and_port()
    {
        var options = new BrokerConnectionOptions { Uri = "amqp://127.0.0.1:5672/", User = "executor1", Password = "x" };
        options.ClusterNodes = ["127.0.0.1:5672", "rabbit2:99999", "amqp://rabbit3"];

        options.Validate("Executor:RabbitMq").ShouldBe([
            "Executor:RabbitMq:ClusterNodes:1: \"rabbit2:99999\" is not host:port (a host name or IPv4 address, a port 1-65535)",
            "Executor:RabbitMq:ClusterNodes:2: \"amqp://rabbit3\" is not host:port (a host name or IPv4 address, a port 1-65535)",
        ]);
    }
}
