using Microsoft.Extensions.Configuration;
using ZfsSync.Reporter.Hosting;
using ZfsSync.Reporter.Tests.Support;
using ZfsSync.TestInfrastructure;

namespace ZfsSync.Reporter.Tests;

/// <summary>
/// The reporter over amqps to the production broker configuration (rabbitmq/rabbitmq.conf: TLS only) on a node of the
/// test's own, its certificate made by a throwaway openssl CA, users from rabbitmq/definitions.json.
/// </summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class When_the_reporter_reports_to_a_TLS_only_broker : IDisposable
{
    private readonly FakeZfs _zfs = new();
    private readonly DirectoryInfo _secrets = Directory.CreateTempSubdirectory("broker-passwords-");

    public void Dispose()
    {
        _zfs.Dispose();
        _secrets.Delete(recursive: true);
    }

    [Fact]
    public async Task Should_deliver_over_amqps_trusting_only_the_configured_CA()
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await using var node = await TlsRabbitMqNode.StartAsync(cancel.Token);
        var password = Convert.ToHexString(Guid.NewGuid().ToByteArray());
        var file = Path.Combine(_secrets.FullName, "nas1.password");
        await File.WriteAllTextAsync(file, password + "\n", cancel.Token);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        await node.RunAsync(
            "bash",
            [Path.Combine(node.RepositoryRoot, "scripts", "rabbitmq-load-definitions.sh"), Path.Combine(node.RepositoryRoot, "rabbitmq", "definitions.json"), _secrets.FullName],
            cancel.Token);

        // Trusting another CA: nothing is delivered, so no heartbeat is recorded as delivered.
        var state = Path.Combine(_zfs.Directory, "state");
        var refused = await RunReporterAsync(node, password, node.OtherCaCertificatePath, TimeSpan.FromSeconds(8), cancel.Token);
        refused.ShouldBe(1, "a reporter that does not trust the broker's certificate delivers nothing");
        (await QueueDepthAsync(node, "heartbeat", cancel.Token)).ShouldBe(0);

        // Trusting the broker's CA: the heartbeat and the report arrive in the witness's queues.
        // The reporter keeps running until its first report is in the queue too: the healthcheck passes on the
        // heartbeat alone, and a reporter stopped right then may not have sent the report yet.
        var reported = false;
        (await RunReporterAsync(
            node,
            password,
            node.CaCertificatePath,
            TimeSpan.FromSeconds(90),
            cancel.Token,
            async () => reported = await QueueDepthAsync(node, "inventory-ingest", cancel.Token) >= 1)).ShouldBe(0);
        reported.ShouldBeTrue("the report arrived in inventory-ingest while the reporter ran");
        (await QueueDepthAsync(node, "heartbeat", cancel.Token)).ShouldBeGreaterThanOrEqualTo(1);
        File.Exists(Path.Combine(state, ReporterHealthCheck.FileName)).ShouldBeTrue();
    }

    /// <summary>
    /// Runs the reporter until its healthcheck passes (a heartbeat delivered) and <paramref name="until"/> holds, or
    /// <paramref name="within"/> ends; returns the healthcheck's exit code.
    /// </summary>
    private async Task<int> RunReporterAsync(
        TlsRabbitMqNode node,
        string password,
        string caCertificatePath,
        TimeSpan within,
        CancellationToken cancellationToken,
        Func<Task<bool>>? until = null)
    {
        var extra = new Dictionary<string, string?> { ["RabbitMq:Tls:CaCertificatePath"] = caCertificatePath };
        using var host = ReporterHost.Build(_zfs, node.AmqpsUri("zfssync"), "nas1", password, extra: extra);
        await host.StartAsync(cancellationToken);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Reporter:StateDirectory"] = Path.Combine(_zfs.Directory, "state"),
            ["Reporter:HeartbeatInterval"] = "00:00:05",
        }).Build();
        var code = 1;
        await Poll.HoldsAsync(
            async () =>
            {
                code = await ReporterHealthCheck.RunAsync(configuration, DateTimeOffset.UtcNow, TextWriter.Null);
                return code == 0 && (until is null || await until());
            },
            within);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await host.StopAsync(stop.Token);
        return code;
    }

    private static async Task<long> QueueDepthAsync(TlsRabbitMqNode node, string queue, CancellationToken cancellationToken)
    {
        var lines = (await node.CtlAsync(cancellationToken, "list_queues", "-p", "zfssync", "name", "messages")).Split('\n');
        var line = lines.Select(l => l.Split('\t')).FirstOrDefault(f => f.Length == 2 && f[0].Trim() == queue).ShouldNotBeNull($"queue {queue}: {string.Join(" | ", lines)}");
        return long.Parse(line[1].Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
