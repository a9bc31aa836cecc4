using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using ZfsSync.Contracts;
using ZfsSync.Hosting;
using ZfsSync.Reporter.Hosting;
using ZfsSync.Reporter.Publishing;
using ZfsSync.Reporter.Tests.Support;

namespace ZfsSync.Reporter.Tests;

public class When_the_configuration_is_invalid
{
    private static async Task<string> StartFailure(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddReporter();
        using var host = builder.Build();
        var error = await Should.ThrowAsync<Exception>(() => host.StartAsync(Bounded.Token()));
        var failures = error is AggregateException aggregate ? aggregate.InnerExceptions : [error];
        return string.Join("\n", failures.Cast<OptionsValidationException>().SelectMany(e => e.Failures));
    }

    [Fact]
    public async Task Should_refuse_to_start_naming_each_missing_key()
    {
        var failures = await StartFailure(new Dictionary<string, string?>());

        failures.ShouldContain("Reporter:HostId is required");
        failures.ShouldContain("Reporter:Roots must list at least one dataset");
    }

    [Fact]
    public async Task Should_name_the_broker_keys_too()
    {
        var failures = await StartFailure(new Dictionary<string, string?>
        {
            ["Reporter:HostId"] = "nas1",
            ["Reporter:Roots:0"] = "tank",
            ["RabbitMq:Uri"] = "amqp://guest:guest@localhost/",
        });

        failures.ShouldContain("RabbitMq:Uri must not contain credentials");
        failures.ShouldContain("RabbitMq:User is required");
        failures.ShouldContain("RabbitMq:Password is required");
    }

    [Fact]
    public async Task Should_name_bad_values()
    {
        var failures = await StartFailure(new Dictionary<string, string?>
        {
            ["Reporter:HostId"] = "NAS 1",
            ["Reporter:Roots:0"] = "tank@snap",
            ["Reporter:ReportInterval"] = "00:00:00",
            ["Reporter:MaxMessageBytes"] = "10",
            ["RabbitMq:Uri"] = "http://localhost/",
            ["RabbitMq:User"] = "nas1",
            ["RabbitMq:Password"] = "secret",
        });

        failures.ShouldContain("Reporter:HostId must match");
        failures.ShouldContain("Reporter:Roots:0 'tank@snap' is not a ZFS filesystem or volume name");
        failures.ShouldContain("Reporter:ReportInterval must be a positive duration");
        failures.ShouldContain("Reporter:MaxMessageBytes must be between");
        failures.ShouldContain("RabbitMq:Uri must be an absolute amqp:// or amqps:// URI");
        failures.ShouldNotContain("secret");
    }
}

[Collection(nameof(EnvironmentVariableCollection))]
public class When_configuration_comes_from_the_environment
{
    [Fact]
    public void Should_let_ZFS_SYNC_variables_override_the_file()
    {
        var directory = Directory.CreateTempSubdirectory("reporter-config-").FullName;
        var file = Path.Combine(directory, "reporter.yaml");
        File.WriteAllText(file, "Reporter:\n  HostId: from-file\n  Roots: [tank, backup]\n  ReportInterval: \"00:05:00\"\nRabbitMq:\n  User: nas1\n");
        Environment.SetEnvironmentVariable("ZFS_SYNC_CONFIG", file);
        Environment.SetEnvironmentVariable("ZFS_SYNC_Reporter__HostId", "from-env");
        try
        {
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.AddReporterConfiguration([]).AddReporterCore();
            using var host = builder.Build();

            var options = host.Services.GetRequiredService<IOptions<ReporterOptions>>().Value;
            options.HostId.ShouldBe("from-env");
            options.Roots.ShouldBe(["tank", "backup"]);
            options.ReportInterval.ShouldBe(TimeSpan.FromMinutes(5));
        }
        finally
        {
            Environment.SetEnvironmentVariable("ZFS_SYNC_CONFIG", null);
            Environment.SetEnvironmentVariable("ZFS_SYNC_Reporter__HostId", null);
            Directory.Delete(directory, recursive: true);
        }
    }
}

[CollectionDefinition(nameof(EnvironmentVariableCollection), DisableParallelization = true)]
public sealed class EnvironmentVariableCollection;

public sealed class When_the_reporter_runs_as_a_service : IDisposable
{
    private readonly FakeZfs _zfs = new();
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero));
    private readonly RecordingPublisher _publisher = new();

    private IHost Build()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Reporter:HostId"] = "nas1",
            ["Reporter:Roots:0"] = "tank",
            ["Reporter:SearchPath"] = _zfs.SearchPath,
            ["Reporter:StateDirectory"] = Path.Combine(_zfs.Directory, "state"),
            ["Reporter:CommandRetries"] = "0",
            ["RabbitMq:Uri"] = "amqp://localhost/",
            ["RabbitMq:User"] = "nas1",
            ["RabbitMq:Password"] = "unused",
        });
        builder.AddReporterCore();
        builder.Services.Replace(ServiceDescriptor.Singleton<TimeProvider>(_clock));
        builder.Services.AddSingleton<IReporterPublisher>(_publisher);
        builder.Services.AddHostedService<ReportWorker>();
        builder.Services.AddHostedService<HeartbeatWorker>();
        return builder.Build();
    }

    [Fact]
    public async Task Should_report_at_start_then_only_changes_and_stop_gracefully()
    {
        using var host = Build();
        await host.StartAsync(Bounded.Token());

        var first = await _publisher.NextAsync<SnapshotInventoryReported>(Bounded.DefaultTimeout);
        first.Datasets.Count.ShouldBe(7);

        _zfs.Serve("list-tank", File.ReadAllText(Path.Combine(_zfs.Directory, "list-tank.txt")) + "tank/new\tfilesystem\t5\t200\t1700009999\t1\t1\n");
        (await Bounded.Until(
            () =>
            {
                _clock.Advance(TimeSpan.FromMinutes(1));
                return _publisher.Reports.Count >= 2;
            },
            Bounded.DefaultTimeout)).ShouldBeTrue();
        var second = _publisher.Reports[1];
        second.Datasets.ShouldContain(d => d.Name == "tank/new");
        second.Sequence.ShouldBeGreaterThan(first.Sequence);

        await host.StopAsync(Bounded.Token());
    }

    [Fact]
    public async Task Should_send_a_heartbeat_with_the_error_as_soon_as_zfs_fails()
    {
        _zfs.SetMode("list-tank", "fail");
        using var host = Build();
        await host.StartAsync(Bounded.Token());

        (await Bounded.Until(() => _publisher.Heartbeats.Any(h => h.ReporterError is not null), Bounded.DefaultTimeout)).ShouldBeTrue();

        _publisher.Heartbeats.First(h => h.ReporterError is not null).ReporterError!.ShouldContain("zfs list tank exited with 1");
        _publisher.Reports.ShouldBeEmpty();
        await host.StopAsync(Bounded.Token());
    }

    public void Dispose() => _zfs.Dispose();
}

public class When_start_up_validation_fails
{
    [Fact]
    public void Should_reduce_the_failures_to_one_line_per_key()
    {
        var error = new AggregateException(
            new Microsoft.Extensions.Options.OptionsValidationException("ReporterOptions", typeof(ReporterOptions), [
                "DataAnnotation validation failed for 'ReporterOptions' members: 'HostId' with the error: 'Reporter:HostId is required'.",
                "Reporter:Roots must list at least one dataset (Reporter:Roots:0=tank)",
            ]));

        StartupErrors.TryGetConfigurationErrors(error, out var errors).ShouldBeTrue();

        errors.ShouldBe(["Reporter:HostId is required", "Reporter:Roots must list at least one dataset (Reporter:Roots:0=tank)"]);
        StartupErrors.TryGetConfigurationErrors(new InvalidOperationException("x"), out _).ShouldBeFalse();
    }
}
