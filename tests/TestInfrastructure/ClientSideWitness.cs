using MassTransit;

namespace ZfsSync.TestInfrastructure;

/// <summary>
/// What the tests of the witness's clients (the CLI, the dashboard) share to start a witness: its settings on a test
/// vhost and PostgreSQL database (hosts nas1 and backup1, one decisive operator), groups of nas1 → backup1, and the
/// administrator's bus, which publishes as the witness's own broker user (reports, heartbeats, outcomes, as hosts would).
/// The caller builds the witness itself (<c>AddWitness</c>) from these settings.
/// </summary>
public static class ClientSideWitness
{
    /// <summary>The witness's settings: PostgreSQL, the vhost, quick outbox, no telemetry, <paramref name="operatorName"/> under <c>Operators</c>, hosts nas1 and backup1.</summary>
    public static Dictionary<string, string?> Settings(TestVhost vhost, TestDatabase database, string operatorName)
    {
        ArgumentNullException.ThrowIfNull(vhost);
        ArgumentNullException.ThrowIfNull(database);
        return new Dictionary<string, string?>
        {
            ["Database:Provider"] = "postgresql",
            ["Database:ConnectionString"] = database.ConnectionString,
            ["RabbitMq:Uri"] = vhost.AmqpUri.ToString(),
            ["Observability:Enabled"] = "false",
            ["Outbox:PollingInterval"] = "00:00:00.300",
            ["Outbox:InitialBackoff"] = "00:00:00.200",
            ["Operators:0"] = operatorName,
            ["ClientTopology:RefreshInterval"] = "00:00:05",
            ["Hosts:0:Id"] = "nas1",
            ["Hosts:0:Ssh:Host"] = "nas1.lan",
            ["Hosts:1:Id"] = "backup1",
            ["Hosts:1:Ssh:Host"] = "backup1.lan",
        };
    }

    /// <summary>Adds group number <paramref name="index"/>: source nas1, members nas1 and backup1, each dataset (path on nas1, path on backup1).</summary>
    public static void AddGroup(IDictionary<string, string?> settings, int index, string name, params (string Path, string OnBackup1)[] datasets)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(datasets);
        var prefix = $"SyncGroups:{index}:";
        settings[prefix + "Name"] = name;
        settings[prefix + "Source"] = "nas1";
        settings[prefix + "Members:0"] = "nas1";
        settings[prefix + "Members:1"] = "backup1";
        for (var d = 0; d < datasets.Length; d++)
        {
            settings[$"{prefix}Datasets:{d}:Path"] = datasets[d].Path;
            settings[$"{prefix}Datasets:{d}:On:backup1"] = datasets[d].OnBackup1;
        }
    }

    /// <summary>A started bus on the vhost as the administrator, every publish carrying the administrator's AMQP user-id (the witness's user in these tests).</summary>
    public static async Task<IBusControl> StartAdminBusAsync(TestVhost vhost)
    {
        ArgumentNullException.ThrowIfNull(vhost);
        var admin = vhost.Broker.AdminUser;
        var bus = Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            cfg.Host(vhost.AmqpUri);
            cfg.ConfigurePublish(p => p.UseExecute(c =>
            {
                if (c.TryGetPayload<RabbitMqSendContext>(out var rabbit))
                {
                    rabbit.BasicProperties.UserId = admin;
                }
            }));
        });
        await bus.StartAsync();
        return bus;
    }
}
