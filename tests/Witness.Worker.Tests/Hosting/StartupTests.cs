using System.Diagnostics;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ZfsSync.Reporter.Hosting;
using ZfsSync.Witness.Worker.Hosting;

namespace ZfsSync.Witness.Worker.Tests.Hosting;

/// <summary>Both programs, as processes: a bad configuration prints one escaped line per bad key and exits 2, no stack trace.</summary>
public sealed class When_a_program_starts_with_a_bad_configuration : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("zfssync-startup-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    /// <summary>
    /// The program's own build output of the same configuration (tests/X/bin/Release/net10.0 → src/P/bin/Release/net10.0):
    /// run from this test's output a program would use this project's dependency list, not its own (the witness's ASP.NET
    /// Core framework reference leaves out assemblies the reporter needs).
    /// </summary>
    private static string ProgramDll(string assembly)
    {
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/'));
        var configuration = output.Parent!.Name;
        var repository = output.Parent.Parent!.Parent!.Parent!.Parent!.FullName;
        var project = assembly switch
        {
            "ZfsSync.Reporter.dll" => "Reporter",
            "ZfsSync.Witness.Worker.dll" => "Witness.Worker",
            _ => throw new ArgumentOutOfRangeException(nameof(assembly), assembly, "not a program of this repository"),
        };
        var dll = Path.Combine(repository, "src", project, "bin", configuration, output.Name, assembly);
        File.Exists(dll).ShouldBeTrue($"{dll} is built (this test project references {project})");
        return dll;
    }

    private async Task<(int ExitCode, string[] Errors, string Output)> RunAsync(string assembly, Dictionary<string, string> environment)
    {
        var start = new ProcessStartInfo("dotnet", [ProgramDll(assembly)])
        {
            WorkingDirectory = _directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("ZFS_SYNC_", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(key);
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, (await error).Split('\n', StringSplitOptions.RemoveEmptyEntries), await output);
    }

    [Fact]
    public async Task Should_have_the_witness_print_one_line_per_bad_key_and_exit_2()
    {
        var (exitCode, errors, output) = await RunAsync("ZfsSync.Witness.Worker.dll", new()
        {
            ["ZFS_SYNC_Database__DataDirectory"] = _directory,
            ["ZFS_SYNC_Hosts__0__Id"] = "Bad\nHost",
            ["ZFS_SYNC_Hosts__0__Os"] = "solaris",
            ["ZFS_SYNC_ClientTopology__Executors__0"] = "runner one",
        });

        exitCode.ShouldBe(2, string.Join('\n', errors) + output);
        errors.ShouldAllBe(line => line.StartsWith("zfssync-witness: invalid configuration: ", StringComparison.Ordinal));
        errors.Length.ShouldBe(3, string.Join('\n', errors));
        errors.ShouldContain(line => line.Contains("Hosts:0:Id: \"Bad\\u000aHost\"", StringComparison.Ordinal));
        errors.ShouldContain(line => line.Contains("Hosts:0:Os:", StringComparison.Ordinal));
        errors.ShouldContain(line => line.Contains("ClientTopology:Executors:0:", StringComparison.Ordinal));
        (string.Join('\n', errors) + output).ShouldNotContain("   at ");
    }

    [Fact]
    public async Task Should_have_the_witness_refuse_a_history_retention_that_is_not_positive_in_one_line()
    {
        var (exitCode, errors, output) = await RunAsync("ZfsSync.Witness.Worker.dll", new()
        {
            ["ZFS_SYNC_Database__DataDirectory"] = _directory,
            ["ZFS_SYNC_History__Retention"] = "00:00:00",
        });

        exitCode.ShouldBe(2, string.Join('\n', errors) + output);
        errors.ShouldBe(["zfssync-witness: invalid configuration: History:Retention: must be positive"]);
    }

    [Fact]
    public async Task Should_have_the_witness_refuse_a_relay_group_without_a_declared_relay_host_and_a_bad_executor_user()
    {
        var (exitCode, errors, output) = await RunAsync("ZfsSync.Witness.Worker.dll", new()
        {
            ["ZFS_SYNC_Database__DataDirectory"] = _directory,
            ["ZFS_SYNC_Hosts__0__Id"] = "nas1",
            ["ZFS_SYNC_Hosts__0__Executor"] = "executor nas1",
            ["ZFS_SYNC_Hosts__1__Id"] = "backup1",
            ["ZFS_SYNC_SyncGroups__0__Name"] = "g",
            ["ZFS_SYNC_SyncGroups__0__Source"] = "nas1",
            ["ZFS_SYNC_SyncGroups__0__Members__0"] = "nas1",
            ["ZFS_SYNC_SyncGroups__0__Members__1"] = "backup1",
            ["ZFS_SYNC_SyncGroups__0__Datasets__0__Path"] = "tank/data",
            ["ZFS_SYNC_SyncGroups__0__Execution"] = "Relay",
            ["ZFS_SYNC_SyncGroups__0__RelayHost"] = "relay1",
        });

        exitCode.ShouldBe(2, string.Join('\n', errors) + output);
        errors.ShouldBe(
            [
                "zfssync-witness: invalid configuration: Hosts:0:Executor: \"executor nas1\" is not a broker user name we accept ([A-Za-z0-9][A-Za-z0-9._@-]{0,127}); leave it out or name the host's executor user",
                "zfssync-witness: invalid configuration: SyncGroups:0:RelayHost: \"relay1\" is not declared under Hosts",
            ],
            ignoreOrder: true);
    }

    [Fact]
    public async Task Should_have_the_witness_name_a_value_of_the_wrong_type()
    {
        var (exitCode, errors, output) = await RunAsync("ZfsSync.Witness.Worker.dll", new()
        {
            ["ZFS_SYNC_Database__DataDirectory"] = _directory,
            ["ZFS_SYNC_Liveness__SweepInterval"] = "soon",
        });

        exitCode.ShouldBe(2, string.Join('\n', errors) + output);
        errors.ShouldBe(["zfssync-witness: invalid configuration: Liveness:SweepInterval: \"soon\" is not a valid duration (hh:mm:ss)"]);
    }

    [Fact]
    public async Task Should_have_both_programs_refuse_a_cluster_node_that_is_not_host_and_port()
    {
        var (witnessExit, witnessErrors, witnessOutput) = await RunAsync("ZfsSync.Witness.Worker.dll", new()
        {
            ["ZFS_SYNC_Database__DataDirectory"] = _directory,
            ["ZFS_SYNC_RabbitMq__ClusterNodes__0"] = "127.0.0.1:5672",
            ["ZFS_SYNC_RabbitMq__ClusterNodes__1"] = "rabbit2\u001b[2J:0",
        });
        var (reporterExit, reporterErrors, reporterOutput) = await RunAsync("ZfsSync.Reporter.dll", new()
        {
            ["ZFS_SYNC_Reporter__HostId"] = "nas1",
            ["ZFS_SYNC_Reporter__Roots__0"] = "tank",
            ["ZFS_SYNC_RabbitMq__Uri"] = "amqp://127.0.0.1:1/",
            ["ZFS_SYNC_RabbitMq__User"] = "nas1",
            ["ZFS_SYNC_RabbitMq__Password"] = "x",
            ["ZFS_SYNC_RabbitMq__ClusterNodes__0"] = "rabbit1",
        });

        witnessExit.ShouldBe(2, string.Join('\n', witnessErrors) + witnessOutput);
        witnessErrors.ShouldBe(["zfssync-witness: invalid configuration: RabbitMq:ClusterNodes:1: \"rabbit2\\u001b[2J:0\" is not host:port (a host name or IPv4 address, a port 1-65535)"]);
        reporterExit.ShouldBe(2, string.Join('\n', reporterErrors) + reporterOutput);
        reporterErrors.ShouldBe(["zfssync-reporter: invalid configuration: RabbitMq:ClusterNodes:0: \"rabbit1\" is not host:port (a host name or IPv4 address, a port 1-65535)"]);
    }

    [Fact]
    public async Task Should_have_the_reporter_print_one_line_per_bad_key_and_exit_2()
    {
        var (exitCode, errors, output) = await RunAsync("ZfsSync.Reporter.dll", new()
        {
            ["ZFS_SYNC_Reporter__HostId"] = "NAS 1",
            ["ZFS_SYNC_Reporter__Roots__0"] = "tank",
            ["ZFS_SYNC_RabbitMq__Uri"] = "amqp://127.0.0.1:1/",
            ["ZFS_SYNC_RabbitMq__User"] = "nas1",
        });

        exitCode.ShouldBe(2, string.Join('\n', errors) + output);
        errors.ShouldAllBe(line => line.StartsWith("zfssync-reporter: invalid configuration: ", StringComparison.Ordinal));
        errors.ShouldContain(line => line.Contains("Reporter:HostId", StringComparison.Ordinal));
        errors.ShouldContain(line => line.Contains("RabbitMq:Password", StringComparison.Ordinal));
        errors.Length.ShouldBe(2, string.Join('\n', errors));
    }
}

/// <summary>MassTransit's usage telemetry (it reports to the internet) is off in both programs unless switched on.</summary>
public sealed class When_the_programs_configure_MassTransit
{
    private static bool TelemetryEnabled(Action<IHostApplicationBuilder> add, Dictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings);
        add(builder);
        using var host = builder.Build();
        return host.Services.GetRequiredService<IOptions<UsageTelemetryOptions>>().Value.Enabled;
    }

    [Theory]
    [InlineData(null, false)]
    [InlineData("false", false)]
    [InlineData("true", true)]
    public void Should_keep_usage_telemetry_off_unless_MassTransit_UsageTelemetry_is_true(string? setting, bool expected)
    {
        var settings = new Dictionary<string, string?> { ["MassTransit:UsageTelemetry"] = setting, ["Database:DataDirectory"] = Path.GetTempPath() };
        TelemetryEnabled(b => b.AddWitness(), settings).ShouldBe(expected, "witness");
        TelemetryEnabled(b => b.AddReporter(), settings).ShouldBe(expected, "reporter");
    }
}

/// <summary>
/// A background service that fails stops the host: the program must say so and exit non-zero (systemd's
/// <c>Restart=on-failure</c> restarts only a failure), and the host's critical log entry with the exception is kept.
/// </summary>
public sealed class When_a_background_service_of_a_program_fails
{
    private sealed class Failing : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            await Task.Yield();
            throw new InvalidOperationException("sweep\nfailed");
        }
    }

    /// <summary>Every log entry of the host: level, category, exception.</summary>
    private sealed class Entries : ILoggerProvider
    {
        public System.Collections.Concurrent.ConcurrentQueue<(LogLevel Level, string Category, Exception? Exception)> Logged { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void Dispose()
        {
        }

        private sealed class Logger(Entries entries, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                entries.Logged.Enqueue((logLevel, category, exception));
        }
    }

    [Fact]
    public async Task Should_exit_1_with_one_line_naming_the_service_and_keep_the_host_s_critical_entry()
    {
        var entries = new Entries();
        using var error = new StringWriter();

        var exitCode = await ZfsSync.Hosting.ProgramStartup.RunAsync("zfssync-test", () =>
        {
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Logging.AddProvider(entries);
            builder.Services.AddHostedService<Failing>();
            return builder;
        }, error);

        exitCode.ShouldBe(ZfsSync.Hosting.ProgramStartup.BackgroundServiceFailed);
        error.ToString().Trim().ShouldBe("zfssync-test: Failing failed, the program stopped: InvalidOperationException: sweep\\u000afailed");
        entries.Logged.ShouldContain(e => e.Level == LogLevel.Critical && e.Exception is InvalidOperationException);
        entries.Logged.ShouldNotContain(e => e.Category == "Microsoft.Extensions.Hosting.Internal.Host" && e.Level == LogLevel.Error);
    }
}
