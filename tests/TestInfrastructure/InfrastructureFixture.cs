using System.Net.Sockets;
using Npgsql;
using Testcontainers.PostgreSql;
using Testcontainers.RabbitMq;
using Xunit;

namespace ZfsSync.TestInfrastructure;

/// <summary>
/// The real RabbitMQ and PostgreSQL the integration tests talk to. Addresses come from the environment variables
/// that <c>scripts/test.sh</c> exports; where they are not set and a Docker engine is reachable, Testcontainers
/// starts both; otherwise initialisation fails with a message that says how to start them. Each test then takes
/// an isolated vhost (<see cref="CreateVhostAsync"/>) and database (<see cref="CreateDatabaseAsync"/>).
/// Test projects declare a collection with <c>[CollectionDefinition(InfrastructureFixture.Collection)]</c>
/// implementing <c>ICollectionFixture&lt;InfrastructureFixture&gt;</c> (xUnit wants it in the test assembly).
/// </summary>
public sealed class InfrastructureFixture : IAsyncLifetime
{
    public const string Collection = "real infrastructure";
    public const string RabbitMqUriVariable = "ZFS_SYNC_TEST_RABBITMQ_URI";
    public const string RabbitMqManagementUriVariable = "ZFS_SYNC_TEST_RABBITMQ_MANAGEMENT_URI";
    public const string PostgresVariable = "ZFS_SYNC_TEST_POSTGRES";

    private const string HowToStart =
        "Start them with `bash scripts/test.sh` (it installs and starts RabbitMQ and PostgreSQL on loopback and runs the tests), " +
        "or `. scripts/services.sh && zfssync_services_up` and export the variables it prints; " +
        $"or point {RabbitMqUriVariable}, {RabbitMqManagementUriVariable} and {PostgresVariable} at your own servers; " +
        "or run where a Docker engine is available so that Testcontainers can start them.";

    private RabbitMqContainer? _rabbitContainer;
    private PostgreSqlContainer? _postgresContainer;

    public RabbitMqBroker RabbitMq { get; private set; } = null!;

    /// <summary>Connection string of a role that may create and drop databases.</summary>
    public string PostgresAdminConnectionString { get; private set; } = "";

    public async Task InitializeAsync()
    {
        var rabbitUri = Environment.GetEnvironmentVariable(RabbitMqUriVariable);
        var managementUri = Environment.GetEnvironmentVariable(RabbitMqManagementUriVariable);
        var postgres = Environment.GetEnvironmentVariable(PostgresVariable);

        var missing = new List<string>();
        if (string.IsNullOrWhiteSpace(rabbitUri) || string.IsNullOrWhiteSpace(managementUri))
        {
            missing.Add($"{RabbitMqUriVariable}/{RabbitMqManagementUriVariable}");
        }

        if (string.IsNullOrWhiteSpace(postgres))
        {
            missing.Add(PostgresVariable);
        }

        if (missing.Count > 0)
        {
            if (!DockerEngine.IsAvailable())
            {
                throw new InvalidOperationException(
                    $"The integration tests need a real RabbitMQ and PostgreSQL, but {string.Join(" and ", missing)} " +
                    $"{(missing.Count == 1 ? "is" : "are")} not set and no Docker engine is reachable. {HowToStart}");
            }

            if (string.IsNullOrWhiteSpace(rabbitUri) || string.IsNullOrWhiteSpace(managementUri))
            {
                (rabbitUri, managementUri) = await StartRabbitMqContainerAsync();
            }

            if (string.IsNullOrWhiteSpace(postgres))
            {
                postgres = await StartPostgresContainerAsync();
            }
        }

        RabbitMq = new RabbitMqBroker(new Uri(rabbitUri!), new Uri(managementUri!));
        PostgresAdminConnectionString = postgres!;
        await CheckRabbitMqAsync();
        await CheckPostgresAsync();
    }

    public async Task DisposeAsync()
    {
        RabbitMq?.Dispose();
        if (_rabbitContainer is not null)
        {
            await _rabbitContainer.DisposeAsync();
        }

        if (_postgresContainer is not null)
        {
            await _postgresContainer.DisposeAsync();
        }
    }

    /// <summary>A fresh vhost on the shared broker, deleted when disposed.</summary>
    public Task<TestVhost> CreateVhostAsync(CancellationToken cancellationToken = default) => RabbitMq.CreateVhostAsync(cancellationToken);

    /// <summary>A fresh, empty PostgreSQL database, dropped when disposed.</summary>
    public async Task<TestDatabase> CreateDatabaseAsync(CancellationToken cancellationToken = default)
    {
        var name = "zfssync_t_" + Guid.NewGuid().ToString("N")[..16];
        await using (var connection = new NpgsqlConnection(PostgresAdminConnectionString))
        {
            await connection.OpenAsync(cancellationToken);
            await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        var builder = new NpgsqlConnectionStringBuilder(PostgresAdminConnectionString) { Database = name };
        return new TestDatabase(name, builder.ConnectionString, PostgresAdminConnectionString);
    }

    private async Task CheckRabbitMqAsync()
    {
        var amqp = RabbitMq.AmqpUri;
        try
        {
            using var tcp = new TcpClient();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await tcp.ConnectAsync(amqp.Host, amqp.Port, timeout.Token);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            throw new InvalidOperationException(
                $"RabbitMQ is not reachable at {amqp.Host}:{amqp.Port} ({ex.Message}). {HowToStart}", ex);
        }

        try
        {
            await RabbitMq.GetOverviewAsync(CancellationToken.None);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            throw new InvalidOperationException(
                $"The RabbitMQ management API is not reachable at {RabbitMq.ManagementUri} ({ex.Message}); " +
                $"the rabbitmq_management plugin must be enabled. {HowToStart}", ex);
        }
    }

    private async Task CheckPostgresAsync()
    {
        try
        {
            await using var connection = new NpgsqlConnection(PostgresAdminConnectionString);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            await connection.OpenAsync(timeout.Token);
        }
        catch (Exception ex) when (ex is NpgsqlException or OperationCanceledException or TimeoutException)
        {
            var where = new NpgsqlConnectionStringBuilder(PostgresAdminConnectionString);
            throw new InvalidOperationException(
                $"PostgreSQL is not reachable at {where.Host}:{where.Port} ({ex.Message}). {HowToStart}", ex);
        }
    }

    private async Task<(string Amqp, string Management)> StartRabbitMqContainerAsync()
    {
        var password = Guid.NewGuid().ToString("N");
        _rabbitContainer = new RabbitMqBuilder("rabbitmq:3.13-management")
            .WithUsername("zfssync-admin")
            .WithPassword(password)
            .WithPortBinding(15672, true)
            .Build();
        await _rabbitContainer.StartAsync();
        var host = _rabbitContainer.Hostname;
        var amqp = $"amqp://zfssync-admin:{password}@{host}:{_rabbitContainer.GetMappedPublicPort(5672)}/";
        var management = $"http://{host}:{_rabbitContainer.GetMappedPublicPort(15672)}/";
        return (amqp, management);
    }

    private async Task<string> StartPostgresContainerAsync()
    {
        _postgresContainer = new PostgreSqlBuilder("postgres:16-alpine").Build();
        await _postgresContainer.StartAsync();
        var builder = new NpgsqlConnectionStringBuilder(_postgresContainer.GetConnectionString()) { Database = "postgres" };
        return builder.ConnectionString;
    }
}
