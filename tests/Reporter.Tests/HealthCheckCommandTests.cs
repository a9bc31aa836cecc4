using Microsoft.Extensions.Configuration;
using ZfsSync.Reporter.Hosting;

namespace ZfsSync.Reporter.Tests;

public sealed class When_a_container_asks_the_reporter_whether_it_is_healthy : IDisposable
{
    private readonly DirectoryInfo _state = Directory.CreateTempSubdirectory("reporter-health-");
    private readonly DateTimeOffset _now = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Should_be_healthy_while_the_last_delivered_heartbeat_is_younger_than_three_intervals()
    {
        ReporterHealthCheck.RecordDelivered(_state.FullName, _now.AddSeconds(-80));
        var (code, said) = await RunAsync();
        code.ShouldBe(0, said);
        said.ShouldStartWith("healthy: last heartbeat delivered 80 s ago (allowed 90 s)");
    }

    [Fact]
    public async Task Should_be_unhealthy_when_the_last_heartbeat_is_older()
    {
        ReporterHealthCheck.RecordDelivered(_state.FullName, _now.AddSeconds(-91));
        var (code, said) = await RunAsync();
        code.ShouldBe(1);
        said.ShouldStartWith("unhealthy: last heartbeat delivered 91 s ago");
    }

    [Fact]
    public async Task Should_be_unhealthy_before_any_heartbeat_was_delivered()
    {
        var (code, said) = await RunAsync();
        code.ShouldBe(1);
        said.ShouldStartWith("unhealthy: no heartbeat delivered yet");
    }

    public void Dispose() => _state.Delete(recursive: true);

    private async Task<(int Code, string Output)> RunAsync()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Reporter:StateDirectory"] = _state.FullName,
            ["Reporter:HeartbeatInterval"] = "00:00:20",
        }).Build();
        var output = new StringWriter();
        var code = await ReporterHealthCheck.RunAsync(configuration, _now, output);
        return (code, output.ToString().Trim());
    }
}
