using Npgsql;
using ZfsSync.TestInfrastructure;

namespace ZfsSync.Fault.Tests.Support;

/// <summary>
/// What the whole fault suite shares: a PostgreSQL server and a RabbitMQ node of its own (the suite stops and starts
/// them; the shared test servers are never touched), and the broker users of a deployment — the witness with the
/// <c>impersonator</c> tag, one user per reporting host. Each scenario gets its own vhost and database.
/// </summary>
public sealed class FaultFixture : IAsyncLifetime
{
    public const string Collection = "faults";

    /// <summary>The 3-minute database outage alone, on servers of its own, so that it runs beside the other scenarios.</summary>
    public const string LongOutageCollection = "faults: long database outage";

    /// <summary>The executor scenarios, on servers of their own (they stop the broker), beside the others.</summary>
    public const string ExecutorCollection = "faults: executor";

    public PrivatePostgres Postgres { get; private set; } = null!;
    public PrivateRabbitMqNode Broker { get; private set; } = null!;
    public IReadOnlyDictionary<string, string> Passwords { get; } = new Dictionary<string, string>
    {
        [FaultWorld.WitnessUser] = Guid.NewGuid().ToString("N"),
        ["nas1-user"] = Guid.NewGuid().ToString("N"),
        ["backup1-user"] = Guid.NewGuid().ToString("N"),
        [ExecutorFleet.ExecutorUser] = Guid.NewGuid().ToString("N"),
    };

    public async Task InitializeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        var postgres = PrivatePostgres.StartAsync(timeout.Token);
        var broker = PrivateRabbitMqNode.StartAsync(timeout.Token, "fault");
        Postgres = await postgres;
        Broker = await broker;
        await AddUsersAsync(Broker, timeout.Token);
    }

    /// <summary>
    /// A three-node cluster of the scenario's own (started once by the scenario that needs it, disposed by it), with
    /// the deployment's users.
    /// </summary>
    public async Task<PrivateRabbitMqCluster> StartClusterAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        var cluster = await PrivateRabbitMqCluster.StartAsync(3, timeout.Token, "fault-cluster");
        try
        {
            await AddUsersAsync(cluster.Nodes[0], timeout.Token); // users are the cluster's: added on one node
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <param name="name">The vhost.</param>
    /// <param name="node">The node (of a cluster) to create it on; default the suite's own node.</param>
    public async Task<string> CreateVhostAsync(string name, PrivateRabbitMqNode? node = null)
    {
        node ??= Broker;
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        await node.ControlAsync(timeout.Token, "add_vhost", name);
        foreach (var user in Passwords.Keys)
        {
            await node.ControlAsync(timeout.Token, "set_permissions", "-p", name, user, ".*", ".*", ".*");
        }

        return name;
    }

    private async Task AddUsersAsync(PrivateRabbitMqNode node, CancellationToken cancellationToken)
    {
        foreach (var (user, password) in Passwords)
        {
            await node.AddUserAsync(user, password, user == FaultWorld.WitnessUser ? "impersonator" : "", cancellationToken);
        }
    }

    public async Task<string> CreateDatabaseAsync(string name)
    {
        await using var connection = new NpgsqlConnection(Postgres.ConnectionString() + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
        await command.ExecuteNonQueryAsync();
        return Postgres.ConnectionString(name);
    }

    public async Task DisposeAsync()
    {
        await Broker.DisposeAsync();
        await Postgres.DisposeAsync();
    }
}

[CollectionDefinition(FaultFixture.Collection)]
public sealed class FaultCollection : ICollectionFixture<FaultFixture>;

[CollectionDefinition(FaultFixture.LongOutageCollection)]
public sealed class LongOutageCollection : ICollectionFixture<FaultFixture>;

[CollectionDefinition(FaultFixture.ExecutorCollection)]
public sealed class ExecutorCollection : ICollectionFixture<FaultFixture>;
