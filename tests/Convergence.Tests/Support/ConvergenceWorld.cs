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

/// <summary>An outcome an executor reported (observed on the witness's shared outcome exchanges).</summary>
public sealed record Outcome(Guid InstructionId, int Attempt, int Exit, string Stderr, string ExecutedBy, long? Bytes);

/// <summary>What the test process saw on the broker: instructions, the executors' outcomes, conflicts, rejections.</summary>
public sealed class Observations
{
    public ConcurrentQueue<SyncInstructionIssued> Issued { get; } = new();
    public ConcurrentQueue<Outcome> Outcomes { get; } = new();
    public ConcurrentQueue<SyncConflictDetected> Conflicts { get; } = new();
    public ConcurrentQueue<InventoryRejected> Rejections { get; } = new();

    /// <summary>The outcomes in the order they were reported, each with the instruction attempt it is for (once that was seen).</summary>
    public IReadOnlyList<(SyncInstructionIssued Instruction, int Exit, string Stderr)> Runs =>
    [
        .. Outcomes
            .Select(o => (Instruction: Issued.FirstOrDefault(i => i.InstructionId == o.InstructionId && i.Attempt == o.Attempt), o.Exit, o.Stderr))
            .Where(r => r.Instruction is not null)
            .Select(r => (r.Instruction!, r.Exit, r.Stderr)),
    ];
}

/// <summary>
/// The test's observer on the vhost (as its administrator): every instruction the witness issues, every outcome the
/// executor programs report, conflicts and rejected reports. It runs nothing.
/// </summary>
public sealed class Observer(Observations seen) :
    IConsumer<SyncInstructionIssued>,
    IConsumer<SyncInstructionCompleted>,
    IConsumer<SyncInstructionFailed>,
    IConsumer<SyncConflictDetected>,
    IConsumer<InventoryRejected>
{
    public Task Consume(ConsumeContext<SyncInstructionIssued> context)
    {
        seen.Issued.Enqueue(context.Message);
        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<SyncInstructionCompleted> context)
    {
        var m = context.Message;
        seen.Outcomes.Enqueue(new Outcome(m.InstructionId, m.Attempt, 0, "", m.ExecutedBy, m.BytesTransferred));
        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<SyncInstructionFailed> context)
    {
        var m = context.Message;
        seen.Outcomes.Enqueue(new Outcome(m.InstructionId, m.Attempt, m.ExitCode, m.Error, m.ExecutedBy, null));
        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<SyncConflictDetected> context)
    {
        seen.Conflicts.Enqueue(context.Message);
        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<InventoryRejected> context)
    {
        seen.Rejections.Enqueue(context.Message);
        return Task.CompletedTask;
    }
}

/// <summary>
/// A fleet of emulated hosts with a witness process, one reporter process per host (their <c>zfs</c> is the emulator),
/// one <c>zfssync-executor</c> process per receiving host (pull mode, its own broker user, zfs/ssh/sudo the
/// emulator's), and this test process as observer and operator, on a test vhost and a test PostgreSQL database.
/// </summary>
public sealed class ConvergenceWorld : IAsyncDisposable
{
    public const string Group = "emu-group";
    private readonly List<(string Name, Process Process)> _processes = [];
    private readonly InfrastructureFixture _infrastructure;
    private readonly Dictionary<string, TestBrokerUser> _executorUsers = new(StringComparer.Ordinal);
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
    public Observations Seen { get; } = new();
    public List<EmulatedHost> Hosts { get; } = [];

    /// <summary>The hosts that get an executor at <see cref="StartAllAsync"/>; by default the group's members but its <c>Source</c>.</summary>
    public List<string>? ExecutorHosts { get; set; }

    /// <summary>The executors run the rendered pull command through <c>/bin/sh</c> instead of the steps.</summary>
    public bool UseShell { get; set; }

    /// <summary>The executors stay in dry run (their default).</summary>
    public bool DryRun { get; set; }

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
            if (_executorUsers.TryGetValue(h.Id, out var executor))
            {
                settings[$"Hosts:{i}:Executor"] = executor.Name; // its inbox alone gets the host's instructions
            }
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

    /// <summary>Creates the executor users, starts the witness, one reporter per host and one executor per receiving host.</summary>
    public async Task StartAllAsync()
    {
        var executorHosts = ExecutorHosts ?? [.. Settings.Where(kv => kv.Key.StartsWith("SyncGroups:0:Members:", StringComparison.Ordinal))
            .Select(kv => kv.Value!).Where(h => !Settings.TryGetValue("SyncGroups:0:Source", out var source) || source != h)];
        foreach (var host in executorHosts)
        {
            await ExecutorUserAsync(host);
        }

        await StartWitnessAsync();
        foreach (var host in Hosts)
        {
            StartReporter(host.Id);
        }

        foreach (var host in executorHosts)
        {
            await StartExecutorAsync(host);
        }
    }

    /// <summary>
    /// The broker user of a host's executors (<c>executor-HOST-…</c>), with the permissions rabbitmq/definitions.json
    /// gives an executor: its own entry exchange and inbox, nothing else. Create it before the witness starts (the
    /// witness names it as the host's <c>Hosts[].Executor</c>).
    /// </summary>
    public async Task<TestBrokerUser> ExecutorUserAsync(string hostId)
    {
        if (_executorUsers.TryGetValue(hostId, out var existing))
        {
            return existing;
        }

        var user = await Vhost.CreateUserAsync("executor-" + hostId);
        var name = System.Text.RegularExpressions.Regex.Escape(user.Name);
        await Vhost.Broker.SetPermissionsAsync(Vhost.Name, user.Name, $@"^executor\.{name}(\.inbox)?$", $@"^executor\.{name}(\.inbox)?$", $@"^executor\.{name}\.inbox$");
        _executorUsers[hostId] = user;
        return user;
    }

    /// <summary>The state directory (attempts.db, runs.log) the executors of a host share.</summary>
    public string ExecutorStateDirectory(string hostId) => Path.Combine(Root, "executor-state-" + hostId);

    /// <summary>
    /// Starts a <c>zfssync-executor</c> process for a host in pull mode, once the witness has declared its inbox:
    /// its own broker user, zfs/ssh/sudo the emulator's (<c>ZFSEMU_HOST</c> is the host it runs on), its state
    /// directory shared by every executor of the host. <paramref name="instance"/> names a second process's log.
    /// </summary>
    public async Task<Process> StartExecutorAsync(string hostId, string instance = "", bool? dryRun = null)
    {
        var host = Hosts.Single(h => h.Id == hostId);
        var user = await ExecutorUserAsync(hostId);
        await Poll.UntilAsync(async () => await Vhost.QueueMessageCountAsync(ClientTopology.InboxQueue(ClientTopology.ExecutorRole, user.Name)) >= 0,
            $"the witness to declare {user.Name}'s inbox", TimeSpan.FromSeconds(180));
        var environment = new Dictionary<string, string>
        {
            ["ZFS_SYNC_RabbitMq__Uri"] = new UriBuilder(Vhost.AmqpUri) { UserName = "", Password = "" }.Uri.ToString(),
            ["ZFS_SYNC_RabbitMq__User"] = user.Name,
            ["ZFS_SYNC_RabbitMq__Password"] = user.Password,
            ["ZFS_SYNC_RabbitMq__WitnessUser"] = _infrastructure.RabbitMq.AdminUser,
            ["ZFS_SYNC_Executor__Hosts__0"] = host.Id,
            ["ZFS_SYNC_Executor__Mode"] = "Pull",
            ["ZFS_SYNC_Executor__DryRun"] = (dryRun ?? DryRun) ? "true" : "false",
            ["ZFS_SYNC_Executor__UseShell"] = UseShell ? "true" : "false",
            ["ZFS_SYNC_Executor__ZfsPath"] = ZfsPath,
            ["ZFS_SYNC_Executor__SshPath"] = Path.Combine(StandIns, "ssh"),
            ["ZFS_SYNC_Executor__SudoPath"] = Path.Combine(StandIns, "sudo"),
            ["ZFS_SYNC_Executor__StateDirectory"] = ExecutorStateDirectory(host.Id),
            ["ZFSEMU_ROOT"] = Fleet.Root,
            ["ZFSEMU_HOST"] = host.SshHost,
            // Scenarios run side by side: none may hold the health/metrics endpoint's fixed default port.
            ["ZFS_SYNC_Observability__Enabled"] = "false",
        };
        foreach (var (key, value) in ExecutorEnvironment)
        {
            environment[key] = value;
        }

        return Start("executor-" + host.Id + instance, ProgramDll("Executor", "ZfsSync.Executor.dll"), environment);
    }

    /// <summary>Extra environment of every executor this world starts (<c>ZFS_SYNC_Executor__ProgressInterval</c>, …).</summary>
    public Dictionary<string, string> ExecutorEnvironment { get; } = new(StringComparer.Ordinal);

    /// <summary>A process this world started, by name (<c>witness</c>, <c>reporter-nas1</c>, <c>executor-backup1</c>, …).</summary>
    public Process ProcessOf(string name) => _processes.Last(p => p.Name == name).Process;

    /// <summary>
    /// Publishes an instruction again as the witness would (its user-id): to the shared exchange (the observer) and to
    /// the executing host's exchange (that host's executor inbox).
    /// </summary>
    public async Task PublishAsWitnessAsync(SyncInstructionIssued instruction)
    {
        ArgumentNullException.ThrowIfNull(instruction);
        void Sign(SendContext context)
        {
            if (context.TryGetPayload<RabbitMqSendContext>(out var rabbit))
            {
                rabbit.BasicProperties.UserId = _infrastructure.RabbitMq.AdminUser;
            }
        }

        await Bus.Publish(instruction, (PublishContext c) => Sign(c));
        var host = instruction.Execution?.HostId ?? instruction.Target.HostId;
        var endpoint = await Bus.GetSendEndpoint(new Uri($"exchange:{ClientTopology.HostExchange(host)}?type={ClientTopology.HostExchangeType}"));
        await endpoint.Send(instruction, (SendContext c) => Sign(c));
    }

    /// <summary><c>kill -9</c> of one process (not its children: the executor's runs are in process groups of their own).</summary>
    public static async Task KillAsync(Process process)
    {
        ArgumentNullException.ThrowIfNull(process);
        process.Kill(entireProcessTree: false);
        await process.WaitForExitAsync();
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

    private async Task StartClientAsync()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddSingleton(Seen);
        builder.Services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true);
        builder.Services.AddMassTransit(x =>
        {
            x.AddConsumer<Observer>();
            x.AddRequestClient<ResolveSyncConflict>(RequestTimeout.After(s: 30));
            x.AddRequestClient<GetSyncGroupStatus>(RequestTimeout.After(s: 30));
            x.AddRequestClient<GetProtectedSnapshots>(RequestTimeout.After(s: 30));
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

    /// <summary>The zfssync bookmarks the witness knows on a host (from its stored inventory), as <c>zfssync protected HOST</c> lists them.</summary>
    public async Task<IReadOnlyList<ProtectedSnapshotEntry>> ProtectedAsync(string hostId)
    {
        var client = _client!.Services.GetRequiredService<IRequestClient<GetProtectedSnapshots>>();
        var response = await client.GetResponse<ProtectedSnapshotsReport>(new GetProtectedSnapshots { HostId = hostId });
        return response.Message.Protected;
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
        var resolved = Seen.Issued.Where(i => i.Resolution is not null).Select(i => $"{i.InstructionId}/{i.Attempt}").ToHashSet(StringComparer.Ordinal);
        var targets = Seen.Issued.GroupBy(i => $"{i.InstructionId}/{i.Attempt}", StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First().Target.HostId, StringComparer.Ordinal);
        foreach (var entry in Fleet.ReadLog().Where(e => e.Tool == "zfs" && ZfsCommand.IsDestructive(e.Argv)))
        {
            // The one destroy allowed without a resolution (docs/PLANNING.md, "Protected bases"): one of the
            // instruction's target's own superseded zfssync bookmarks.
            if (entry.Argv is ["destroy", var bookmark] && bookmark.IndexOf('#', StringComparison.Ordinal) is var hash and > 0
                && targets.TryGetValue(entry.Context ?? "", out var target)
                && bookmark[(hash + 1)..] is var name && name.StartsWith($"zfssync-{target}-", StringComparison.Ordinal)
                && name.Length > $"zfssync-{target}-".Length && name[$"zfssync-{target}-".Length..].All(char.IsAsciiDigit))
            {
                continue;
            }

            resolved.ShouldContain(entry.Context ?? "", $"a destructive command ran without a recorded resolution: {entry.Describe()} (context {entry.Context ?? "none"})");
        }
    }

    public List<CommandLogEntry> ExecutedCommands() => [.. Fleet.ReadLog().Where(e => e.Context is not null && e.Context != "reporter")];

    public string Diagnostics()
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"fleet: {Fleet.Root}");
        foreach (var instruction in Seen.Issued)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"issued {instruction.InstructionId}/{instruction.Attempt} {instruction.Kind} -> {instruction.Target.HostId}");
        }

        foreach (var outcome in Seen.Outcomes)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"outcome {outcome.InstructionId}/{outcome.Attempt} by {outcome.ExecutedBy}: exit {outcome.Exit} {outcome.Stderr.Trim()}");
        }

        foreach (var conflict in Seen.Conflicts)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"conflict {conflict.Kind}: {conflict.Details}");
        }

        foreach (var host in _executorUsers.Keys)
        {
            var runs = Path.Combine(ExecutorStateDirectory(host), "runs.log");
            text.AppendLine(CultureInfo.InvariantCulture, $"--- runs.log of {host}'s executors");
            text.AppendLine(File.Exists(runs) ? File.ReadAllText(runs).TrimEnd() : "(none)");
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
