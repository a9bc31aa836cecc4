using System.Text.Json;
using MassTransit;
using MassTransit.Serialization;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;

namespace ZfsSync.Integration.Tests;

public sealed class HeartbeatProbeConsumer : IConsumer<Heartbeat>
{
    public Task Consume(ConsumeContext<Heartbeat> context) => Task.CompletedTask;
}

[Collection(InfrastructureFixture.Collection)]
public sealed class When_a_heartbeat_crosses_the_real_broker(InfrastructureFixture infrastructure) : IAsyncLifetime
{
    private TestVhost _vhost = null!;
    private ServiceProvider _provider = null!;
    private ITestHarness _harness = null!;

    public async Task InitializeAsync()
    {
        _vhost = await infrastructure.CreateVhostAsync();
        _provider = new ServiceCollection()
            .AddMassTransitTestHarness(x =>
            {
                x.AddConsumer<HeartbeatProbeConsumer>();
                x.UsingRabbitMq((context, cfg) =>
                {
                    cfg.Host(_vhost.AmqpUri);
                    // Hosts without .NET publish the bare message object with content type application/json.
                    cfg.UseRawJsonDeserializer(RawSerializerOptions.AnyMessageType, isDefault: false);
                    cfg.ConfigureEndpoints(context);
                });
            })
            .BuildServiceProvider(true);
        _harness = _provider.GetRequiredService<ITestHarness>();
        _harness.TestTimeout = TimeSpan.FromSeconds(30);
        await _harness.Start();
    }

    public async Task DisposeAsync()
    {
        await _harness.Stop();
        await _provider.DisposeAsync();
        await _vhost.DisposeAsync();
    }

    [Fact]
    public async Task Should_consume_a_heartbeat_published_through_MassTransit()
    {
        await _harness.Bus.Publish(new Heartbeat { HostId = "nas1", SentAt = DateTimeOffset.UtcNow, IntervalSeconds = 30, Os = "linux" });

        (await _harness.Consumed.Any<Heartbeat>(x => x.Context.Message.HostId == "nas1")).ShouldBeTrue();
        var consumer = _harness.GetConsumerHarness<HeartbeatProbeConsumer>();
        (await consumer.Consumed.Any<Heartbeat>(x => x.Context.Message.Os == "linux")).ShouldBeTrue();
    }

    [Fact]
    public async Task Should_consume_a_raw_json_heartbeat_published_through_the_management_api()
    {
        var messageId = Guid.NewGuid();
        var body = JsonSerializer.Serialize(
            new Heartbeat { HostId = "truenas1", SentAt = DateTimeOffset.UtcNow, IntervalSeconds = 60, Os = "freebsd", ZfsVersion = "zfs-2.2.6" },
            SystemTextJsonMessageSerializer.Options);
        body.ShouldNotContain("messageType"); // no MassTransit envelope

        var routed = await _vhost.PublishViaManagementApiAsync(
            "ZfsSync.Contracts:Heartbeat",
            body,
            new Dictionary<string, object>
            {
                ["content_type"] = "application/json",
                ["delivery_mode"] = 2,
                ["message_id"] = messageId.ToString(), // the harness tracks messages by id; MassTransit itself does not need one
            });

        routed.ShouldBeTrue();
        (await _harness.Consumed.Any<Heartbeat>(x => x.Context.Message.HostId == "truenas1" && x.Context.Message.ZfsVersion == "zfs-2.2.6"))
            .ShouldBeTrue();
    }
}
