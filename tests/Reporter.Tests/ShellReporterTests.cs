using System.Text;
using CliWrap;
using CliWrap.Buffered;
using ZfsSync.Reporter.Tests.Support;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Core.Validation;

namespace ZfsSync.Reporter.Tests;

/// <summary>reporter/zfssync-report.sh under dash, against the fake zfs, publishing through the management API.</summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class When_the_shell_reporter_runs_under_dash(InfrastructureFixture infrastructure) : IAsyncLifetime, IDisposable
{
    private static readonly string Script = Path.Combine(FakeZfs.FixturesDirectory, "zfssync-report.sh");
    private readonly FakeZfs _zfs = new();
    private TestVhost _vhost = null!;
    private TestBrokerUser _user = null!;
    private BrokerProbe _probe = null!;

    public async Task InitializeAsync()
    {
        _vhost = await infrastructure.CreateVhostAsync(Bounded.Token());
        // As rabbitmq/definitions.json: the "management" tag for the HTTP API, write on its own entry exchange only; the broker checks user_id.
        _user = await _vhost.CreateUserAsDefinedAsync("truenas1", Bounded.Token());
        _probe = await BrokerProbe.StartAsync(_vhost.AmqpUri, _vhost.Broker.AdminUser, _vhost.Broker.AdminPassword, _user.Name, Bounded.Token());
    }

    public async Task DisposeAsync()
    {
        await _probe.DisposeAsync();
        await _vhost.DisposeAsync();
    }

    public void Dispose() => _zfs.Dispose();

    private async Task<BufferedCommandResult> Run(Action<Dictionary<string, string?>>? configure = null)
    {
        var passwordFile = Path.Combine(_zfs.Directory, "rabbitmq.password");
        await File.WriteAllTextAsync(passwordFile, _user.Password);
        var environment = new Dictionary<string, string?>
        {
            ["PATH"] = _zfs.SearchPath,
            ["ZFS_SYNC_Reporter__HostId"] = "truenas1",
            ["ZFS_SYNC_Reporter__Roots"] = "tank,backup",
            ["ZFS_SYNC_Reporter__StateDirectory"] = Path.Combine(_zfs.Directory, "shell-state"),
            ["ZFS_SYNC_RabbitMq__ManagementUri"] = _vhost.Broker.ManagementUri.ToString(),
            ["ZFS_SYNC_RabbitMq__VirtualHost"] = _vhost.Name,
            ["ZFS_SYNC_RabbitMq__User"] = _user.Name,
            ["ZFS_SYNC_RabbitMq__PasswordFile"] = passwordFile,
        };
        configure?.Invoke(environment);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        return await Cli.Wrap("dash")
            .WithArguments([Script])
            .WithEnvironmentVariables(environment)
            .WithValidation(CommandResultValidation.None)
            .ExecuteBufferedAsync(Encoding.UTF8, timeout.Token);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Should_publish_a_report_that_MassTransit_deserializes(bool useJq)
    {
        var result = await Run(env => env["ZFS_SYNC_Reporter__UseJq"] = useJq ? "true" : "false");

        result.ExitCode.ShouldBe(0, result.StandardError);
        var received = await _probe.NextReportAsync();
        received.UserId.ShouldBe(_user.Name);
        received.ContentType.ShouldBe("application/json");
        var report = received.Message;
        InventoryValidator.Validate(report, new InventoryLimits()).ShouldBeNull("the witness's ingest rules accept it");
        report.HostId.ShouldBe("truenas1");
        report.Roots.ShouldBe(["tank", "backup"]);
        report.Part.ShouldBe(1);
        report.PartCount.ShouldBe(1);
        report.ReportId.ShouldNotBe(Guid.Empty);
        (report.Sequence % 1000).ShouldBe(0);
        report.Datasets.Select(d => d.Name).Order(StringComparer.Ordinal).ShouldBe([
            "backup", "backup/nas1", "backup/nas1/zvol",
            "tank", "tank/data", "tank/empty", "tank/my data", "tank/recv", "tank/secret", "tank/vol",
        ]);
        var data = report.Datasets.Single(d => d.Name == "tank/data");
        data.Snapshots.Select(s => s.Name).ShouldBe(["autosnap_2024-01-01_00:00:00_daily", "autosnap_2024-01-02_00:00:00_daily"]);
        data.Snapshots[0].Guid.ShouldBe(17293822569102704640UL);
        data.Snapshots[0].CreateTxg.ShouldBe(100UL);
        data.Snapshots[0].CreatedAt.ShouldBe(new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero));
        data.Snapshots[0].UsedBytes.ShouldBe(1048576);
        data.Bookmarks.Single().Guid.ShouldBe(17293822569102704640UL);
        data.WrittenBytes.ShouldBe(4096);
        report.Datasets.Single(d => d.Name == "tank/secret").Snapshots.Single().Guid.ShouldBe(1UL);
        data.Guid.ShouldBe(11806219520954374925UL, "the dataset's own guid, from its zfs list line");
        report.Datasets.Single(d => d.Name == "tank/secret").Guid.ShouldBe(ulong.MaxValue);
        report.Datasets.Single(d => d.Name == "backup/nas1/zvol").Guid.ShouldBe(202UL);
        report.Datasets.Single(d => d.Name == "tank").ShouldSatisfyAllConditions(d => d.Snapshots.ShouldBeEmpty(), d => d.Bookmarks.ShouldBeEmpty());
        report.Datasets.Single(d => d.Name == "tank/my data").Bookmarks.Single().Name.ShouldBe("old mark");
        report.Datasets.Single(d => d.Name == "tank/vol").Type.ShouldBe("volume");
        report.Datasets.Single(d => d.Name == "tank/secret").KeyStatus.ShouldBe("unavailable");
        report.Datasets.Single(d => d.Name == "tank/recv").ReceiveResumeToken!.ShouldStartWith("1-ef01e717e-e0-");
        report.Datasets.Single(d => d.Name == "tank/empty").ReceiveResumeToken.ShouldBeNull();

        var heartbeat = await _probe.NextHeartbeatAsync();
        heartbeat.UserId.ShouldBe(_user.Name);
        heartbeat.Message.Pools.Select(p => p.Health).ShouldBe(["ONLINE", "DEGRADED"]);
        heartbeat.Message.ZfsVersion.ShouldBe("zfs-2.2.4-1");
        heartbeat.Message.ReporterError.ShouldBeNull();
    }

    [Fact]
    public async Task Should_keep_the_sequence_above_the_state_file()
    {
        var state = Path.Combine(_zfs.Directory, "shell-state");
        Directory.CreateDirectory(state);
        var future = DateTimeOffset.UtcNow.AddYears(1).ToUnixTimeMilliseconds();
        await File.WriteAllTextAsync(Path.Combine(state, "sequence"), future + "\n");

        (await Run()).ExitCode.ShouldBe(0);

        (await _probe.NextReportAsync()).Message.Sequence.ShouldBe(future + 1);
        (await File.ReadAllTextAsync(Path.Combine(state, "sequence"))).Trim().ShouldBe((future + 1).ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Theory]
    [InlineData("get-backup", "fail", "zfs get backup failed: cannot open 'backup': I/O error")]
    [InlineData("list-tank", "garbage", "zfs list tank printed unexpected output: line 1")]
    public async Task Should_exit_3_naming_the_command_and_publish_only_a_heartbeat_with_the_error(string command, string mode, string message)
    {
        _zfs.SetMode(command, mode);

        var result = await Run();

        result.ExitCode.ShouldBe(3);
        result.StandardError.ShouldContain(message);
        result.StandardError.ShouldNotContain("published report");
        var heartbeat = await _probe.NextHeartbeatAsync();
        heartbeat.Message.ReporterError.ShouldNotBeNull().ShouldContain(message);
        // The heartbeat went out after the point where a report would have: none was published.
        await Should.ThrowAsync<OperationCanceledException>(() => _probe.NextReportAsync(timeout: TimeSpan.FromMilliseconds(1)));
    }

    [Fact]
    public async Task Should_exit_2_without_a_password_and_5_when_the_broker_refuses_it()
    {
        var result = await Run(env => env["ZFS_SYNC_RabbitMq__PasswordFile"] = null);

        result.ExitCode.ShouldBe(2);
        result.StandardError.ShouldContain("ZFS_SYNC_RabbitMq__Password or ZFS_SYNC_RabbitMq__PasswordFile is required");

        var wrong = await Run(env =>
        {
            env["ZFS_SYNC_RabbitMq__PasswordFile"] = null;
            env["ZFS_SYNC_RabbitMq__Password"] = "wrong-password";
        });

        wrong.ExitCode.ShouldBe(5);
        wrong.StandardError.ShouldContain("was refused (HTTP 401)");
        wrong.StandardError.ShouldNotContain("wrong-password");
    }
}
