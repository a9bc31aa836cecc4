using System.Text;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Worker.Hosting;
using ZfsSync.Witness.Worker.Persistence;

namespace ZfsSync.Cli.Tests;

/// <summary>
/// A running witness (built with <c>AddWitness</c>) on a test vhost and PostgreSQL database, broker users with exactly
/// the permissions rabbitmq/definitions.json gives operator1, executor-backup1 and nas1, an administrator's bus that reports
/// as the hosts would, and <see cref="RunAsync"/>, which runs <c>zfssync</c> in-process as one of the users.
/// </summary>
public sealed class CliWorld : IAsyncDisposable
{
    public const string Group = "critical";
    private static long _sequence = 1_764_000_000_000;
    private readonly string _home = Directory.CreateTempSubdirectory("zfssync-cli-").FullName;

    private CliWorld(TestVhost vhost, TestDatabase database, IHost witness, IBusControl bus, TestBrokerUser op, TestBrokerUser viewer, TestBrokerUser executor, TestBrokerUser reporter)
    {
        Vhost = vhost;
        Database = database;
        Witness = witness;
        Bus = bus;
        Operator = op;
        Viewer = viewer;
        Executor = executor;
        Reporter = reporter;
    }

    public TestVhost Vhost { get; }
    public TestDatabase Database { get; }
    public IHost Witness { get; }
    public IBusControl Bus { get; }

    /// <summary>Listed under the witness's <c>Operators</c>: may decide.</summary>
    public TestBrokerUser Operator { get; }

    /// <summary>Listed only under <c>ClientTopology:Operators</c>: may ask, not decide.</summary>
    public TestBrokerUser Viewer { get; }

    public TestBrokerUser Executor { get; }
    public TestBrokerUser Reporter { get; }

    public string Home => _home;

    public static async Task<CliWorld> CreateAsync(InfrastructureFixture infrastructure, int extraGroups = 0)
    {
        ArgumentNullException.ThrowIfNull(infrastructure);
        var vhost = await infrastructure.CreateVhostAsync();
        var database = await infrastructure.CreateDatabaseAsync();
        var op = await vhost.CreateUserAsDefinedAsync("operator1");
        // A second operator tool with operator1's permissions under its own name (CreateUserAsDefinedAsync names users by the definitions' name).
        var viewer = await vhost.CreateUserAsync("viewer");
        var (configure, write, read) = BrokerDefinitions.Load().PermissionsOf("operator1", viewer.Name);
        await vhost.Broker.SetPermissionsAsync(vhost.Name, viewer.Name, configure, write, read);
        var executor = await vhost.CreateUserAsDefinedAsync("executor-backup1");
        var reporter = await vhost.CreateUserAsDefinedAsync("nas1");
        var settings = ClientSideWitness.Settings(vhost, database, op.Name);
        settings["Liveness:SweepInterval"] = "00:00:01";
        settings["ClientTopology:Operators:0"] = viewer.Name;
        settings["ClientTopology:Executors:0"] = executor.Name;
        for (var g = 0; g <= extraGroups; g++)
        {
            ClientSideWitness.AddGroup(settings, g, g == 0 ? Group : $"bulk-{g:D4}", g == 0 ? ("tank/d0", "backup/d0") : ($"tank/bulk{g}", $"backup/bulk{g}"));
        }

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, ContentRootPath = Path.GetTempPath() });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.AddFilter("MassTransit", LogLevel.Warning);
        builder.AddWitness();
        var witness = builder.Build();
        await witness.StartAsync();

        var bus = await ClientSideWitness.StartAdminBusAsync(vhost);
        return new CliWorld(vhost, database, witness, bus, op, viewer, executor, reporter);
    }

    public WitnessDbContext CreateContext()
    {
        var options = new DbContextOptionsBuilder<WitnessDbContext>();
        WitnessHostingExtensions.ConfigureProvider(options, new DatabaseOptions { Provider = DatabaseProvider.PostgreSql, ConnectionString = Database.ConnectionString }, Path.GetTempPath());
        return new WitnessDbContext(options.Options);
    }

    public static SnapshotInfo Snap(int n, int txgBase = 100) => new()
    {
        Name = $"auto-{n}",
        Guid = (ulong)(10_000 + n),
        CreateTxg = (ulong)(txgBase + n),
        CreatedAt = DateTimeOffset.UtcNow.AddHours(-10 + n),
        UsedBytes = 4096,
        ReferencedBytes = 1 << 20,
    };

    public static SnapshotInventoryReported Report(string hostId, params DatasetInventory[] datasets) => new()
    {
        HostId = hostId,
        ReportId = Guid.NewGuid(),
        Sequence = Interlocked.Increment(ref _sequence),
        CapturedAt = DateTimeOffset.UtcNow,
        Roots = [.. datasets.Select(d => d.Name.Split('/')[0]).Distinct()],
        Datasets = datasets,
    };

    public static DatasetInventory Dataset(string name, params SnapshotInfo[] snapshots) => new() { Name = name, Encryption = "off", WrittenBytes = 0, Snapshots = snapshots };

    public async Task HeartbeatsAsync()
    {
        foreach (var host in new[] { "nas1", "backup1" })
        {
            await Bus.Publish(new Heartbeat { HostId = host, SentAt = DateTimeOffset.UtcNow, IntervalSeconds = 3600, AgentVersion = "test", Os = "linux", Pools = [new PoolHealth { Name = "tank", Health = "ONLINE" }] });
        }

        await Poll.UntilAsync(async () =>
        {
            await using var db = CreateContext();
            return await db.Hosts.CountAsync(h => h.Status == HostStatus.Online) == 2;
        }, "both hosts online");
    }

    /// <summary>nas1 holds auto-1..2 of tank/d0; backup1 holds auto-1 and a snapshot of its own: diverged.</summary>
    public async Task<ConflictRecord> DivergeAsync()
    {
        await Bus.Publish(Report("nas1", Dataset("tank"), Dataset("tank/d0", Snap(1), Snap(2))));
        await Bus.Publish(Report("backup1", Dataset("backup"), Dataset("backup/d0", Snap(1, 5000), new SnapshotInfo { Name = "local", Guid = 77_777, CreateTxg = 6000, CreatedAt = DateTimeOffset.UtcNow, UsedBytes = 1 })));
        ConflictRecord? conflict = null;
        await Poll.UntilAsync(async () =>
        {
            await using var db = CreateContext();
            conflict = await db.Set<ConflictRecord>().AsNoTracking().FirstOrDefaultAsync(c => c.SyncGroup == Group && c.ClearedAt == null && c.Resolution == null);
            return conflict is not null;
        }, "the diverged conflict", TimeSpan.FromSeconds(60));
        return conflict!;
    }

    public async Task<ConflictRecord> ConflictAsync(Guid id)
    {
        await using var db = CreateContext();
        return await db.Set<ConflictRecord>().AsNoTracking().SingleAsync(c => c.ConflictId == id);
    }

    /// <summary>The environment of a CLI run as <paramref name="user"/>: URI and user from ZFS_SYNC_ variables, the password too unless <paramref name="password"/> is false.</summary>
    public Dictionary<string, string> EnvironmentOf(TestBrokerUser user, bool password = true)
    {
        ArgumentNullException.ThrowIfNull(user);
        var variables = new Dictionary<string, string>
        {
            ["HOME"] = _home,
            ["USER"] = "tester",
            ["ZFS_SYNC_RabbitMq__Uri"] = new UriBuilder(Vhost.AmqpUri) { UserName = "", Password = "" }.Uri.ToString(),
            ["ZFS_SYNC_RabbitMq__User"] = user.Name,
            ["ZFS_SYNC_RabbitMq__WitnessUser"] = Vhost.Broker.AdminUser,
            ["ZFS_SYNC_RabbitMq__RequestTimeout"] = "00:00:20",
        };
        if (password)
        {
            variables["ZFS_SYNC_RabbitMq__Password"] = user.Password;
        }

        return variables;
    }

    public Task<CliRun> RunAsync(TestBrokerUser user, params string[] args) => RunAsync(EnvironmentOf(user), args);

    public static async Task<CliRun> RunAsync(IReadOnlyDictionary<string, string> variables, string[] args, bool terminal = false, string stdin = "", StringWriter? output = null, StringWriter? error = null)
    {
        output ??= new StringWriter();
        error ??= new StringWriter();
        var code = await CliApp.RunAsync(args, new CliEnvironment
        {
            Variables = variables,
            Input = new StringReader(stdin),
            Output = TextWriter.Synchronized(output),
            Error = TextWriter.Synchronized(error),
            Terminal = terminal,
        });
        return new CliRun(code, output.ToString(), error.ToString());
    }

    public async ValueTask DisposeAsync()
    {
        await Bus.StopAsync();
        await Witness.StopAsync(TimeSpan.FromSeconds(30));
        Witness.Dispose();
        await Database.DisposeAsync();
        await Vhost.DisposeAsync();
        Directory.Delete(_home, recursive: true);
    }
}

public sealed record CliRun(int ExitCode, string Output, string Error)
{
    public override string ToString() => new StringBuilder().Append("exit ").Append(ExitCode).Append("\nstdout:\n").Append(Output).Append("\nstderr:\n").Append(Error).ToString();
}
