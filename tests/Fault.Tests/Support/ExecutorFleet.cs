using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using Npgsql;
using RabbitMQ.Client;
using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;
using ZfsSync.ZfsEmulator;

namespace ZfsSync.Fault.Tests.Support;

/// <summary>
/// A <see cref="FaultWorld"/> whose hosts are an emulated fleet (tools/ZfsEmulator): nas1 holds <c>emu-tank/data</c>,
/// backup1 a copy of its first snapshot in <c>emu-backup/data</c>, and backup1's <c>zfssync-executor</c> runs as a
/// separate process in pull mode (its own broker user, zfs/ssh/sudo the emulator's stand-ins). The report stream is
/// the test's: every tick each host reports what its emulated pool holds (snapshots, a receive's partial state and
/// resume token), through the same ledger as the other scenarios. A durable probe queue records every outcome the
/// executor publishes.
/// </summary>
public sealed class ExecutorFleet : IAsyncDisposable
{
    public const string ExecutorUser = "backup1-executor";
    public const string OutcomeProbe = "fault-outcomes";
    public const string SourceDataset = "emu-tank/data";
    public const string TargetDataset = "emu-backup/data";

    /// <summary>What an executor reports, at its next start, of an attempt a SIGKILL cut.</summary>
    public const string CutError = "executor restarted during the run";
    private static readonly Lazy<string> ExecutorCopy = new(() => CopyBuild("ExecutorBuildDirectory", "ZfsSync.Executor.dll"));
    private readonly List<ExecutorProcess> _executors = [];
    private int _executorsStarted;
    private int _snapshots;

    private ExecutorFleet(FaultWorld world)
    {
        World = world;
        Root = Directory.CreateTempSubdirectory("zfssync-fault-fleet-").FullName;
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

    public FaultWorld World { get; }
    public string Root { get; }
    public FleetStore Fleet { get; }
    public string StandIns { get; }
    public string StateDirectory => Path.Combine(Root, "executor-state");
    public IReadOnlyList<ExecutorProcess> Executors => _executors;

    /// <summary>The fleet with <paramref name="snapshots"/> snapshots on nas1, the first already replicated to backup1.</summary>
    public static async Task<ExecutorFleet> CreateAsync(FaultFixture fixture, string name, int snapshots)
    {
        var world = await FaultWorld.CreateAsync(fixture, name);
        var fleet = new ExecutorFleet(world);
        fleet.Fleet.AddHost("nas1", "emu-tank");
        fleet.Fleet.AddHost("backup1", "emu-backup");
        fleet.Zfs("nas1", "create", "-p", SourceDataset);
        for (var i = 0; i < snapshots; i++)
        {
            fleet.Snapshot();
        }

        // Setup, not under test: the first snapshot is on backup1 already, so every transfer the faults hit is incremental.
        using var stream = new MemoryStream();
        fleet.Run("nas1", ["send", $"{SourceDataset}@auto-001"], Stream.Null, stream);
        using var input = new MemoryStream(stream.ToArray());
        fleet.Run("backup1", ["receive", TargetDataset], input, Stream.Null);
        await fleet.DeclareOutcomeProbeAsync();
        return fleet;
    }

    /// <summary>One more snapshot of nas1's dataset (<c>auto-NNN</c>), as its snapshot schedule would take it.</summary>
    public string Snapshot()
    {
        var name = $"{SourceDataset}@auto-{Interlocked.Increment(ref _snapshots):D3}";
        // 64 KiB written since the last snapshot: each incremental stream carries that much (a throttled one takes seconds).
        Fleet.Update("nas1", state => state.Find(SourceDataset)!.Written = 64 * 1024);
        Zfs("nas1", "snapshot", name);
        return name;
    }

    public void Zfs(string host, params string[] args) => Run(host, args, Stream.Null, Stream.Null);

    private void Run(string host, string[] args, Stream input, Stream output)
    {
        using var error = new StringWriter(CultureInfo.InvariantCulture);
        new ZfsCommand(Fleet, host).Run(args, input, output, error).ShouldBe(0, $"zfs {string.Join(' ', args)} on {host}: {error}");
    }

    /// <summary>The next zfs send on nas1 writes <paramref name="bytesPerSecond"/> (the emulator's send-throttle), its progress in send-progress.</summary>
    public void ThrottleNextSend(int bytesPerSecond)
    {
        File.Delete(SendProgressFile);
        File.WriteAllText(Path.Combine(Fleet.HostDirectory("nas1"), "send-throttle"), bytesPerSecond.ToString(CultureInfo.InvariantCulture));
    }

    private string SendProgressFile => Path.Combine(Fleet.HostDirectory("nas1"), "send-progress");

    /// <summary>Bytes the throttled send has written so far (0 before it started).</summary>
    public long SendProgress()
    {
        try
        {
            return long.TryParse(File.ReadAllText(SendProgressFile), NumberStyles.Integer, CultureInfo.InvariantCulture, out var sent) ? sent : 0;
        }
        catch (FileNotFoundException)
        {
            return 0;
        }
    }

    /// <summary>The witness told about the emulated hosts: their ssh names, the stand-in zfs, backup1's executor user.</summary>
    public Dictionary<string, string> WitnessOverrides(IReadOnlyDictionary<string, string>? more = null)
    {
        var settings = new Dictionary<string, string>
        {
            ["ZFS_SYNC_Hosts__0__Ssh__Host"] = "nas1",
            ["ZFS_SYNC_Hosts__0__Ssh__User"] = "zfssync",
            ["ZFS_SYNC_Hosts__0__ZfsPath"] = Path.Combine(StandIns, "zfs"),
            ["ZFS_SYNC_Hosts__1__Ssh__Host"] = "backup1",
            ["ZFS_SYNC_Hosts__1__Ssh__User"] = "zfssync",
            ["ZFS_SYNC_Hosts__1__ZfsPath"] = Path.Combine(StandIns, "zfs"),
            ["ZFS_SYNC_Hosts__1__Executor"] = ExecutorUser,
            ["ZFS_SYNC_SyncGroups__0__Datasets__0__Path"] = SourceDataset,
            ["ZFS_SYNC_SyncGroups__0__Datasets__0__On__backup1"] = TargetDataset,
            ["ZFS_SYNC_Liveness__SweepInterval"] = "00:00:01",
        };
        foreach (var (key, value) in more ?? new Dictionary<string, string>())
        {
            settings[key] = value;
        }

        return settings;
    }

    /// <summary>Settings of the scenario's witnesses on top of <see cref="WitnessOverrides"/> (set before the first start).</summary>
    public Dictionary<string, string> WitnessSettings { get; } = [];

    public Task<WitnessProcess> StartWitnessAsync() => World.StartWitnessAsync(WitnessOverrides(WitnessSettings));

    /// <summary>Starts backup1's executor once the witness has declared its inbox (the previous one, if any, is dead or running).</summary>
    public async Task<ExecutorProcess> StartExecutorAsync()
    {
        await Poll.UntilAsync(
            async () => await QueueDepthAsync(ClientTopology.InboxQueue(ClientTopology.ExecutorRole, ExecutorUser)) is not null,
            "the witness to declare the executor's inbox",
            TimeSpan.FromMinutes(2));
        var environment = new Dictionary<string, string>
        {
            ["ZFS_SYNC_RabbitMq__Uri"] = new UriBuilder(World.AmqpUri(ExecutorUser)) { UserName = "", Password = "" }.Uri.ToString(),
            ["ZFS_SYNC_RabbitMq__User"] = ExecutorUser,
            ["ZFS_SYNC_RabbitMq__Password"] = World.Password(ExecutorUser),
            ["ZFS_SYNC_RabbitMq__WitnessUser"] = FaultWorld.WitnessUser,
            ["ZFS_SYNC_Executor__Hosts__0"] = "backup1",
            ["ZFS_SYNC_Executor__Mode"] = "Pull",
            ["ZFS_SYNC_Executor__DryRun"] = "false",
            ["ZFS_SYNC_Executor__ZfsPath"] = Path.Combine(StandIns, "zfs"),
            ["ZFS_SYNC_Executor__SshPath"] = Path.Combine(StandIns, "ssh"),
            ["ZFS_SYNC_Executor__SudoPath"] = Path.Combine(StandIns, "sudo"),
            ["ZFS_SYNC_Executor__StateDirectory"] = StateDirectory,
            ["ZFS_SYNC_Observability__Enabled"] = "false",
            ["ZFSEMU_ROOT"] = Fleet.Root,
            ["ZFSEMU_HOST"] = "backup1",
            ["PATH"] = StandIns + ":" + System.Environment.GetEnvironmentVariable("PATH"),
        };
        var executor = await ExecutorProcess.StartAsync($"executor-{Interlocked.Increment(ref _executorsStarted)}", Path.Combine(ExecutorCopy.Value, "ZfsSync.Executor.dll"), environment);
        _executors.Add(executor);
        return executor;
    }

    /// <summary>Both hosts say they are online (for an hour: the scenario decides what happens meanwhile).</summary>
    public async Task HostsUpAsync(CancellationToken cancellationToken)
    {
        foreach (var (publisher, host) in new[] { (World.Nas1, "nas1"), (World.Backup1, "backup1") })
        {
            await publisher.PublishAsync(
                new Heartbeat { HostId = host, SentAt = DateTimeOffset.UtcNow, IntervalSeconds = 3600, AgentVersion = "fault-test", Os = "linux" },
                cancellationToken);
        }
    }

    /// <summary>What a host's pool holds now, as its reporter would report it.</summary>
    public SnapshotInventoryReported Report(string host, string pool)
    {
        var state = Fleet.Read(host);
        return new SnapshotInventoryReported
        {
            HostId = host,
            ReportId = Guid.NewGuid(),
            Sequence = World.NextSequence(),
            CapturedAt = DateTimeOffset.UtcNow,
            Roots = [pool],
            Datasets =
            [
                .. state.Datasets.Where(d => d.Name == pool || d.Name.StartsWith(pool + "/", StringComparison.Ordinal)).Select(d => new DatasetInventory
                {
                    Name = d.Name,
                    Type = d.Type == "volume" ? DatasetTypes.Volume : DatasetTypes.Filesystem,
                    ReceiveResumeToken = d.Partial?.Token(),
                    Resume = d.Partial is { } p ? new ResumeTokenInfo { ToGuid = p.ToGuid, FromGuid = p.FromGuid == 0 ? null : p.FromGuid, ToName = p.ToName, Bytes = p.Bytes } : null,
                    WrittenBytes = d.Written,
                    Snapshots = [.. d.Snapshots.Select(s => new SnapshotInfo { Name = s.Name, Guid = s.Guid, CreateTxg = s.CreateTxg, CreatedAt = DateTimeOffset.FromUnixTimeSeconds(s.Creation), UsedBytes = s.Used, ReferencedBytes = s.Referenced })],
                    Bookmarks = [.. d.Bookmarks.Select(b => new BookmarkInfo { Name = b.Name, Guid = b.Guid, CreateTxg = b.CreateTxg, CreatedAt = DateTimeOffset.FromUnixTimeSeconds(b.Creation) })],
                }),
            ],
        };
    }

    /// <summary>
    /// Until cancelled, every <paramref name="every"/>: both hosts report their pools; while <paramref name="snapshotting"/>
    /// says so, nas1 takes a snapshot every <paramref name="snapshotEvery"/>-th tick (the load under which faults happen).
    /// </summary>
    public async Task StreamAsync(TimeSpan every, Func<bool> snapshotting, int snapshotEvery, CancellationToken cancellationToken)
    {
        try
        {
            for (var tick = 1; !cancellationToken.IsCancellationRequested; tick++)
            {
                if (snapshotting() && tick % snapshotEvery == 0)
                {
                    Snapshot();
                }

                await World.SendAsync(World.Nas1, Report("nas1", "emu-tank"), cancellationToken);
                await World.SendAsync(World.Backup1, Report("backup1", "emu-backup"), cancellationToken);
                await Task.Delay(every, cancellationToken); // the stream's pace, not a wait for a message
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>backup1 holds every snapshot nas1 has, no receive is half done, and the witness has no attempt outstanding.</summary>
    public async Task<bool> ConvergedAsync()
    {
        var wanted = Fleet.Read("nas1").Find(SourceDataset)!.Snapshots.Select(s => s.Guid).ToHashSet();
        var have = Fleet.Read("backup1").Find(TargetDataset);
        if (have is null || have.Partial is not null || !wanted.IsSubsetOf(have.Snapshots.Select(s => s.Guid)))
        {
            return false;
        }

        try
        {
            return await World.ScalarAsync("""SELECT count(*) FROM instruction_attempts WHERE "Outcome" IS NULL""") == 0;
        }
        catch (NpgsqlException)
        {
            return false;
        }
    }

    /// <summary>Waits until <see cref="ConvergedAsync"/>, failing with the fleet's and the processes' state.</summary>
    public async Task<TimeSpan> WaitConvergedAsync(TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        if (!await Poll.HoldsAsync(ConvergedAsync, timeout, TimeSpan.FromMilliseconds(500)))
        {
            throw new ShouldAssertException($"the group did not converge within {timeout.TotalSeconds:0} s\n{Diagnostics()}");
        }

        return watch.Elapsed;
    }

    /// <summary>Messages waiting in a queue of the scenario's vhost, or null when it does not exist (yet).</summary>
    public async Task<uint?> QueueDepthAsync(string queue)
    {
        await using var connection = await World.ConnectAsync(FaultWorld.WitnessUser);
        await using var channel = await connection.CreateChannelAsync();
        try
        {
            return (await channel.QueueDeclarePassiveAsync(queue)).MessageCount;
        }
        catch (RabbitMQ.Client.Exceptions.OperationInterruptedException ex) when (ex.ShutdownReason?.ReplyCode == 404)
        {
            return null;
        }
    }

    private async Task DeclareOutcomeProbeAsync()
    {
        await using var connection = await World.ConnectAsync(FaultWorld.WitnessUser);
        await using var channel = await connection.CreateChannelAsync();
        await channel.QueueDeclareAsync(OutcomeProbe, durable: true, exclusive: false, autoDelete: false);
        foreach (var type in new[] { nameof(SyncInstructionCompleted), nameof(SyncInstructionFailed) })
        {
            var exchange = $"ZfsSync.Contracts:{type}";
            await channel.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable: true, autoDelete: false);
            await channel.QueueBindAsync(OutcomeProbe, exchange, "");
        }
    }

    /// <summary>Every outcome the executors published, in order (the probe is drained).</summary>
    public async Task<List<PublishedOutcome>> DrainOutcomesAsync()
    {
        var outcomes = new List<PublishedOutcome>();
        await using var connection = await World.ConnectAsync(FaultWorld.WitnessUser);
        await using var channel = await connection.CreateChannelAsync();
        while (await channel.BasicGetAsync(OutcomeProbe, autoAck: true) is { } message)
        {
            using var document = JsonDocument.Parse(message.Body);
            var root = document.RootElement;
            var type = root.GetProperty("messageType")[0].GetString() ?? "";
            var body = root.GetProperty("message");
            outcomes.Add(new PublishedOutcome(
                body.GetProperty("instructionId").GetGuid(),
                body.GetProperty("attempt").GetInt32(),
                type.EndsWith(nameof(SyncInstructionCompleted), StringComparison.Ordinal) ? "completed" : "failed",
                body.TryGetProperty("error", out var error) ? error.GetString() ?? "" : "",
                message.BasicProperties.UserId ?? "",
                body.GetRawText()));
        }

        return outcomes;
    }

    /// <summary>What the witness recorded of each attempt: its outcome and the broker user whose outcome it accepted.</summary>
    public async Task<Dictionary<(Guid, int), (string? Outcome, string? ExecutorUser)>> AttemptsAsync()
    {
        await using var connection = new NpgsqlConnection(World.ConnectionString + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("""SELECT "InstructionId", "Attempt", "Outcome", "ExecutorUser" FROM instruction_attempts""", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var result = new Dictionary<(Guid, int), (string?, string?)>();
        while (await reader.ReadAsync())
        {
            result[(reader.GetGuid(0), reader.GetInt32(1))] = (reader.IsDBNull(2) ? null : reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetString(3));
        }

        return result;
    }

    /// <summary>The executor's own record of every run (<c>runs.log</c>: time, attempt, group, outcome, …), one line each.</summary>
    public IReadOnlyList<string[]> Runs()
    {
        var path = Path.Combine(StateDirectory, "runs.log");
        return File.Exists(path) ? [.. File.ReadAllLines(path).Where(l => l.Length > 0).Select(l => l.Split('\t'))] : [];
    }

    /// <summary>
    /// The executor checks every scenario ends with, after the report accounting (<see cref="FaultWorld.AccountAsync"/>):
    /// each attempt run at most once (one line in runs.log, at most one <c>zfs receive</c> with its context), each
    /// published exactly once with one content, and every published outcome recorded by the witness as that outcome
    /// from the executor's broker user.
    /// </summary>
    public async Task<ExecutorAccounting> AccountExecutorAsync()
    {
        var runs = Runs();
        var attemptsRun = runs.Select(r => r[1]).ToList();
        attemptsRun.ShouldBeUnique($"an attempt ran twice:\n{Diagnostics()}");
        var receives = Fleet.ReadLog().Where(e => e.Tool == "zfs" && e.Context is not null && e.Argv.Count > 0 && e.Argv[0] is "receive" or "recv")
            .GroupBy(e => e.Context!).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        receives.ShouldBeEmpty($"an attempt's zfs receive ran twice:\n{Diagnostics()}");

        var outcomes = await DrainOutcomesAsync();
        var twice = outcomes.GroupBy(o => (o.InstructionId, o.Attempt)).Where(g => g.Count() > 1).Select(g => $"{g.Key.InstructionId}/{g.Key.Attempt}").ToList();
        twice.ShouldBeEmpty("an attempt's outcome was published more than once");
        // A run the executor finished is in runs.log; one cut by a SIGKILL is not, and is reported at the next start.
        var cut = outcomes.Where(o => o.Error == CutError).Select(o => $"{o.InstructionId}/{o.Attempt}").ToList();
        cut.ShouldAllBe(id => !attemptsRun.Contains(id), "an attempt reported cut had finished");
        attemptsRun.Concat(cut).Order(StringComparer.Ordinal).ShouldBe(
            outcomes.Select(o => $"{o.InstructionId}/{o.Attempt}").Order(StringComparer.Ordinal),
            $"every run the executor recorded or left cut published its outcome, and no outcome without a run\n{Diagnostics()}");

        var attempts = await AttemptsAsync();
        foreach (var outcome in outcomes)
        {
            attempts.TryGetValue((outcome.InstructionId, outcome.Attempt), out var recorded).ShouldBeTrue($"the witness knows attempt {outcome.InstructionId}/{outcome.Attempt}");
            recorded.Outcome.ShouldBe(outcome.Kind, $"the witness recorded the outcome of {outcome.InstructionId}/{outcome.Attempt}");
            recorded.ExecutorUser.ShouldBe(ExecutorUser);
            outcome.UserId.ShouldBe(ExecutorUser, "outcomes carry the executor's validated user-id");
        }

        attempts.Values.ShouldAllBe(a => a.Outcome != null, "no attempt left outstanding");
        return new ExecutorAccounting(attempts.Count, outcomes.Count(o => o.Kind == "completed"), outcomes.Count(o => o.Kind == "failed"),
            cut.Count,
            Fleet.ReadLog().Count(e => e.Tool == "zfs" && e.Argv.Count > 1 && e.Argv[0] == "send" && e.Argv.Contains("-t")));
    }

    public string Diagnostics()
    {
        var text = new StringBuilder();
        var source = Fleet.Read("nas1").Find(SourceDataset);
        var target = Fleet.Read("backup1").Find(TargetDataset);
        text.AppendLine(CultureInfo.InvariantCulture, $"nas1 {SourceDataset}: {string.Join(' ', source?.Snapshots.Select(s => s.Name) ?? [])}");
        text.AppendLine(CultureInfo.InvariantCulture, $"backup1 {TargetDataset}: {string.Join(' ', target?.Snapshots.Select(s => s.Name) ?? [])}{(target?.Partial is { } p ? $" (partial receive of {p.ToName}, {p.Bytes} bytes)" : "")}");
        text.AppendLine("--- runs.log");
        foreach (var run in Runs())
        {
            text.AppendLine(string.Join('\t', run));
        }

        foreach (var executor in _executors)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"--- {executor.Name} ({executor.State}); its last lines:");
            text.AppendLine(executor.Tail(30));
        }

        foreach (var witness in World.Witnesses)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"--- {witness.Name} ({witness.State}); its last lines:");
            text.AppendLine(string.Join('\n', witness.Lines.Where(l => !l.Contains(" fail: Microsoft.EntityFrameworkCore", StringComparison.Ordinal)).TakeLast(30)));
        }

        return text.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var executor in _executors)
        {
            await executor.DisposeAsync();
        }

        await World.DisposeAsync();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>A program's build output, copied once per run (a rebuild meanwhile cannot disturb the running copy).</summary>
    internal static string CopyBuild(string metadataKey, string dll)
    {
        var source = typeof(ExecutorFleet).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == metadataKey).Value!;
        if (!File.Exists(Path.Combine(source, dll)))
        {
            throw new InvalidOperationException($"{dll} is not built in {source} (build tests/Fault.Tests, which builds it)");
        }

        var target = Directory.CreateTempSubdirectory("zfssync-fault-program-").FullName;
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            var destination = Path.Combine(target, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
            File.Copy(file, destination);
        }

        return target;
    }
}

/// <summary>An outcome as the executor published it (the probe's copy) with its AMQP user-id.</summary>
public sealed record PublishedOutcome(Guid InstructionId, int Attempt, string Kind, string Error, string UserId, string Body);

/// <summary>Attempts the witness issued, outcomes published (completed / failed, of which cut by a restart), resumed sends.</summary>
public sealed record ExecutorAccounting(int Attempts, int Completed, int Failed, int CutByRestart, int ResumedSends)
{
    public override string ToString() =>
        $"{Attempts} attempts, each run at most once and reported once: {Completed} completed + {Failed} failed ({CutByRestart} cut by a restart); {ResumedSends} sends resumed from a token";
}

/// <summary>An executor as a separate process: <c>dotnet ZfsSync.Executor.dll</c>, configured through the environment.</summary>
public sealed class ExecutorProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();

    private ExecutorProcess(Process process, string name)
    {
        _process = process;
        Name = name;
    }

    public string Name { get; }
    public string State => _process.HasExited ? $"exited with {_process.ExitCode}" : "running";
    public IEnumerable<string> Lines => _lines;

    public static async Task<ExecutorProcess> StartAsync(string name, string dll, IReadOnlyDictionary<string, string> environment)
    {
        var start = new ProcessStartInfo(WitnessProcess.DotNet, [dll])
        {
            WorkingDirectory = Path.GetDirectoryName(dll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("ZFS_SYNC_", StringComparison.Ordinal) || k.StartsWith("ZFSEMU_", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(key);
        }

        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        start.Environment["MASSTRANSIT_USAGE_TELEMETRY"] = "false";
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        var process = new Process { StartInfo = start };
        var executor = new ExecutorProcess(process, name);
        process.OutputDataReceived += (_, e) => executor.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => executor.Keep(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var started = await Poll.HoldsAsync(
            () => Task.FromResult(process.HasExited || executor._lines.Any(l => l.Contains("Executor for hosts", StringComparison.Ordinal))),
            TimeSpan.FromSeconds(90),
            TimeSpan.FromMilliseconds(100));
        if (!started || process.HasExited)
        {
            var output = executor.Tail(60);
            await executor.DisposeAsync();
            throw new InvalidOperationException($"executor {name} did not start:\n{output}");
        }

        return executor;
    }

    /// <summary>SIGKILL of the executor alone (its runs are process groups of their own: the pipes it owned break).</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: false);
        }

        await _process.WaitForExitAsync();
    }

    public string Tail(int count) => string.Join('\n', _lines.TakeLast(count));

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        _lines.Enqueue(line);
        while (_lines.Count > 5000 && _lines.TryDequeue(out _))
        {
        }
    }
}
