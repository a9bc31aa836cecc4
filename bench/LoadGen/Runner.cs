using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using HdrHistogram;
using MassTransit.Serialization;
using Npgsql;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;
using ZfsSync.Contracts;

namespace ZfsSync.LoadGen;

/// <summary>
/// One measurement of one consumer: the fleet's first inventories, an unchanged re-report, a heartbeat burst, the
/// steady load (heartbeats, periodic reports, new snapshots on sources, and — against the witness — the executor's
/// round trips), then the drain. The same stages, with the same messages, run against the witness and the bare consumer.
/// </summary>
public sealed class Runner
{
    private readonly LoadGenOptions _options;
    private readonly BrokerAdmin _admin;
    private readonly Progress _progress;
    private readonly string _vhost;
    private readonly bool _witness;
    private readonly Fleet _fleet;
    private readonly Func<int, (string Exchange, string RoutingKey, string? UserId)> _heartbeatRoute;
    private readonly Func<int, (string Exchange, string RoutingKey, string? UserId)> _reportRoute;
    private readonly LongHistogram _latency = new(3_600_000_000L, 3);
    private readonly Lock _latencyLock = new();
    private readonly Lock _trackLock = new();
    private readonly long[,] _pendingSince;
    private readonly bool[,] _outstanding;
    private readonly ConcurrentDictionary<Guid, long> _trackedReports = new();
    private readonly ConcurrentDictionary<(Guid, int), byte> _seenInstructions = new();
    private readonly ConcurrentQueue<string> _rejections = new();
    private long _heartbeats;
    private long _reports;
    private long _snapshotsReported;
    private long _newSnapshots;
    private long _instructions;
    private long _roundTrips;
    private long _echoes;
    private long _rejected;
    private long _maxDepth;
    private string _maxDepthQueue = "";

    public Runner(LoadGenOptions options, BrokerAdmin admin, Progress progress, string vhost, bool witness,
        Func<int, (string, string, string?)> heartbeatRoute, Func<int, (string, string, string?)> reportRoute)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _admin = admin;
        _progress = progress;
        _vhost = vhost;
        _witness = witness;
        _heartbeatRoute = heartbeatRoute;
        _reportRoute = reportRoute;
        _fleet = new Fleet(options.Hosts, options.EffectiveGroups, options.Datasets, options.Snapshots);
        _pendingSince = new long[_fleet.GroupCount, _fleet.DatasetCount];
        _outstanding = new bool[_fleet.GroupCount, _fleet.DatasetCount];
    }

    public string Name => _witness ? "witness" : "bare";

    /// <summary>The witness's database (to count processed reports), or null for the bare consumer.</summary>
    public string? Database { get; init; }

    /// <summary>Starts the witness again with the same configuration and environment (stage 6, the restart); null: no restart stage.</summary>
    public Func<CancellationToken, Task<ConsumerProcess>>? Restart { get; init; }

    /// <summary>The witness process started by the restart stage, once it ran (its caller disposes it).</summary>
    public ConsumerProcess? Restarted { get; private set; }

    /// <summary>How long the witness may take to exit after SIGTERM (systemd's default stop timeout is 90 s).</summary>
    public static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(90);

    /// <summary>How long the restarted witness may take until every group's start-up announcement is applied.</summary>
    public static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(120);

    /// <summary>The executor user and password (witness only).</summary>
    public (string User, string Password)? Executor { get; init; }

    public IReadOnlyList<string> HeartbeatQueues => _witness ? ["heartbeat"] : [BareConsumer.HeartbeatQueue];
    public IReadOnlyList<string> ConsumerQueues => _witness
        ? ["inventory-ingest", "heartbeat", "sync-group-state", "host-status-router"]
        : [BareConsumer.InventoryQueue, BareConsumer.HeartbeatQueue];

    public long Behind => _fleet.Behind();
    public IReadOnlyCollection<string> Rejections => _rejections;
    public long RejectedCount => Interlocked.Read(ref _rejected);

    /// <summary>Runs every stage; throws <see cref="NoAnswerException"/> when the consumer did not answer in time.</summary>
    public async Task<ConsumerResult> RunAsync(ConsumerProcess consumer, Publisher publisher, Publisher observer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(consumer);
        ArgumentNullException.ThrowIfNull(publisher);
        ArgumentNullException.ThrowIfNull(observer);
        await using var listen = await observer.Connection.CreateChannelAsync(cancellationToken: cancellationToken);
        await ListenAsync(listen, cancellationToken);
        IConnection? executorConnection = null;
        IChannel? executorChannel = null;
        if (_witness)
        {
            (executorConnection, executorChannel) = await StartExecutorAsync(publisher, cancellationToken);
        }

        // Every host heartbeats from the start to the end, as a live fleet does: the witness issues instructions only
        // while both members are online (two missed heartbeats make a host late).
        using var stopHeartbeats = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        await Task.WhenAll(Enumerable.Range(0, _fleet.HostCount).Select(h => HeartbeatAsync(publisher, h, cancellationToken)));
        var reports = Task.CompletedTask;
        var heartbeats = PeriodicAsync(_options.HeartbeatInterval, h => HeartbeatAsync(publisher, h, stopHeartbeats.Token), stopHeartbeats.Token);
        try
        {
            var timeout = TimeSpan.FromSeconds(_options.DrainSeconds);

            // 1. The first inventories of the whole fleet, as when every reporter starts at once.
            var sentBefore = Interlocked.Read(ref _reports);
            var snapshotsBefore = Interlocked.Read(ref _snapshotsReported);
            var watch = Stopwatch.StartNew();
            await ReportAllAsync(publisher, cancellationToken);
            await WaitAccountedAsync("first inventories", timeout, cancellationToken);
            var firstSeconds = watch.Elapsed.TotalSeconds;
            var firstReports = Interlocked.Read(ref _reports) - sentBefore;
            var firstSnapshots = Interlocked.Read(ref _snapshotsReported) - snapshotsBefore;
            _progress.Line($"{Name}: first inventories, {firstReports:N0} reports with {firstSnapshots:N0} snapshots, applied in {firstSeconds:N2} s");

            // 2. The same inventories again, unchanged.
            watch.Restart();
            await ReportAllAsync(publisher, cancellationToken);
            await WaitAccountedAsync("unchanged re-report", timeout, cancellationToken);
            var reReportSeconds = watch.Elapsed.TotalSeconds;
            _progress.Line($"{Name}: unchanged re-report applied in {reReportSeconds:N2} s");

            // 3. A burst of heartbeats: the consumer's capacity.
            var burst = _options.EffectiveBurst;
            var burstCpu = consumer.CpuTime();
            watch.Restart();
            if (burst > 0)
            {
                await BurstAsync(publisher, burst, cancellationToken);
                await WaitEmptyAsync(observer, HeartbeatQueues, "heartbeat burst", timeout, cancellationToken);
            }

            var burstSeconds = watch.Elapsed.TotalSeconds;
            var burstCpuSeconds = (consumer.CpuTime() - burstCpu).TotalSeconds;
            _progress.Line($"{Name}: {burst:N0} heartbeats consumed in {burstSeconds:N2} s");

            // 4. The steady load. From here on every host also reports its whole inventory every --report-interval, to
            // the end (a live fleet keeps reporting; the witness waits for the target's next inventory when a completion
            // was recorded after the one it had).
            reports = PeriodicAsync(_options.ReportInterval, h => ReportAsync(publisher, h, null, stopHeartbeats.Token), stopHeartbeats.Token);
            var steady = await SteadyAsync(consumer, publisher, cancellationToken);

            // 5. The drain: queues back to empty; against the witness, every round trip finished.
            watch.Restart();
            await WaitEmptyAsync(observer, ConsumerQueues, "drain", timeout, cancellationToken);
            var drainSeconds = watch.Elapsed.TotalSeconds;
            if (_witness)
            {
                await WaitCaughtUpAsync("drain", consumer, timeout, $"{_options.DrainSeconds} s after the load stopped", cancellationToken);
                if (Interlocked.Read(ref _newSnapshots) > 0 && Interlocked.Read(ref _instructions) == 0)
                {
                    throw new NoAnswerException("the witness did not answer: snapshots were added to sources but no instruction arrived");
                }
            }

            // 6. The restart (witness only): stopped with SIGTERM, started again with the same configuration while the
            // fleet keeps heartbeating and reporting; an unchanged configuration should plan nothing.
            var restart = RestartFigures.None;
            var cpuBefore = TimeSpan.Zero;
            var peakRss = 0L;
            if (_witness && Restart is not null)
            {
                peakRss = consumer.PeakRss();
                restart = await RestartAsync(consumer, observer, timeout, cancellationToken);
                cpuBefore = restart.OldCpu;
                consumer = restart.Process!;
            }

            return new ConsumerResult
            {
                Name = Name,
                FirstReports = firstReports,
                FirstSnapshots = firstSnapshots,
                FirstSeconds = firstSeconds,
                ReReportSeconds = reReportSeconds,
                BurstHeartbeats = burst,
                BurstSeconds = burstSeconds,
                BurstCpuSeconds = burstCpuSeconds,
                SteadySeconds = steady.Seconds,
                SteadyHeartbeats = steady.Heartbeats,
                SteadyReports = steady.Reports,
                SteadySnapshotsReported = steady.Snapshots,
                NewSnapshots = Interlocked.Read(ref _newSnapshots),
                Instructions = Interlocked.Read(ref _instructions),
                RoundTrips = Interlocked.Read(ref _roundTrips),
                Latency = LatencyNow(),
                MaxQueueDepth = Interlocked.Read(ref _maxDepth),
                MaxQueueDepthQueue = _maxDepthQueue,
                DrainSeconds = drainSeconds,
                SteadyCpuSeconds = steady.Cpu,
                RestartReadySeconds = restart.ReadySeconds,
                RestartPlannedGroups = restart.PlannedGroups,
                RestartInstructions = restart.Instructions,
                RestartCpuSeconds = restart.CpuSeconds,
                CpuSeconds = (cpuBefore + consumer.CpuTime()).TotalSeconds,
                PeakRssBytes = Math.Max(peakRss, consumer.PeakRss()),
            };
        }
        finally
        {
            await stopHeartbeats.CancelAsync();
            await heartbeats;
            await reports;
            if (executorChannel is not null)
            {
                await executorChannel.DisposeAsync();
            }

            if (executorConnection is not null)
            {
                await executorConnection.DisposeAsync();
            }
        }
    }

    private Latency LatencyNow()
    {
        lock (_latencyLock)
        {
            return Latency.From(_latency);
        }
    }

    private void Record(long since)
    {
        var micros = (long)Stopwatch.GetElapsedTime(since).TotalMicroseconds;
        lock (_latencyLock)
        {
            _latency.RecordValue(Math.Clamp(micros, 1, 3_600_000_000L));
        }
    }

    private sealed record Steady(double Seconds, long Heartbeats, long Reports, long Snapshots, double Cpu);

    private async Task<Steady> SteadyAsync(ConsumerProcess consumer, Publisher publisher, CancellationToken cancellationToken)
    {
        var heartbeatsBefore = Interlocked.Read(ref _heartbeats);
        var reportsBefore = Interlocked.Read(ref _reports);
        var snapshotsBefore = Interlocked.Read(ref _snapshotsReported);
        var cpuBefore = consumer.CpuTime();
        var start = Stopwatch.GetTimestamp();
        var duration = TimeSpan.FromSeconds(_options.SteadySecondsPerConsumer);

        var sourceDatasets = _fleet.GroupCount * _fleet.DatasetCount;
        var snapshotsPerSecond = _options.NewSnapshotPercent / 100.0 * sourceDatasets / 60.0;
        var random = new Random(15);
        long added = 0;
        var nextSample = 0.0;
        var nextShow = 0.0;
        var pending = new List<Task>();
        while (true)
        {
            var now = Stopwatch.GetElapsedTime(start);
            if (now >= duration)
            {
                break;
            }

            var t = now.TotalSeconds;
            var changes = new Dictionary<int, List<int>>();
            while (added < (long)(snapshotsPerSecond * t))
            {
                added++;
                var group = random.Next(_fleet.GroupCount);
                var dataset = random.Next(_fleet.DatasetCount);
                var source = _fleet.SourceOf(group);
                (changes.TryGetValue(source, out var list) ? list : changes[source] = []).Add(dataset);
            }

            foreach (var (source, datasets) in changes)
            {
                pending.Add(NewSnapshotsAsync(publisher, source, datasets, cancellationToken));
            }

            // The management API refreshes its counts every 5 s: earlier samples would still show the burst's queue.
            if (t >= nextSample && t >= 5)
            {
                nextSample = t + 1;
                pending.Add(SampleDepthsAsync(cancellationToken));
            }

            if (t >= nextShow)
            {
                nextShow = t + 1;
                Show($"steady {t:0}/{_options.SteadySecondsPerConsumer:0} s", consumer);
            }

            await Task.WhenAll(pending); // back-pressure: a slow broker slows the fleet, and the figures say so
            pending.Clear();
            var wait = TimeSpan.FromMilliseconds(100) - (Stopwatch.GetElapsedTime(start) - now);
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, cancellationToken); // the fleet's pace
            }
        }

        var seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        Show("steady done", consumer);
        return new Steady(
            seconds,
            Interlocked.Read(ref _heartbeats) - heartbeatsBefore,
            Interlocked.Read(ref _reports) - reportsBefore,
            Interlocked.Read(ref _snapshotsReported) - snapshotsBefore,
            (consumer.CpuTime() - cpuBefore).TotalSeconds);
    }

    private void Show(string stage, ConsumerProcess consumer)
    {
        var latency = LatencyNow();
        _progress.Update(Name, stage, [
            ("heartbeats sent", Interlocked.Read(ref _heartbeats).ToString("N0", System.Globalization.CultureInfo.InvariantCulture)),
            ("reports sent", Interlocked.Read(ref _reports).ToString("N0", System.Globalization.CultureInfo.InvariantCulture)),
            ("new snapshots", Interlocked.Read(ref _newSnapshots).ToString("N0", System.Globalization.CultureInfo.InvariantCulture)),
            (_witness ? "instructions / round trips" : "echoes", _witness ? $"{Interlocked.Read(ref _instructions):N0} / {Interlocked.Read(ref _roundTrips):N0}" : Interlocked.Read(ref _echoes).ToString("N0", System.Globalization.CultureInfo.InvariantCulture)),
            ("latency p50 / p99 / max", latency.Count == 0 ? "–" : $"{latency.P50:N1} / {latency.P99:N1} / {latency.Max:N1} ms ({latency.Count:N0})"),
            ("max queue depth", $"{Interlocked.Read(ref _maxDepth):N0} {_maxDepthQueue}"),
            ("CPU / peak RSS", $"{consumer.CpuTime().TotalSeconds:N1} s / {consumer.PeakRss() / 1048576.0:N0} MB"),
            ("rejected reports", Interlocked.Read(ref _rejected).ToString("N0", System.Globalization.CultureInfo.InvariantCulture)),
        ]);
    }

    /// <summary>Each host's heartbeat (or whole inventory) every <paramref name="interval"/> seconds, spread evenly over the period, until stopped.</summary>
    private async Task PeriodicAsync(double interval, Func<int, Task> send, CancellationToken cancellationToken)
    {
        var hosts = _fleet.HostCount;
        var next = new double[hosts];
        for (var h = 0; h < hosts; h++)
        {
            next[h] = interval * (h + 1) / hosts;
        }

        var start = Stopwatch.GetTimestamp();
        var pending = new List<Task>();
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var t = Stopwatch.GetElapsedTime(start).TotalSeconds;
                for (var h = 0; h < hosts; h++)
                {
                    if (next[h] <= t)
                    {
                        next[h] += interval;
                        pending.Add(send(h));
                    }
                }

                await Task.WhenAll(pending);
                pending.Clear();
                await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken); // the fleet's pace
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async Task HeartbeatAsync(Publisher publisher, int host, CancellationToken cancellationToken)
    {
        var (exchange, key, user) = _heartbeatRoute(host);
        await publisher.PublishRawAsync(exchange, key, Fleet.Heartbeat(host, _options.HeartbeatInterval), user, cancellationToken);
        Interlocked.Increment(ref _heartbeats);
    }

    private async Task NewSnapshotsAsync(Publisher publisher, int source, List<int> datasets, CancellationToken cancellationToken)
    {
        await ReportAsync(publisher, source, datasets, cancellationToken);
    }

    /// <summary>Builds and publishes a host's report under its lock; with <paramref name="newSnapshotsOn"/>, those datasets get a snapshot first and the report's latency is tracked.</summary>
    private async Task ReportAsync(Publisher publisher, int host, List<int>? newSnapshotsOn, CancellationToken cancellationToken)
    {
        var gate = _fleet.Locks[host];
        await gate.WaitAsync(cancellationToken);
        try
        {
            var group = _fleet.GroupOf(host);
            if (newSnapshotsOn is not null)
            {
                foreach (var d in newSnapshotsOn)
                {
                    _fleet.AddSnapshot(host, d);
                    Interlocked.Increment(ref _newSnapshots);
                }
            }

            var report = _fleet.Report(host);
            var sentAt = Stopwatch.GetTimestamp();
            if (newSnapshotsOn is not null)
            {
                if (_witness)
                {
                    lock (_trackLock)
                    {
                        foreach (var d in newSnapshotsOn)
                        {
                            if (!_outstanding[group, d] && _pendingSince[group, d] == 0)
                            {
                                _pendingSince[group, d] = sentAt;
                            }
                        }
                    }
                }
                else
                {
                    _trackedReports[report.ReportId] = sentAt;
                }
            }

            var (exchange, key, user) = _reportRoute(host);
            await publisher.PublishRawAsync(exchange, key, report, user, cancellationToken);
            Interlocked.Increment(ref _reports);
            Interlocked.Add(ref _snapshotsReported, report.Datasets.Sum(d => (long)d.Snapshots.Count));
        }
        finally
        {
            gate.Release();
        }
    }

    private async Task ReportAllAsync(Publisher publisher, CancellationToken cancellationToken)
    {
        using var limit = new SemaphoreSlim(16);
        var tasks = Enumerable.Range(0, _fleet.HostCount).Select(async h =>
        {
            await limit.WaitAsync(cancellationToken);
            try
            {
                await ReportAsync(publisher, h, null, cancellationToken);
            }
            finally
            {
                limit.Release();
            }
        });
        await Task.WhenAll(tasks);
    }

    private async Task BurstAsync(Publisher publisher, int count, CancellationToken cancellationToken)
    {
        const int InFlight = 64;
        var next = -1;
        var workers = Enumerable.Range(0, InFlight).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                await HeartbeatAsync(publisher, i % _fleet.HostCount, cancellationToken);
            }
        });
        await Task.WhenAll(workers);
    }

    /// <summary>Until every replicated dataset caught up with its source (bounded polling, progress every second).</summary>
    private async Task WaitCaughtUpAsync(string stage, ConsumerProcess consumer, TimeSpan timeout, string when, CancellationToken cancellationToken)
    {
        var shown = Stopwatch.StartNew();
        var done = await PollAsync(() =>
        {
            var behind = _fleet.Behind();
            if (shown.Elapsed >= TimeSpan.FromSeconds(1))
            {
                shown.Restart();
                Show($"{stage}: {behind:N0} datasets behind their source", consumer);
            }

            return Task.FromResult(behind == 0);
        }, timeout, cancellationToken);
        if (!done)
        {
            throw new NoAnswerException(
                $"the witness did not answer: {stage}: {_fleet.Behind()} of {_fleet.GroupCount * _fleet.DatasetCount} replicated datasets still behind their source "
                + $"{when} ({Interlocked.Read(ref _instructions)} instructions received, {Interlocked.Read(ref _roundTrips)} round trips)");
        }
    }

    private sealed record RestartFigures(ConsumerProcess? Process, TimeSpan OldCpu, double ReadySeconds, double PlannedGroups, double Instructions, double CpuSeconds)
    {
        public static readonly RestartFigures None = new(null, TimeSpan.Zero, double.NaN, double.NaN, double.NaN, double.NaN);
    }

    /// <summary>
    /// Stage 6: SIGTERM to the witness (bounded wait for its exit), its groups' planning state noted, the same witness
    /// started again; the time until every group's <c>ConfigLoadedAt</c> is after the stop, then until the queues are
    /// empty and every dataset still caught up; then the groups planned again and the instructions issued since the stop.
    /// </summary>
    private async Task<RestartFigures> RestartAsync(ConsumerProcess consumer, Publisher observer, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var cpuStart = consumer.CpuTime();
        Show("restart: SIGTERM", consumer);
        var stopWatch = Stopwatch.StartNew();
        var (exited, oldCpu) = await consumer.TerminateAsync(StopTimeout, cancellationToken);
        if (!exited)
        {
            throw new NoAnswerException($"the witness did not answer: restart: it had not exited {StopTimeout.TotalSeconds:0} s after SIGTERM");
        }

        var stoppedAt = DateTimeOffset.UtcNow;
        var noted = await GroupPlanningAsync(cancellationToken);
        _progress.Line($"witness: restart: exited {stopWatch.Elapsed.TotalSeconds:N2} s after SIGTERM (exit status {consumer.ExitCode}); {noted.Count:N0} groups, "
            + $"{noted.Count(g => g.PlannedAt is not null):N0} planned, planner versions {string.Join(", ", noted.Select(g => g.PlannerVersion?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none").Distinct())}");

        var watch = Stopwatch.StartNew();
        var restarted = await Restart!(cancellationToken);
        Restarted = restarted;
        _progress.Line($"witness: restart: started again in {watch.Elapsed.TotalSeconds:N1} s (pid {restarted.Pid})");
        long loaded = 0;
        var shown = Stopwatch.StartNew();
        var ready = await PollAsync(async () =>
        {
            if (restarted.HasExited)
            {
                return true;
            }

            loaded = await CountAsync("SELECT count(*) FROM sync_groups WHERE \"ConfigLoadedAt\" > @stop", stoppedAt, cancellationToken);
            if (shown.Elapsed >= TimeSpan.FromSeconds(1))
            {
                shown.Restart();
                Show($"restart: {loaded:N0} of {_fleet.GroupCount:N0} announcements applied", restarted);
            }

            return loaded >= _fleet.GroupCount;
        }, ReadyTimeout, cancellationToken);
        var readySeconds = watch.Elapsed.TotalSeconds;
        if (!ready || restarted.HasExited)
        {
            throw new NoAnswerException($"the witness did not answer: restart: {loaded:N0} of {_fleet.GroupCount:N0} groups' start-up announcements applied "
                + (restarted.HasExited ? $"when the restarted witness exited (status {restarted.ExitCode})" : $"{ReadyTimeout.TotalSeconds:0} s after its start"));
        }

        _progress.Line($"witness: restart: every group's announcement applied {readySeconds:N2} s after the start");

        // Whatever the restart set off is answered before it is counted: the queues empty, every dataset still caught up.
        await WaitEmptyAsync(observer, ConsumerQueues, "restart", timeout, cancellationToken);
        await WaitCaughtUpAsync("restart", restarted, timeout, $"{timeout.TotalSeconds:0} s after the restart", cancellationToken);
        var planned = await CountAsync("SELECT count(*) FROM sync_groups WHERE \"PlannedAt\" > @stop", stoppedAt, cancellationToken);
        var instructions = await CountAsync("SELECT count(*) FROM instruction_attempts WHERE \"IssuedAt\" > @stop", stoppedAt, cancellationToken);
        var cpu = oldCpu - cpuStart + restarted.CpuTime();
        if (planned > 0)
        {
            var names = (await GroupPlanningAsync(cancellationToken)).Where(g => g.PlannedAt > stoppedAt).Select(g => g.Name).Take(5);
            _progress.Line($"witness: restart: {planned:N0} groups planned again, e.g. {string.Join(", ", names)}");
        }

        _progress.Line($"witness: restart: {planned:N0} groups planned again, {instructions:N0} instructions issued, {cpu.TotalSeconds:N1} s of CPU");
        return new RestartFigures(restarted, oldCpu, readySeconds, planned, instructions, cpu.TotalSeconds);
    }

    /// <summary>Each group's planning state (<c>sync_groups</c>).</summary>
    private async Task<List<(string Name, DateTimeOffset? PlannedAt, int? PlannerVersion, DateTimeOffset ConfigLoadedAt)>> GroupPlanningAsync(CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(Database);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("SELECT \"Name\", \"PlannedAt\", \"PlannerVersion\", \"ConfigLoadedAt\" FROM sync_groups ORDER BY \"Name\"", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var groups = new List<(string, DateTimeOffset?, int?, DateTimeOffset)>();
        while (await reader.ReadAsync(cancellationToken))
        {
            groups.Add((
                reader.GetString(0),
                reader.IsDBNull(1) ? null : reader.GetFieldValue<DateTimeOffset>(1),
                reader.IsDBNull(2) ? null : reader.GetInt32(2),
                reader.GetFieldValue<DateTimeOffset>(3)));
        }

        return groups;
    }

    /// <summary>A count from the witness's database with the stop time as <c>@stop</c>.</summary>
    private async Task<long> CountAsync(string sql, DateTimeOffset stop, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(Database);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("stop", stop.UtcDateTime);
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Processed (witness: rows of <c>processed_reports</c>; bare: echoes) plus rejected reports.</summary>
    private async Task<long> AccountedAsync(CancellationToken cancellationToken)
    {
        if (Database is null)
        {
            return Interlocked.Read(ref _echoes);
        }

        await using var connection = new NpgsqlConnection(Database);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("SELECT count(*) FROM processed_reports", connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture) + Interlocked.Read(ref _rejected);
    }

    private async Task WaitAccountedAsync(string stage, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var sent = Interlocked.Read(ref _reports);
        long accounted = 0;
        var done = await PollAsync(async () => (accounted = await AccountedAsync(cancellationToken)) >= sent, timeout, cancellationToken);
        if (!done)
        {
            throw new NoAnswerException($"the {Name} did not answer: {stage}: {accounted:N0} of {sent:N0} reports processed after {timeout.TotalSeconds:0} s");
        }
    }

    /// <summary>Until every queue named holds no ready message (AMQP passive declare: exact, but the at most prefetch in flight are not seen).</summary>
    private async Task WaitEmptyAsync(Publisher observer, IReadOnlyList<string> queues, string stage, TimeSpan timeout, CancellationToken cancellationToken)
    {
        await using var channel = await observer.Connection.CreateChannelAsync(cancellationToken: cancellationToken);
        uint left = 0;
        var done = await PollAsync(async () =>
        {
            left = 0;
            foreach (var queue in queues)
            {
                try
                {
                    left += (await channel.QueueDeclarePassiveAsync(queue, cancellationToken)).MessageCount;
                }
                catch (OperationInterruptedException)
                {
                    return false;
                }
            }

            return left == 0;
        }, timeout, cancellationToken);
        if (!done)
        {
            throw new NoAnswerException($"the {Name} did not answer: {stage}: {left:N0} messages still queued after {timeout.TotalSeconds:0} s");
        }
    }

    private static async Task<bool> PollAsync(Func<Task<bool>> condition, TimeSpan timeout, CancellationToken cancellationToken, TimeSpan? every = null)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            if (await condition())
            {
                return true;
            }

            if (watch.Elapsed >= timeout)
            {
                return false;
            }

            await Task.Delay(every ?? TimeSpan.FromMilliseconds(50), cancellationToken); // bounded polling
        }
    }

    private async Task SampleDepthsAsync(CancellationToken cancellationToken)
    {
        try
        {
            var depths = await _admin.QueueDepthsAsync(_vhost, cancellationToken);
            foreach (var (queue, depth) in depths)
            {
                if (depth > Interlocked.Read(ref _maxDepth))
                {
                    Interlocked.Exchange(ref _maxDepth, depth);
                    _maxDepthQueue = queue;
                }
            }
        }
        catch (HttpRequestException)
        {
            // A missed sample; the next one counts.
        }
    }

    /// <summary>The observer's queue: rejections (witness) or echoes (bare).</summary>
    private async Task ListenAsync(IChannel channel, CancellationToken cancellationToken)
    {
        var queue = (await channel.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true, cancellationToken: cancellationToken)).QueueName;
        var type = _witness ? nameof(InventoryRejected) : nameof(SyncInstructionIssued);
        var exchange = $"ZfsSync.Contracts:{type}";
        await channel.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: cancellationToken);
        await channel.QueueBindAsync(queue, exchange, "", cancellationToken: cancellationToken);
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, delivery) =>
        {
            var body = Message(delivery.Body.Span);
            if (_witness)
            {
                Interlocked.Increment(ref _rejected);
                if (_rejections.Count < 5)
                {
                    _rejections.Enqueue(body.TryGetProperty("reason", out var reason) ? reason.GetString() ?? "" : body.GetRawText());
                }
            }
            else
            {
                Interlocked.Increment(ref _echoes);
                if (body.TryGetProperty("instructionId", out var id) && _trackedReports.TryRemove(id.GetGuid(), out var since))
                {
                    Record(since);
                }
            }

            return Task.CompletedTask;
        };
        await channel.BasicConsumeAsync(queue, autoAck: true, consumer, cancellationToken);
    }

    /// <summary>The message of a MassTransit envelope, or the raw JSON body.</summary>
    private static JsonElement Message(ReadOnlySpan<byte> body)
    {
        using var document = JsonDocument.Parse(body.ToArray());
        var root = document.RootElement;
        return (root.TryGetProperty("message", out var message) && root.TryGetProperty("messageType", out _) ? message : root).Clone();
    }

    /// <summary>The executor: reads the executor user's inbox, answers each instruction with its outcome and then the target's updated inventory.</summary>
    private async Task<(IConnection, IChannel)> StartExecutorAsync(Publisher reporter, CancellationToken cancellationToken)
    {
        var (user, password) = Executor ?? throw new InvalidOperationException("no executor user");
        var factory = new ConnectionFactory
        {
            HostName = _admin.Host,
            Port = _admin.Port,
            VirtualHost = _vhost,
            UserName = user,
            Password = password,
            ClientProvidedName = "loadgen executor",
            ConsumerDispatchConcurrency = 32,
            AutomaticRecoveryEnabled = false,
        };
        var connection = await factory.CreateConnectionAsync(cancellationToken);
        var outcomes = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), cancellationToken);
        var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        await channel.BasicQosAsync(0, 64, false, cancellationToken);
        var entry = ClientTopology.EntryExchange(ClientTopology.ExecutorRole, user);
        var completedKey = ClientTopology.SharedExchange<SyncInstructionCompleted>();
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += async (_, delivery) =>
        {
            var body = Message(delivery.Body.Span);
            var instruction = body.Deserialize<SyncInstructionIssued>(SystemTextJsonMessageSerializer.Options);
            if (instruction is not null && _seenInstructions.TryAdd((instruction.InstructionId, instruction.Attempt), 0))
            {
                await ExecuteAsync(instruction, reporter, outcomes, entry, completedKey, user, cancellationToken);
            }

            await channel.BasicAckAsync(delivery.DeliveryTag, multiple: false, cancellationToken);
        };
        await channel.BasicConsumeAsync(ClientTopology.InboxQueue(ClientTopology.ExecutorRole, user), autoAck: false, consumer, cancellationToken);
        return (connection, channel);
    }

    private async Task ExecuteAsync(SyncInstructionIssued instruction, Publisher reporter, IChannel outcomes, string entry, string completedKey, string user, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _instructions);
        var group = Fleet.GroupIndex(instruction.SyncGroup);
        var dataset = Fleet.DatasetIndex(instruction.Dataset);
        var target = Fleet.HostIndex(instruction.Target.HostId);
        var number = Fleet.SnapshotNumber(instruction.To.Guid);
        if (group < 0 || group >= _fleet.GroupCount || dataset < 0 || dataset >= _fleet.DatasetCount || target < 0 || number < 0)
        {
            _progress.Line($"executor: an instruction for something this fleet does not have: {instruction.SyncGroup} {instruction.Dataset} → {instruction.Target.HostId} {instruction.To.Name}");
            return;
        }

        lock (_trackLock)
        {
            if (_pendingSince[group, dataset] != 0)
            {
                Record(_pendingSince[group, dataset]);
                _pendingSince[group, dataset] = 0;
            }

            _outstanding[group, dataset] = true;
        }

        var completed = new SyncInstructionCompleted
        {
            InstructionId = instruction.InstructionId,
            Attempt = instruction.Attempt,
            SyncGroup = instruction.SyncGroup,
            ExecutedBy = "loadgen",
            CompletedAt = DateTimeOffset.UtcNow,
            BytesTransferred = 4096L * Math.Max(1, instruction.SnapshotCount),
        };
        await PublishEnvelopeAsync(outcomes, entry, completedKey, completed, user, cancellationToken);

        // The outcome and the target's inventory go to different queues, so either may be applied first, as with a real
        // executor and reporter: the witness counts an inventory that already holds the received snapshot, whichever came first.
        var gate = _fleet.Locks[target];
        await gate.WaitAsync(cancellationToken);
        try
        {
            _fleet.Received(target, dataset, number);
        }
        finally
        {
            gate.Release();
        }

        await ReportAsync(reporter, target, null, cancellationToken);
        Interlocked.Increment(ref _roundTrips);
        lock (_trackLock)
        {
            _outstanding[group, dataset] = false;
            if (_fleet.Newest(_fleet.SourceOf(group), dataset) > _fleet.Newest(target, dataset) && _pendingSince[group, dataset] == 0)
            {
                _pendingSince[group, dataset] = Stopwatch.GetTimestamp(); // the target's report lets the next step be planned
            }
        }
    }

    private static async Task PublishEnvelopeAsync<T>(IChannel channel, string exchange, string routingKey, T message, string userId, CancellationToken cancellationToken)
    {
        var messageId = Guid.NewGuid();
        var envelope = new System.Text.Json.Nodes.JsonObject
        {
            ["messageId"] = messageId.ToString(),
            ["messageType"] = new System.Text.Json.Nodes.JsonArray($"urn:message:{typeof(T).Namespace}:{typeof(T).Name}"),
            ["message"] = JsonSerializer.SerializeToNode(message, SystemTextJsonMessageSerializer.Options),
            ["sentTime"] = DateTimeOffset.UtcNow.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
            ["headers"] = new System.Text.Json.Nodes.JsonObject(),
        };
        var properties = new BasicProperties
        {
            ContentType = "application/vnd.masstransit+json",
            DeliveryMode = DeliveryModes.Persistent,
            MessageId = messageId.ToString(),
            UserId = userId,
        };
        await channel.BasicPublishAsync(exchange, routingKey, mandatory: false, properties, Encoding.UTF8.GetBytes(envelope.ToJsonString()), cancellationToken);
    }
}

/// <summary>The consumer under measurement did not answer in time (exit status 1, the message is the line printed).</summary>
public sealed class NoAnswerException(string message) : Exception(message);
