using System.Net;
using System.Text.Json;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using ZfsSync.Contracts;
using ZfsSync.Observability;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Worker.Groups;
using ZfsSync.Witness.Worker.Hosting;
using ZfsSync.Witness.Worker.Observability;
using ZfsSync.Witness.Worker.Tests.Groups;
using ZfsSync.Witness.Worker.Tests.Support;

namespace ZfsSync.Witness.Worker.Tests.Observability;

/// <summary>The witness as Program.cs builds it (AddWitness + AddWitnessObservability) on the real broker and PostgreSQL.</summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class When_the_witness_serves_health_and_metrics(InfrastructureFixture infrastructure)
{
    private static readonly Dictionary<string, string?> ObservabilitySettings = new()
    {
        ["Observability:Listen"] = "127.0.0.1:0",
        ["Observability:SampleInterval"] = "00:00:00.250",
    };

    [Fact]
    public async Task Should_answer_ready_and_scrape_the_figures_of_real_traffic()
    {
        await using var world = await WitnessWorld.CreateAsync(infrastructure);
        await using var witness = await ObservedWitness.StartAsync(world);
        var baseAddress = witness.Services.GetRequiredService<ObservabilityEndpoint>().BaseAddress.ShouldNotBeNull();
        baseAddress.Host.ShouldBe("127.0.0.1", "loopback unless configured");
        using var http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };

        (await http.GetAsync("health/live")).StatusCode.ShouldBe(HttpStatusCode.OK);
        await Poll.UntilAsync(async () => (await http.GetAsync("health/ready")).StatusCode == HttpStatusCode.OK, "/health/ready to answer 200");
        using (var ready = JsonDocument.Parse(await http.GetStringAsync("health/ready")))
        {
            ready.RootElement.GetProperty("status").GetString().ShouldBe("Healthy");
            var checks = ready.RootElement.GetProperty("checks").EnumerateObject().Select(c => c.Name).ToList();
            checks.ShouldContain("database");
            checks.ShouldContain(c => c.Contains("masstransit", StringComparison.OrdinalIgnoreCase), "MassTransit's bus health check");
        }

        (await http.GetAsync("elsewhere")).StatusCode.ShouldBe(HttpStatusCode.NotFound);

        // Traffic: three heartbeats, three reports applied, two rejected (undeclared host, invalid name).
        await world.HeartbeatsAsync();
        await world.Bus.Publish(world.SourceReport(3));
        await world.Bus.Publish(WitnessWorld.TargetReport("backup1", 0));
        await world.Bus.Publish(WitnessWorld.TargetReport("backup2", 1));
        await world.Bus.Publish(WitnessWorld.Report("ghost", [Reports.Dataset("tank")]));
        await world.Bus.Publish(WitnessWorld.Report("nas1", [Reports.Dataset("tank"), Reports.Dataset("tank//x")]));
        await world.SettledAsync(SyncGroupStatus.OutOfSync, g => g.OutstandingInstructions == 2);
        await world.UntilReceivedAsync<SyncInstructionIssued>(l => l.Count == 2, "two instructions");
        var status = (await world.Client.Services.GetRequiredService<IRequestClient<GetSyncGroupStatus>>()
            .GetResponse<SyncGroupStatusReport>(new GetSyncGroupStatus { SyncGroup = WitnessWorld.Group })).Message.Groups.Single();
        var backup2 = status.Datasets.Single(d => d.TargetHostId == "backup2");
        backup2.LagSnapshots.ShouldBe(2, "backup2 holds snapshot 1 of 3");

        var lag = ("sync_group", WitnessWorld.Group);
        var text = await ScrapeUntilAsync(http, t =>
            Value(t, "zfssync_witness_hosts", ("status", "online")) == 3
            && Value(t, "zfssync_witness_groups", ("state", "out-of-sync")) == 1
            && Value(t, "zfssync_witness_instructions_outstanding") == 2
            && Value(t, "zfssync_witness_outbox_backlog") == 0
            && Value(t, "zfssync_witness_reports_total", ("outcome", "rejected"), ("reason", "invalid")) == 1);

        Value(text, "zfssync_witness_reports_total", ("outcome", "applied")).ShouldBe(3);
        Value(text, "zfssync_witness_reports_total", ("outcome", "rejected"), ("reason", "unknown-host")).ShouldBe(1);
        Value(text, "zfssync_witness_ingest_duration_seconds_count", ("outcome", "applied")).ShouldBe(3);
        Value(text, "zfssync_witness_ingest_duration_seconds_sum", ("outcome", "applied")).ShouldNotBeNull().ShouldBeGreaterThan(0);
        Value(text, "zfssync_witness_heartbeats_total").ShouldBe(3);
        Value(text, "zfssync_witness_hosts", ("status", "late")).ShouldBe(0);
        Value(text, "zfssync_witness_hosts", ("status", "offline")).ShouldBe(0);
        Value(text, "zfssync_witness_groups", ("state", "in-sync")).ShouldBe(0);
        Value(text, "zfssync_witness_instructions_total", ("event", "issued")).ShouldBe(2);
        Value(text, "zfssync_witness_instructions_hung").ShouldBe(0);
        Value(text, "zfssync_witness_conflicts_open", ("kind", "diverged")).ShouldBe(0);
        Value(text, "zfssync_witness_lag_snapshots", lag, ("dataset", "tank/d0"), ("target", "backup2")).ShouldBe(2);
        Value(text, "zfssync_witness_lag_seconds", lag, ("dataset", "tank/d0"), ("target", "backup2")).ShouldBe(backup2.LagSeconds.ShouldNotBeNull());
        Value(text, "zfssync_witness_lag_snapshots", lag, ("dataset", "tank/d0"), ("target", "backup1"))
            .ShouldBe(status.Datasets.Single(d => d.TargetHostId == "backup1").LagSnapshots);
        Value(text, "zfssync_witness_outbox_oldest_age_seconds").ShouldBe(0);
        Value(text, "zfssync_witness_planning_duration_seconds_count").ShouldNotBeNull().ShouldBeGreaterThanOrEqualTo(1);
        // MassTransit's meter is asserted in WitnessProgramTests: it is process-wide, created with the first bus's
        // meter factory, so only a process of its own (as in production) shows it reliably.
        PrometheusText.HasMetricStartingWith(text, "dotnet_").ShouldBeTrue("the runtime's meter is exported");

        // Executors report back: one completed, one failed.
        var issued = world.Received.Of<SyncInstructionIssued>().OrderBy(i => i.Target.HostId, StringComparer.Ordinal).ToList();
        await world.Bus.Publish(new SyncInstructionCompleted
        {
            InstructionId = issued[0].InstructionId,
            Attempt = 1,
            SyncGroup = WitnessWorld.Group,
            ExecutedBy = "executor-1",
            CompletedAt = DateTimeOffset.UtcNow,
            BytesTransferred = 4096,
        });
        await world.Bus.Publish(new SyncInstructionFailed
        {
            InstructionId = issued[1].InstructionId,
            Attempt = 1,
            SyncGroup = WitnessWorld.Group,
            ExecutedBy = "executor-1",
            FailedAt = DateTimeOffset.UtcNow,
            ExitCode = 1,
            Error = "ssh: connection refused",
        });
        text = await ScrapeUntilAsync(http, t =>
            Value(t, "zfssync_witness_instructions_total", ("event", "completed")) == 1
            && Value(t, "zfssync_witness_instructions_total", ("event", "failed")) == 1);
        Value(text, "zfssync_witness_instructions_total", ("event", "expired")).ShouldBeNull("nothing expired");
    }

    [Fact]
    public async Task Should_answer_not_ready_while_the_database_is_unreachable_and_the_healthcheck_command_follows()
    {
        await using var world = await WitnessWorld.CreateAsync(infrastructure);
        await using var witness = await ObservedWitness.StartAsync(world);
        var baseAddress = witness.Services.GetRequiredService<ObservabilityEndpoint>().BaseAddress.ShouldNotBeNull();
        using var http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
        await Poll.UntilAsync(async () => (await http.GetAsync("health/ready")).StatusCode == HttpStatusCode.OK, "/health/ready to answer 200");

        var listen = new Dictionary<string, string?> { ["Observability:Listen"] = $"127.0.0.1:{baseAddress.Port}" };
        var output = new StringWriter();
        (await ObservabilityHealthCheck.RunAsync(new ConfigurationBuilder().AddInMemoryCollection(listen).Build(), "127.0.0.1:1", output)).ShouldBe(0, output.ToString());
        output.ToString().ShouldStartWith("healthy:");

        // The database goes away (dropped under the witness): ready turns 503, live stays 200, the command exits 1.
        await world.Database.DisposeAsync();
        await Poll.UntilAsync(async () => (await http.GetAsync("health/ready")).StatusCode == HttpStatusCode.ServiceUnavailable, "/health/ready to answer 503");
        (await http.GetAsync("health/live")).StatusCode.ShouldBe(HttpStatusCode.OK);
        output = new StringWriter();
        (await ObservabilityHealthCheck.RunAsync(new ConfigurationBuilder().AddInMemoryCollection(listen).Build(), "127.0.0.1:1", output)).ShouldBe(1);
        output.ToString().ShouldStartWith("unhealthy:");
        output.ToString().ShouldContain("503");
    }

    private static double? Value(string text, string name, params (string, string)[] labels) => PrometheusText.Value(text, name, labels);

    private static async Task<string> ScrapeUntilAsync(HttpClient http, Func<string, bool> condition)
    {
        var text = "";
        try
        {
            await Poll.UntilAsync(
                async () =>
                {
                    text = await http.GetStringAsync(new Uri("metrics", UriKind.Relative));
                    return condition(text);
                },
                "the scraped figures",
                TimeSpan.FromSeconds(60));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new ShouldAssertException($"{e.Message}{Environment.NewLine}last scrape:{Environment.NewLine}{string.Join(Environment.NewLine, text.Split('\n').Where(l => l.StartsWith("zfssync", StringComparison.Ordinal)))}", e);
        }

        return text;
    }

    private sealed class ObservedWitness(IHost host) : IAsyncDisposable
    {
        public IServiceProvider Services => host.Services;

        public static async Task<ObservedWitness> StartAsync(WitnessWorld world)
        {
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Configuration.AddInMemoryCollection(world.Configuration(ObservabilitySettings));
            builder.AddWitness();
            builder.AddWitnessObservability();
            var host = builder.Build();
            await host.StartAsync();
            return new ObservedWitness(host);
        }

        public async ValueTask DisposeAsync()
        {
            await host.StopAsync(TimeSpan.FromSeconds(30));
            host.Dispose();
        }
    }
}
