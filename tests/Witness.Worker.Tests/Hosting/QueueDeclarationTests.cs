using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Worker.Tests.Support;

namespace ZfsSync.Witness.Worker.Tests.Hosting;

[Collection(InfrastructureFixture.Collection)]
public sealed class When_the_witness_declares_its_queues(InfrastructureFixture infrastructure)
{
    [Theory]
    [InlineData(false, "classic")]
    [InlineData(true, "quorum")]
    public async Task Should_use_kebab_case_names_and_quorum_queues_when_configured(bool quorum, string expectedType)
    {
        await using var vhost = await infrastructure.CreateVhostAsync();
        await using var database = await WitnessTestDatabase.CreateAsync(infrastructure, "sqlite");
        await using (var witness = await WitnessHost.StartAsync(vhost, database, new Dictionary<string, string?> { ["RabbitMq:QuorumQueues"] = quorum ? "true" : "false" }))
        {
            foreach (var name in new[] { "inventory-ingest", "heartbeat" })
            {
                var queue = (await vhost.Broker.GetQueueAsync(vhost.Name, name)).ShouldNotBeNull($"queue {name}");
                queue["type"]!.GetValue<string>().ShouldBe(expectedType, name);
                queue["durable"]!.GetValue<bool>().ShouldBeTrue();
            }
        }
    }
}
