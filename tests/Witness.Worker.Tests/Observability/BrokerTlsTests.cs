using System.Net;
using System.Security.Authentication;
using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using ZfsSync.Contracts;
using ZfsSync.Observability;
using ZfsSync.Shared;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Worker.Hosting;
using ZfsSync.Witness.Worker.Observability;

namespace ZfsSync.Witness.Worker.Tests.Observability;

/// <summary>
/// The production broker configuration (rabbitmq/rabbitmq.conf: TLS only, management on loopback) on a node of the
/// test's own with a throwaway CA, loaded with rabbitmq/definitions.json by scripts/rabbitmq-load-definitions.sh.
/// </summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class When_the_broker_listens_only_on_TLS
{
    [Fact]
    public async Task Should_load_the_definitions_without_guest_and_let_the_witness_and_a_host_connect_with_amqps_verifying_the_CA()
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await using var node = await TlsRabbitMqNode.StartAsync(cancel.Token);
        node.Configuration.ShouldContain("listeners.tcp = none", Case.Sensitive, "no plain AMQP listener");
        node.Configuration.ShouldContain("management.tcp.ip = 127.0.0.1", Case.Sensitive, "management on loopback");

        // Passwords live in files of mode 600, never on a command line.
        var secrets = Directory.CreateTempSubdirectory("broker-passwords-");
        var witnessPassword = Convert.ToHexString(Guid.NewGuid().ToByteArray());
        var hostPassword = Convert.ToHexString(Guid.NewGuid().ToByteArray());
        WriteSecret(Path.Combine(secrets.FullName, "zfssync-witness.password"), witnessPassword);
        WriteSecret(Path.Combine(secrets.FullName, "nas1.password"), hostPassword);
        var loaded = await node.RunAsync(
            "bash",
            [Path.Combine(node.RepositoryRoot, "scripts", "rabbitmq-load-definitions.sh"), Path.Combine(node.RepositoryRoot, "rabbitmq", "definitions.json"), secrets.FullName],
            cancel.Token);
        loaded.ShouldContain("deleted the guest user");
        loaded.ShouldContain("2 password(s) set");
        loaded.ShouldNotContain(witnessPassword);
        var users = (await node.CtlAsync(cancel.Token, "list_users")).Split('\n').Select(l => l.Split('\t')[0].Trim()).ToList();
        users.ShouldContain("zfssync-witness");
        users.ShouldContain("executor-backup1");
        users.ShouldContain("operator1");
        users.ShouldNotContain("guest");

        // A client that trusts another CA is refused before it logs in.
        var refused = await Should.ThrowAsync<BrokerUnreachableException>(() => ConnectAsync(node, "nas1", hostPassword, node.OtherCaCertificatePath));
        refused.ToString().ShouldContain(nameof(AuthenticationException));

        var data = Directory.CreateTempSubdirectory("witness-tls-");
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["RabbitMq:Uri"] = node.AmqpsUri("zfssync").ToString(),
            ["RabbitMq:User"] = "zfssync-witness",
            ["RabbitMq:Password"] = witnessPassword,
            ["RabbitMq:Tls:CaCertificatePath"] = node.CaCertificatePath,
            ["Database:Provider"] = "sqlite",
            ["Database:DataDirectory"] = data.FullName,
            ["Hosts:0:Id"] = "nas1",
            ["Observability:Listen"] = "127.0.0.1:0",
            ["Observability:SampleInterval"] = "00:00:00.250",
        });
        builder.AddWitness();
        builder.AddWitnessObservability();
        using var witness = builder.Build();
        await witness.StartAsync(cancel.Token);
        try
        {
            using var http = new HttpClient { BaseAddress = witness.Services.GetRequiredService<ObservabilityEndpoint>().BaseAddress, Timeout = TimeSpan.FromSeconds(10) };
            await Poll.UntilAsync(async () => (await http.GetAsync(new Uri("health/ready", UriKind.Relative))).StatusCode == HttpStatusCode.OK, "the witness ready over amqps");

            // A host (least-privilege user nas1) reports a heartbeat over amqps as raw JSON, verifying the CA.
            await using (var connection = await ConnectAsync(node, "nas1", hostPassword, node.CaCertificatePath))
            await using (var channel = await connection.CreateChannelAsync(cancellationToken: cancel.Token))
            {
                const string urn = "urn:message:ZfsSync.Contracts:Heartbeat";
                var body = Encoding.UTF8.GetBytes($$"""{"hostId":"nas1","sentAt":"{{DateTimeOffset.UtcNow:O}}","intervalSeconds":60,"agentVersion":"test","os":"linux"}""");
                var properties = new BasicProperties
                {
                    ContentType = "application/json",
                    DeliveryMode = DeliveryModes.Persistent,
                    MessageId = Guid.NewGuid().ToString(),
                    Type = urn,
                    Headers = new Dictionary<string, object?> { ["MT-MessageType"] = urn },
                };
                properties.UserId = "nas1";
                // Through the host's own entry exchange (the client topology): no client may publish to a shared exchange.
                await channel.BasicPublishAsync(ClientTopology.EntryExchange(ClientTopology.ReporterRole, "nas1"), ClientTopology.SharedExchange<Heartbeat>(), mandatory: true, properties, body, cancel.Token);
            }

            await Poll.UntilAsync(
                async () =>
                {
                    var text = await http.GetStringAsync(new Uri("metrics", UriKind.Relative));
                    return PrometheusText.Value(text, "zfssync_witness_heartbeats_total") == 1
                        && PrometheusText.Value(text, "zfssync_witness_hosts", ("status", "online")) == 1;
                },
                "the heartbeat received over TLS");

            // The broker goes away: /health/ready follows MassTransit's bus health check.
            await node.StopNodeAsync(cancel.Token);
            await Poll.UntilAsync(
                async () => (await http.GetAsync(new Uri("health/ready", UriKind.Relative))).StatusCode == HttpStatusCode.ServiceUnavailable,
                "/health/ready to answer 503 without the broker",
                TimeSpan.FromSeconds(60));
            (await http.GetAsync(new Uri("health/live", UriKind.Relative))).StatusCode.ShouldBe(HttpStatusCode.OK);
        }
        finally
        {
            await witness.StopAsync(TimeSpan.FromSeconds(30));
            secrets.Delete(recursive: true);
        }
    }

    private static async Task<IConnection> ConnectAsync(TlsRabbitMqNode node, string user, string password, string caCertificatePath)
    {
        var factory = new ConnectionFactory
        {
            Uri = node.AmqpsUri("zfssync"),
            UserName = user,
            Password = password,
            AutomaticRecoveryEnabled = false,
        };
        factory.Ssl = new SslOption
        {
            Enabled = true,
            ServerName = "localhost",
            Version = SslProtocols.Tls12 | SslProtocols.Tls13,
            CertificateValidationCallback = BrokerCertificateValidation.TrustOnly(caCertificatePath),
        };
        return await factory.CreateConnectionAsync();
    }

    private static void WriteSecret(string path, string value)
    {
        File.WriteAllText(path, value + "\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }
}
