using ZfsSync.Dashboard;

namespace ZfsSync.Dashboard.Tests;

/// <summary>The healthcheck subcommand asks the dashboard's own listen address, a wildcard host replaced by loopback.</summary>
public sealed class When_the_healthcheck_picks_the_address_to_ask
{
    [Theory]
    [InlineData("http://127.0.0.1:8080", "http://127.0.0.1:8080/")]
    [InlineData("http://0.0.0.0:8080", "http://127.0.0.1:8080/")]
    [InlineData("http://*:9000", "http://127.0.0.1:9000/")]
    [InlineData("http://+:9000", "http://127.0.0.1:9000/")]
    [InlineData("http://[::]:8080", "http://127.0.0.1:8080/")]
    [InlineData("http://dash.example:8080", "http://dash.example:8080/")]
    public void Should_ask_loopback_for_a_wildcard_listen_address(string listen, string expected) =>
        DashboardHealthCheck.LocalUrl(listen)!.ToString().ShouldBe(expected);

    [Theory]
    [InlineData("")]
    [InlineData("not an address")]
    public void Should_refuse_what_is_not_an_address(string listen) => DashboardHealthCheck.LocalUrl(listen).ShouldBeNull();
}
