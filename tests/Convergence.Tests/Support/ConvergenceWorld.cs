using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;
using ZfsSync.ZfsEmulator;

namespace ZfsSync.Convergence.Tests.Support;

/// <summary>An emulated host as the witness is told about it (ssh values may be hostile on purpose).</summary>
public sealed record EmulatedHost(string Id, string Pool)
{
    /// <summary>The ssh destination host: the emulated host's directory name.</summary>
    public string SshHost { get; init; } = Id;
    public string? SshUser { get; init; } = "zfssync";
    public int? SshPort { get; init; }
    public string? IdentityFile { get; init; }
    public bool Sudo { get; init; }
}

/// <summary>What the test executor saw and did.</summary>
public sealed class ExecutorLog
{
    public ConcurrentQueue<SyncInstructionIssued> Issued { get; } = new();
    public ConcurrentQueue<(SyncInstructionIssued Instruction, int Exit, string Stderr)> Runs { get; } = new();
    public ConcurrentQueue<SyncConflictDetected> Conflicts { get; } = new();
    public ConcurrentQueue<InventoryRejected> Rejections { get; } = new();

    /// <summary>When set, instructions are recorded but not run (a scenario that changes the fleet between steps).</summary>
    public bool Paused { get; set; }
}

/// <summary>
/// The test executor: runs each instruction's <c>relay</c> command line with <c>/bin/sh -c</c> (so ssh, sudo, mbuffer and
/// pv are the stand-ins and the Debian programs on PATH) and publishes its outcome, as an executor would. Every emulated
/// command it causes carries <c>ZFSEMU_CONTEXT=instructionId/attempt</c> in the emulator's log.
/// </summary>
public sealed class TestExecutor(ExecutorLog log, ConvergenceWorld world) :
    IConsumer<SyncInstructionIssued>,
    IConsumer<SyncConflictDetected>,
    IConsumer<InventoryRejected>
{
    public async Task Consume(ConsumeContext<SyncInstructionIssued> context)
    {
        var instruction = context.Message;
        log.Issued.Enqueue(instruction);
        if (log.Paused)
        {
            return;
        }

        var (exit, stderr) = await world.RunShellAsync(instruction.Commands.Relay, $"{instruction.InstructionId}/{instruction.Attempt}");
        log.Runs.Enqueue((instruction, exit, stderr));
        if (exit == 0)
        {
            await context.Publish(new SyncInstructionCompleted
            {
                InstructionId = instruction.InstructionId,
                Attempt = instruction.Attempt,
                SyncGroup = instruction.SyncGroup,
                ExecutedBy = "test-executor",
                CompletedAt = DateTimeOffset.UtcNow,
            });
        }
        else
        {
            await context.Publish(new SyncInstructionFailed
            {
                InstructionId = instruction.InstructionId,
                Attempt = instruction.Attempt,
                SyncGroup = instruction.SyncGroup,
                ExecutedBy = "test-executor",
                FailedAt = DateTimeOffset.UtcNow,
                ExitCode = exit,
                Error = stderr.Length > 2000 ? stderr[..2000] : stderr,
            });
        }
    }

    public Task Consume(ConsumeContext<SyncConflictDetected> context)
    {
        log.Conflicts.Enqueue(context.Message);
        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<InventoryRejected> context)
    {
        log.Rejections.Enqueue(context.Message);
        return Task.CompletedTask;
    }
}

/// <summary>
/// A fleet of emulated hosts with a witness process, one reporter process per host (their <c>zfs</c> is the emulator),
/// and this test process as executor and operator, on a test vhost and a test PostgreSQL database.
/// </summary>
public sealed class ConvergenceWorld : IAsyncDisposable
{
    public const string Group = "emu-group";
    private readonly List<(string Name, Process Process)> _processes = [];
    private readonly InfrastructureFixture _infrastructure;
    private IHost? _client;

    private ConvergenceWorld(InfrastructureFixture infrastructure, TestVhost vhost, TestDatabase database)
    {
        _infrastructure = infrastructure;
        Vhost = vhost;
        Database = database;
        Root = Directory.CreateTempSubdirectory("zfssync-convergence-").FullName;
        Directory.CreateDirectory(Path.Combine(Root, "fleet"));
        Fleet = new FleetStore(Path.Combine(Root, "fleet"));
        StandIns = Path.Combine(AppContext.BaseDirectory, "stand-ins");
        foreach (var tool in new[] { "zfs", "zpool", "ssh", "sudo" })
        {
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(Path.Combine(StandIns, tool), (UnixFileMode)0b111_101_101);
            }
        }
    }

    public TestVhost Vhost { get; }
    public TestDatabase Database { get; }
    public string Root { get; }
    public FleetStore Fleet { get; }
    public string StandIns { get; }
    public string ZfsPath => Path.Combine(StandIns, "zfs");
    public ExecutorLog Executor { get; } = new();
    public List<EmulatedHost> Hosts { get; } = [];

    /// <summary>The witness's sync group and other settings (configuration keys below the root), set by the scenario.</summary>
    public Dictionary<string, string?> Settings { get; } = new(StringComparer.Ordinal);

    public IBus Bus => _client!.Services.GetRequiredService<IBus>();

    public static async Task<ConvergenceWorld> CreateAsync(InfrastructureFixture infrastructure)
    {
        ArgumentNullException.ThrowIfNull(infrastructure);
        var world = new ConvergenceWorld(infrastructure, await infrastructure.CreateVhostAsync(), await infrastructure.CreateDatabaseAsync());
        await world.StartClientAsync();
        return world;
    }

    public EmulatedHost AddHost(EmulatedHost host)
    {
        ArgumentNullException.ThrowIfNull(host);
        Fleet.AddHost(host.SshHost, host.Pool);
        Hosts.Add(host);
        return host;
    }

    /// <summary>Runs the emulated zfs on a host in this process (setting up the fleet), failing the test on an error.</summary>
    public string Zfs(string host, params string[] args)
    {
        var sshHost = Hosts.Single(h => h.Id == host).SshHost;
        using var input = new MemoryStream();
        using var output = new MemoryStream();
        using var error = new StringWriter(CultureInfo.InvariantCulture);
        var exit = new ZfsCommand(Fleet, sshHost).Run(args, input, output, error);
        exit.ShouldBe(0, $"zfs {string.Join(' ', args)} on {host}: {error}");
        return Encoding.UTF8.GetString(output.ToArray());
    }

    public HostState State(string host) => Fleet.Read(Hosts.Single(h => h.Id == host).SshHost);

    /// <summary>A primary group: <paramref name="source"/>'s dataset to each target's name.</summary>
    public void PrimaryGroup(string source, string dataset, IReadOnlyDictionary<string, string> targets)
    {
        ArgumentNullException.ThrowIfNull(targets);
        Settings["SyncGroups:0:Name"] = Group;
        Settings["SyncGroups:0:Source"] = source;
        Settings["SyncGroups:0:Members:0"] = source;
        var i = 1;
        foreach (var (target, name) in targets)
        {
            Settings[$"SyncGroups:0:Members:{i++}"] = target;
            Settings[$"SyncGroups:0:Datasets:0:On:{target}"] = name;
        }

        Settings["SyncGroups:0:Datasets:0:Path"] = dataset;
    }

    private Dictionary<string, string?> WitnessConfiguration()
    {
        var settings = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["Database:Provider"] = "postgresql",
            ["Database:ConnectionString"] = Database.ConnectionString,
            // Scenarios run side by side: none may hold the health/metrics endpoint's fixed default port.
            ["Observability:Enabled"] = "false",
            ["RabbitMq:Uri"] = Vhost.AmqpUri.ToString(),
            ["Outbox:PollingInterval"] = "00:00:00.300",
            ["Outbox:InitialBackoff"] = "00:00:00.200",
            ["Liveness:SweepInterval"] = "00:00:01",
            // The reporters connect as the vhost's administrator, so their entry exchange (reporter.USER) is that user's.
            ["ClientTopology:Reporters:0"] = _infrastructure.RabbitMq.AdminUser,
            ["Operators:0"] = _infrastructure.RabbitMq.AdminUser, // the test resolves conflicts as that user
        };
        for (var i = 0; i < Hosts.Count; i++)
        {
            var h = Hosts[i];
            settings[$"Hosts:{i}:Id"] = h.Id;
            settings[$"Hosts:{i}:Ssh:Host"] = h.SshHost;
            settings[$"Hosts:{i}:Ssh:User"] = h.SshUser;
            settings[$"Hosts:{i}:Ssh:Port"] = h.SshPort?.ToString(CultureInfo.InvariantCulture);
            settings[$"Hosts:{i}:Ssh:IdentityFile"] = h.IdentityFile;
            settings[$"Hosts:{i}:Sudo"] = h.Sudo ? "true" : "false";
            settings[$"Hosts:{i}:ZfsPath"] = ZfsPath;
        }

        foreach (var (key, value) in Settings)
        {
            settings[key] = value;
        }

        return settings;
    }

    private static string ProgramDll(string project, string assembly)
    {
        // tests/Convergence.Tests/bin/<Configuration>/net10.0 → the program's own output of the same configuration.
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/'));
        var configuration = output.Parent!.Name;
        var repository = output.Parent.Parent!.Parent!.Parent!.Parent!.FullName;
        var dll = Path.Combine(repository, "src", project, "bin", configuration, output.Name, assembly);
        File.Exists(dll).ShouldBeTrue($"{dll} is built (the test project references {project})");
        return dll;
    }

    /// <summary>Starts the witness process and waits until it consumes inventory reports.</summary>
    public async Task StartWitnessAsync()
    {
        StartWitnessProcess();
        await Poll.UntilAsync(async () => await Vhost.QueueMessageCountAsync("inventory-ingest") >= 0, "the witness's inventory-ingest queue", TimeSpan.FromSeconds(180));
    }

    /// <summary>Starts the witness process and returns it without waiting.</summary>
    public Process StartWitnessProcess()
    {
        var environment = WitnessConfiguration().Where(kv => kv.Value is not null)
            .ToDictionary(kv => "ZFS_SYNC_" + kv.Key.Replace(":", "__", StringComparison.Ordinal), kv => kv.Value!);
        return Start("witness", ProgramDll("Witness.Worker", "ZfsSync.Witness.Worker.dll"), environment);
    }

    /// <summary>Replicates in this process, as setup (not logged, no executor): zfs send on one host into zfs receive on another.</summary>
    public void Replicate(string source, string[] send, string target, string[] receive)
    {
        ArgumentNullException.ThrowIfNull(send);
        ArgumentNullException.ThrowIfNull(receive);
        using var stream = new MemoryStream();
        using var error = new StringWriter(CultureInfo.InvariantCulture);
        new ZfsCommand(Fleet, Hosts.Single(h => h.Id == source).SshHost).Run(["send", .. send], Stream.Null, stream, error).ShouldBe(0, error.ToString());
        using var input = new MemoryStream(stream.ToArray());
        new ZfsCommand(Fleet, Hosts.Single(h => h.Id == target).SshHost).Run(["receive", .. receive], input, Stream.Null, error).ShouldBe(0, error.ToString());
    }

    /// <summary>Starts the reporter of a host: its zfs and zpool are the emulator, on short intervals.</summary>
    public void StartReporter(string hostId)
    {
        var host = Hosts.Single(h => h.Id == hostId);
        var amqp = new UriBuilder(Vhost.AmqpUri) { UserName = "", Password = "" }.Uri.ToString();
        var environment = new Dictionary<string, string>
        {
            ["ZFS_SYNC_Reporter__HostId"] = host.Id,
            ["ZFS_SYNC_Reporter__Roots__0"] = host.Pool,
            ["ZFS_SYNC_Reporter__ZfsPath"] = ZfsPath,
            ["ZFS_SYNC_Reporter__ZpoolPath"] = Path.Combine(StandIns, "zpool"),
            ["ZFS_SYNC_Reporter__StateDirectory"] = Path.Combine(Root, "reporter-" + host.Id),
            ["ZFS_SYNC_Reporter__ReportInterval"] = "00:00:02",
            ["ZFS_SYNC_Reporter__FullReportInterval"] = "00:00:10",
            ["ZFS_SYNC_Reporter__HeartbeatInterval"] = "00:00:10",
            ["ZFS_SYNC_Reporter__CommandRetries"] = "0",
            ["ZFS_SYNC_RabbitMq__Uri"] = amqp,
            ["ZFS_SYNC_RabbitMq__User"] = _infrastructure.RabbitMq.AdminUser,
            ["ZFS_SYNC_RabbitMq__Password"] = _infrastructure.RabbitMq.AdminPassword,
            ["ZFSEMU_ROOT"] = Fleet.Root,
            ["ZFSEMU_HOST"] = host.SshHost,
            ["ZFSEMU_CONTEXT"] = "reporter",
        };
        Start("reporter-" + host.Id, ProgramDll("Reporter", "ZfsSync.Reporter.dll"), environment);
    }

    public async Task StartAllAsync()
    {
        await StartWitnessAsync();
        foreach (var host in Hosts)
        {
            StartReporter(host.Id);
        }
    }

    private Process Start(string name, string dll, Dictionary<string, string> environment)
    {
        var workingDirectory = Path.Combine(Root, name);
        Directory.CreateDirectory(workingDirectory);
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(dll);
        start.ArgumentList.Add("--contentRoot");
        start.ArgumentList.Add(Path.GetDirectoryName(dll)!); // its appsettings.json (log levels); no zfs_sync.yaml there
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("ZFS_SYNC_", StringComparison.Ordinal) || k.StartsWith("ZFSEMU_", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(key);
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        start.Environment["PATH"] = StandIns + ":" + Environment.GetEnvironmentVariable("PATH");
        var logPath = Path.Combine(Root, name + ".log");
        var process = new Process { StartInfo = start };
        var gate = new object();
        void Append(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (gate)
            {
                File.AppendAllText(logPath, line + "\n");
            }
        }

        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _processes.Add((name, process));
        return process;
    }

    public string LogOf(string name)
    {
        var path = Path.Combine(Root, name + ".log");
        return File.Exists(path) ? File.ReadAllText(path) : "";
    }

    /// <summary>Runs a command line as the executor does: /bin/sh -c, the stand-ins first on PATH.</summary>
    public async Task<(int Exit, string Stderr)> RunShellAsync(string commandLine, string context)
    {
        var start = new ProcessStartInfo("/bin/sh") { RedirectStandardError = true, RedirectStandardOutput = true, RedirectStandardInput = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(commandLine);
        start.Environment["PATH"] = StandIns + ":" + Environment.GetEnvironmentVariable("PATH");
        start.Environment["ZFSEMU_ROOT"] = Fleet.Root;
        start.Environment["ZFSEMU_CONTEXT"] = context;
        start.Environment.Remove("ZFSEMU_HOST");
        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        await stdout;
        return (process.ExitCode, await stderr);
    }

    private async Task StartClientAsync()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddSingleton(Executor);
        builder.Services.AddSingleton(this);
        builder.Services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true);
        builder.Services.AddMassTransit(x =>
        {
            x.AddConsumer<TestExecutor>(c => c.ConcurrentMessageLimit = 1);
            x.AddRequestClient<ResolveSyncConflict>(RequestTimeout.After(s: 30));
            x.AddRequestClient<GetSyncGroupStatus>(RequestTimeout.After(s: 30));
            x.UsingRabbitMq((context, cfg) =>
            {
                cfg.Host(Vhost.AmqpUri);
                cfg.ConfigureSend(s => s.UseSendExecute(c =>
                {
                    if (c.TryGetPayload<RabbitMqSendContext>(out var rabbit))
                    {
                        rabbit.BasicProperties.UserId = Vhost.Broker.AdminUser; // the test is the operator (Operators)
                    }
                }));
                cfg.ConfigurePublish(p => p.UseExecute(c =>
                {
                    if (c.TryGetPayload<RabbitMqSendContext>(out var rabbit))
                    {
                        rabbit.BasicProperties.UserId = Vhost.Broker.AdminUser;
                    }
                }));
                cfg.ConfigureEndpoints(context);
            });
        });
        _client = builder.Build();
        await _client.StartAsync();
    }

    public async Task<SyncGroupStatusEntry?> StatusAsync()
    {
        var client = _client!.Services.GetRequiredService<IRequestClient<GetSyncGroupStatus>>();
        var response = await client.GetResponse<SyncGroupStatusReport>(new GetSyncGroupStatus { SyncGroup = Group });
        return response.Message.Groups.SingleOrDefault();
    }

    public async Task<Response<SyncConflictResolutionAccepted, SyncConflictResolutionRejected>> ResolveAsync(Guid conflictId, string resolution, string? promote = null)
    {
        var client = _client!.Services.GetRequiredService<IRequestClient<ResolveSyncConflict>>();
        return await client.GetResponse<SyncConflictResolutionAccepted, SyncConflictResolutionRejected>(new ResolveSyncConflict
        {
            ConflictId = conflictId,
            SyncGroup = Group,
            Resolution = resolution,
            RequestedBy = "convergence-test",
            PromoteHostId = promote,
        });
    }

    /// <summary>Waits until <paramref name="condition"/> holds, failing with the processes' log tails when it does not.</summary>
    public async Task UntilAsync(Func<Task<bool>> condition, string what, int seconds = 180)
    {
        var holds = await Poll.HoldsAsync(condition, TimeSpan.FromSeconds(seconds), TimeSpan.FromMilliseconds(250));
        if (!holds)
        {
            throw new ShouldAssertException($"timed out waiting for {what}\n{Diagnostics()}");
        }
    }

    /// <summary>Waits until the group is in sync and every target holds every one of <paramref name="source"/>'s snapshots of the dataset.</summary>
    public Task ConvergedAsync(string source, string sourceDataset, IReadOnlyDictionary<string, string> targets, int seconds = 180) =>
        UntilAsync(
            async () =>
            {
                var wanted = State(source).Find(sourceDataset)?.Snapshots.Select(s => s.Guid).ToHashSet() ?? [];
                foreach (var (target, name) in targets)
                {
                    var have = State(target).Find(name);
                    if (have is null || have.Partial is not null || !wanted.IsSubsetOf(have.Snapshots.Select(s => s.Guid)))
                    {
                        return false;
                    }
                }

                return await StatusAsync() is { Status: SyncGroupStatus.InSync };
            },
            $"{string.Join(", ", targets.Keys)} to hold every snapshot of {source}:{sourceDataset} and the group to be in sync",
            seconds);

    /// <summary>
    /// Every command that can discard data (destroy, rollback, rename, receive -F) the emulator ran came from an
    /// instruction that carried a recorded resolution.
    /// </summary>
    public void AssertNoDestructiveCommandWithoutResolution()
    {
        var resolved = Executor.Issued.Where(i => i.Resolution is not null).Select(i => $"{i.InstructionId}/{i.Attempt}").ToHashSet(StringComparer.Ordinal);
        foreach (var entry in Fleet.ReadLog().Where(e => e.Tool == "zfs" && ZfsCommand.IsDestructive(e.Argv)))
        {
            resolved.ShouldContain(entry.Context ?? "", $"a destructive command ran without a recorded resolution: {entry.Describe()} (context {entry.Context ?? "none"})");
        }
    }

    public List<CommandLogEntry> ExecutedCommands() => [.. Fleet.ReadLog().Where(e => e.Context is not null && e.Context != "reporter")];

    public string Diagnostics()
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"fleet: {Fleet.Root}");
        foreach (var run in Executor.Runs)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"ran {run.Instruction.Kind} {run.Instruction.Target.HostId} attempt {run.Instruction.Attempt}: exit {run.Exit} {run.Stderr.Trim()}");
        }

        foreach (var conflict in Executor.Conflicts)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"conflict {conflict.Kind}: {conflict.Details}");
        }

        foreach (var (name, _) in _processes)
        {
            var log = LogOf(name).Split('\n');
            text.AppendLine(CultureInfo.InvariantCulture, $"--- {name} (last lines)");
            text.AppendLine(string.Join('\n', log.TakeLast(25)));
        }

        return text.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (_, process) in _processes)
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                    await process.WaitForExitAsync();
                }
            }
            catch (InvalidOperationException)
            {
            }

            process.Dispose();
        }

        if (_client is not null)
        {
            await _client.StopAsync(TimeSpan.FromSeconds(30));
            _client.Dispose();
        }

        await Vhost.DisposeAsync();
        await Database.DisposeAsync();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
