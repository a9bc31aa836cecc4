using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Shouldly;
using Xunit;
using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;

namespace ZfsSync.Client.Tests;

/// <summary>
/// An operator's inbox is bound to every event, and nothing reads it while no operator tool runs: the production
/// definitions bound it by a policy (an hour of events, at most 10,000, oldest dropped first). An executor's inbox holds
/// instructions that must wait for their executor, however long: no policy may bound it.
/// </summary>
public sealed class When_the_broker_definitions_bound_the_inboxes
{
    private static JsonNode OperatorInboxPolicy() =>
        BrokerDefinitions.Load().Root["policies"]!.AsArray().Single(p => (string?)p!["name"] == "operator-inboxes")!;

    [Fact]
    public void Should_bound_every_operator_inbox_by_age_and_length_and_drop_the_oldest_first()
    {
        var policy = OperatorInboxPolicy();
        ((string?)policy["apply-to"]).ShouldBe("queues");
        ((string?)policy["vhost"]).ShouldBe("zfssync");
        var definition = policy["definition"]!;
        ((long)definition["message-ttl"]!).ShouldBe(3_600_000L, "an hour, in milliseconds");
        ((long)definition["max-length"]!).ShouldBe(10_000L);
        ((string?)definition["overflow"]).ShouldBe("drop-head", "the newest events are the ones worth keeping");

        var pattern = new Regex((string)policy["pattern"]!, RegexOptions.None, TimeSpan.FromSeconds(1));
        pattern.IsMatch(ClientTopology.InboxQueue("operator", "operator1")).ShouldBeTrue();
        pattern.IsMatch(ClientTopology.InboxQueue("operator", "dashboard")).ShouldBeTrue();
    }

    [Theory]
    [InlineData("executor", "executor-backup1")]
    [InlineData("reporter", "nas1")]
    public void Should_never_bound_an_executor_or_reporter_queue(string role, string user)
    {
        var pattern = new Regex((string)OperatorInboxPolicy()["pattern"]!, RegexOptions.None, TimeSpan.FromSeconds(1));
        pattern.IsMatch(ClientTopology.InboxQueue(role, user)).ShouldBeFalse();
        pattern.IsMatch("operator.operator1.watch.0123456789abcdef0123456789abcdef").ShouldBeFalse("a watch queue is exclusive and goes with its tool");
        pattern.IsMatch("inventory-ingest").ShouldBeFalse();
    }

    [Fact]
    public void Should_bound_no_queue_with_any_other_policy()
    {
        BrokerDefinitions.Load().Root["policies"]!.AsArray().Select(p => (string?)p!["name"]).ShouldBe(["operator-inboxes"]);
    }
}
