using System.Text;
using CliWrap;
using CliWrap.Buffered;
using Microsoft.EntityFrameworkCore;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Worker.Persistence;
using ZfsSync.Witness.Worker.Tests.Support;

namespace ZfsSync.Witness.Worker.Tests.Ingest;

/// <summary>
/// End to end for hosts without .NET: reporter/zfssync-report.sh under dash, its zfs the demo's fake, publishing raw
/// JSON through the management API as the host's own broker user; the running witness must accept and store it.
/// </summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class When_the_shell_reporter_reports_to_a_running_witness(InfrastructureFixture infrastructure) : IAsyncLifetime
{
    private static readonly string RepositoryRoot = FindRepositoryRoot();
    private readonly string _state = Directory.CreateTempSubdirectory("zfssync-shell-e2e-").FullName;
    private TestVhost _vhost = null!;
    private WitnessTestDatabase _database = null!;
    private TestBrokerUser _user = null!;
    private WitnessHost _witness = null!;

    public async Task InitializeAsync()
    {
        _vhost = await infrastructure.CreateVhostAsync();
        _database = await WitnessTestDatabase.CreateAsync(infrastructure, "postgresql");
        _user = await _vhost.CreateUserAsDefinedAsync("truenas1"); // exactly the permissions of rabbitmq/definitions.json
        _witness = await WitnessHost.StartAsync(_vhost, _database, new Dictionary<string, string?>
        {
            ["Hosts:0:Id"] = "nas1",
            ["Hosts:0:Os"] = "freebsd",
            ["Hosts:0:ReportsAs"] = _user.Name,
        });
    }

    public async Task DisposeAsync()
    {
        await _witness.DisposeAsync();
        await _database.DisposeAsync();
        await _vhost.DisposeAsync();
        Directory.Delete(_state, recursive: true);
    }

    private static string FindRepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "ZfsSync.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("ZfsSync.sln not found above " + AppContext.BaseDirectory);
    }

    private async Task<BufferedCommandResult> RunReporterAsync(bool useJq)
    {
        var passwordFile = Path.Combine(_state, "password");
        await File.WriteAllTextAsync(passwordFile, _user.Password);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        return await Cli.Wrap("dash")
            .WithArguments([Path.Combine(RepositoryRoot, "reporter", "zfssync-report.sh")])
            .WithEnvironmentVariables(new Dictionary<string, string?>
            {
                ["DEMO_HOST"] = "nas1",
                ["DEMO_STATE"] = Path.Combine(_state, "zfs"),
                ["ZFS_SYNC_Reporter__HostId"] = "nas1",
                ["ZFS_SYNC_Reporter__Roots"] = "tank",
                ["ZFS_SYNC_Reporter__ZfsPath"] = Path.Combine(RepositoryRoot, "demo", "fake-zfs.sh"),
                ["ZFS_SYNC_Reporter__ZpoolPath"] = Path.Combine(RepositoryRoot, "demo", "fake-zpool.sh"),
                ["ZFS_SYNC_Reporter__StateDirectory"] = Path.Combine(_state, "reporter"),
                ["ZFS_SYNC_Reporter__UseJq"] = useJq ? "true" : "false",
                ["ZFS_SYNC_RabbitMq__ManagementUri"] = _vhost.Broker.ManagementUri.ToString(),
                ["ZFS_SYNC_RabbitMq__VirtualHost"] = _vhost.Name,
                ["ZFS_SYNC_RabbitMq__User"] = _user.Name,
                ["ZFS_SYNC_RabbitMq__PasswordFile"] = passwordFile,
            })
            .WithValidation(CommandResultValidation.None)
            .ExecuteBufferedAsync(Encoding.UTF8, timeout.Token);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Should_have_its_report_applied_and_its_heartbeat_recorded(bool useJq)
    {
        var result = await RunReporterAsync(useJq);
        result.ExitCode.ShouldBe(0, result.StandardError);

        ProcessedReport? processed = null;
        await Poll.UntilAsync(
            async () =>
            {
                await using var db = _database.CreateContext();
                processed = await db.ProcessedReports.AsNoTracking().SingleOrDefaultAsync();
                return processed is not null;
            },
            "the shell reporter's report to be applied");
        // tank and tank/data, and the three snapshots the fake nas1 has at first.
        (processed!.Outcome, processed.RowsInserted, processed.RowsUpdated, processed.RowsDeleted).ShouldBe((ReportOutcomes.Applied, 5, 0, 0));

        await using var db = _database.CreateContext();
        (await db.Snapshots.OrderBy(s => s.CreateTxg).Select(s => s.Name).ToListAsync()).ShouldBe(["demo-001", "demo-002", "demo-003"]);
        await Poll.UntilAsync(
            async () =>
            {
                await using var poll = _database.CreateContext();
                return (await poll.Hosts.AsNoTracking().SingleAsync()).LastSeenAt is not null;
            },
            "the heartbeat");
        var host = await db.Hosts.AsNoTracking().SingleAsync();
        host.Pools.ShouldBe("tank=ONLINE");
        host.ZfsVersion.ShouldNotBeNull().ShouldStartWith("zfs-2.2.6");
    }
}
