using RabbitMQ.Client;
using ZfsSync.Shared;
using ZfsSync.Witness.Worker.Hosting;

namespace ZfsSync.Witness.Worker.Tests.Hosting;

/// <summary><c>RabbitMq:ClusterNodes</c>: what a node entry may be, the one line per bad entry, the endpoints a connection walks.</summary>
public sealed class When_the_broker_is_a_cluster
{
    [Theory]
    [InlineData("rabbit1.lan:5671", "rabbit1.lan", 5671)]
    [InlineData("127.0.0.1:5672", "127.0.0.1", 5672)]
    [InlineData("r-2:1", "r-2", 1)]
    [InlineData("node:65535", "node", 65535)]
    public void Should_accept_a_host_and_a_port(string node, string host, int port)
    {
        BrokerClusterNodes.TryParse(node, out var parsedHost, out var parsedPort).ShouldBeTrue();
        parsedHost.ShouldBe(host);
        parsedPort.ShouldBe(port);
    }

    [Theory]
    [InlineData("")]
    [InlineData("rabbit1")]
    [InlineData("rabbit1:")]
    [InlineData(":5672")]
    [InlineData("rabbit1:0")]
    [InlineData("rabbit1:65536")]
    [InlineData("rabbit1:-1")]
    [InlineData("rabbit1:+5672")]
    [InlineData("rabbit1: 5672")]
    [InlineData("rabbit1:5672:1")]
    [InlineData("[::1]:5672")]
    [InlineData("user:pass@rabbit1:5672")]
    [InlineData("amqp://rabbit1:5672")]
    [InlineData("rabbit1/vhost:5672")]
    [InlineData("rab bit:5672")]
    [InlineData("rabbit1;rm -rf /:5672")]
    [InlineData("-rabbit:5672")]
    [InlineData("rabbit..lan:5672")]
    [InlineData(".rabbit:5672")]
    [InlineData("rabbit1\n:5672")]
    [InlineData("rabbit1:5672\n")]
    [InlineData("rabbit1:٥٦٧٢")]
    public void Should_refuse_anything_else(string node)
    {
        BrokerClusterNodes.TryParse(node, out _, out _).ShouldBeFalse(node);
    }

    [Fact]
    public void Should_name_each_bad_entry_once_with_its_value_escaped()
    {
        var failures = BrokerClusterNodes.Failures(["rabbit1:5672", "rabbit2", "evil\n\"x\":99999"]);

        failures.ShouldBe([
            "RabbitMq:ClusterNodes:1: \"rabbit2\" is not host:port (a host name or IPv4 address, a port 1-65535)",
            "RabbitMq:ClusterNodes:2: \"evil\\u000a\\\"x\\\":99999\" is not host:port (a host name or IPv4 address, a port 1-65535)",
        ]);
        BrokerClusterNodes.Failures([]).ShouldBeEmpty();
        BrokerClusterNodes.Failures(null).ShouldBeEmpty();
    }

    [Fact]
    public void Should_have_the_witness_validator_report_a_bad_node()
    {
        var options = new WitnessOptions
        {
            Database = new DatabaseOptions { Provider = DatabaseProvider.Sqlite, DataDirectory = Path.GetTempPath() },
            RabbitMq = new RabbitMqOptions { ClusterNodes = ["rabbit1:5672", "rabbit2:70000"] },
        };

        var result = new WitnessOptionsValidator().Validate(null, options);

        result.Failed.ShouldBeTrue();
        result.Failures!.ShouldContain(f => f.StartsWith("RabbitMq:ClusterNodes:1: \"rabbit2:70000\"", StringComparison.Ordinal));
        result.Failures!.ShouldNotContain(f => f.Contains("ClusterNodes:0", StringComparison.Ordinal));
    }

    [Fact]
    public void Should_connect_to_the_listed_nodes_in_order_with_the_uri_s_tls()
    {
        var factory = new ConnectionFactory { Uri = new Uri("amqps://rabbit.lan:5671/zfssync") };

        var endpoints = BrokerClusterNodes.Endpoints(factory, ["rabbit1.lan:5671", "rabbit2.lan:5681"]);

        endpoints.Select(e => (e.HostName, e.Port)).ShouldBe([("rabbit1.lan", 5671), ("rabbit2.lan", 5681)]);
        endpoints.ShouldAllBe(e => e.Ssl.Enabled && e.Ssl.ServerName == "rabbit.lan");
        BrokerClusterNodes.Endpoints(factory, []).Single().HostName.ShouldBe("rabbit.lan");
    }

    [Fact]
    public async Task Should_have_replay_errors_refuse_a_bad_node_with_exit_2_before_connecting()
    {
        using var output = new StringWriter();

        var exitCode = await ErrorQueueReplay.RunAsync([], output, new RabbitMqOptions { Uri = new Uri("amqp://127.0.0.1:1/"), ClusterNodes = ["127.0.0.1:1", "nowhere"] });

        exitCode.ShouldBe(2);
        output.ToString().Trim().ShouldBe("replay-errors: invalid configuration: RabbitMq:ClusterNodes:1: \"nowhere\" is not host:port (a host name or IPv4 address, a port 1-65535)");
    }
}
