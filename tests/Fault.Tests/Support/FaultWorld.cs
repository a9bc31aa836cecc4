using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Npgsql;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;

namespace ZfsSync.Fault.Tests.Support;

/// <summary>
/// One scenario: its own vhost and database, witness processes, the reporter streams of nas1 (the source, one more
/// snapshot per report) and backup1 (a copy of the first snapshot), and a durable probe queue that records every
/// <see cref="SyncInstructionIssued"/> and <see cref="InventoryRejected"/> the witness publishes (durable: it survives
/// a broker restart). What was sent is a ledger: a report counts as sent once the broker confirmed it.
/// </summary>
public sealed class FaultWorld : IAsyncDisposable
{
    public const string WitnessUser = "zfssync-witness";
    public const string ProbeQueue = "fault-probe";
    public static readonly string[] WitnessQueues = ["inventory-ingest", "heartbeat", "sync-group-state", "host-status-router", "sync-group-queries"];
    private static readonly DateTimeOffset SnapshotEpoch = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly FaultFixture _fixture;
    private readonly PrivateRabbitMqCluster? _cluster;
    private readonly IReadOnlyList<int> _ports;
    private readonly List<WitnessProcess> _witnesses = [];
    private long _lastSequence;
    private int _started;
    private int _snapshots;

    private FaultWorld(FaultFixture fixture, PrivateRabbitMqCluster? cluster, string vhost, string connectionString)
    {
        _fixture = fixture;
        _cluster = cluster;
        _ports = cluster is null ? [fixture.Broker.Port] : [.. cluster.Nodes.Select(n => n.Port)];
        Vhost = vhost;
        ConnectionString = connectionString;
        // On a cluster each connection goes to one of the nodes (the client shuffles the list), as a reporter's would.
        Nas1 = new HostPublisher(AmqpUri("nas1-user"), "nas1-user", _ports);
        Backup1 = new HostPublisher(AmqpUri("backup1-user"), "backup1-user", _ports);
    }

    public string Vhost { get; }
    public string ConnectionString { get; }
    public HostPublisher Nas1 { get; }
    public HostPublisher Backup1 { get; }

    /// <summary>Reports confirmed by the broker, by id.</summary>
    public ConcurrentDictionary<Guid, SnapshotInventoryReported> Sent { get; } = new();

    public IReadOnlyList<WitnessProcess> Witnesses => _witnesses;

    /// <summary>The witnesses' log lines about faulted messages and failures (for the scenario's output).</summary>
    public IReadOnlyList<string> FailureLines() =>
        [.. _witnesses.SelectMany(w => w.Lines).Where(l => l.Contains("R-FAULT", StringComparison.Ordinal) || l.StartsWith("fail:", StringComparison.Ordinal) || l.Contains(" fail: ", StringComparison.Ordinal))];

    /// <param name="fixture">The suite's servers.</param>
    /// <param name="name">The scenario (its vhost's and database's name).</param>
    /// <param name="cluster">A cluster to run on instead of the suite's node: every program gets all its nodes
    /// (<c>RabbitMq:ClusterNodes</c>) and quorum queues.</param>
    public static async Task<FaultWorld> CreateAsync(FaultFixture fixture, string name, PrivateRabbitMqCluster? cluster = null)
    {
        ArgumentNullException.ThrowIfNull(fixture);
        var suffix = Guid.NewGuid().ToString("N")[..6];
        var vhost = await fixture.CreateVhostAsync($"fault-{name}-{suffix}", cluster?.Nodes[0]);
        var database = await fixture.CreateDatabaseAsync($"fault_{name.Replace('-', '_')}_{suffix}");
        var world = new FaultWorld(fixture, cluster, vhost, database);
        await world.DeclareProbeAsync();
        return world;
    }

    /// <summary>The password of one of the deployment's broker users.</summary>
    public string Password(string user) => _fixture.Passwords[user];

    public Uri AmqpUri(string user) =>
        new($"amqp://{Uri.EscapeDataString(user)}:{_fixture.Passwords[user]}@127.0.0.1:{_ports[0]}/{Uri.EscapeDataString(Vhost)}");

    /// <summary>A connection of the test's own as <paramref name="user"/>, to one of the nodes that answers.</summary>
    public Task<IConnection> ConnectAsync(string user) =>
        new ConnectionFactory { Uri = AmqpUri(user) }.CreateConnectionAsync([.. _ports.Select(p => new AmqpTcpEndpoint("127.0.0.1", p))]);

    /// <summary>The witness's configuration, as environment variables of its process.</summary>
    public Dictionary<string, string> Environment(IReadOnlyDictionary<string, string>? overrides = null)
    {
        var settings = new Dictionary<string, string>
        {
            ["ZFS_SYNC_Database__Provider"] = "PostgreSql",
            // Replicas and scenarios run side by side: none may hold the health/metrics endpoint's fixed default port.
            ["ZFS_SYNC_Observability__Enabled"] = "false",
            ["ZFS_SYNC_Database__ConnectionString"] = ConnectionString,
            ["ZFS_SYNC_RabbitMq__Uri"] = $"amqp://127.0.0.1:{_ports[0]}/{Uri.EscapeDataString(Vhost)}",
            ["ZFS_SYNC_RabbitMq__User"] = WitnessUser,
            ["ZFS_SYNC_RabbitMq__Password"] = _fixture.Passwords[WitnessUser],
            ["ZFS_SYNC_Hosts__0__Id"] = "nas1",
            ["ZFS_SYNC_Hosts__0__ReportsAs"] = "nas1-user",
            ["ZFS_SYNC_Hosts__0__Ssh__Host"] = "nas1.lan",
            ["ZFS_SYNC_Hosts__1__Id"] = "backup1",
            ["ZFS_SYNC_Hosts__1__ReportsAs"] = "backup1-user",
            ["ZFS_SYNC_Hosts__1__Ssh__Host"] = "backup1.lan",
            ["ZFS_SYNC_SyncGroups__0__Name"] = "critical",
            ["ZFS_SYNC_SyncGroups__0__Source"] = "nas1",
            ["ZFS_SYNC_SyncGroups__0__Members__0"] = "nas1",
            ["ZFS_SYNC_SyncGroups__0__Members__1"] = "backup1",
            ["ZFS_SYNC_SyncGroups__0__Datasets__0__Path"] = "tank/data",
            ["ZFS_SYNC_SyncGroups__0__Datasets__0__On__backup1"] = "backup/data",
            ["ZFS_SYNC_Outbox__PollingInterval"] = "00:00:00.500",
            ["ZFS_SYNC_Liveness__SweepInterval"] = "00:00:05",
        };
        if (_cluster is not null)
        {
            settings["ZFS_SYNC_RabbitMq__QuorumQueues"] = "true";
            for (var i = 0; i < _cluster.Addresses.Count; i++)
            {
                settings[$"ZFS_SYNC_RabbitMq__ClusterNodes__{i}"] = _cluster.Addresses[i];
            }
        }

        foreach (var (key, value) in overrides ?? new Dictionary<string, string>())
        {
            settings[key] = value;
        }

        return settings;
    }

    public async Task<WitnessProcess> StartWitnessAsync(IReadOnlyDictionary<string, string>? overrides = null)
    {
        var witness = await WitnessProcess.StartAsync($"witness-{Interlocked.Increment(ref _started)}", Environment(overrides));
        lock (_witnesses)
        {
            _witnesses.Add(witness); // replicas may start side by side
        }

        return witness;
    }

    /// <summary>Both hosts say they are online, and backup1 reports its copy of snapshot 1.</summary>
    public async Task HostsUpAsync(CancellationToken cancellationToken)
    {
        foreach (var (publisher, host) in new[] { (Nas1, "nas1"), (Backup1, "backup1") })
        {
            await publisher.PublishAsync(
                new Heartbeat { HostId = host, SentAt = DateTimeOffset.UtcNow, IntervalSeconds = 3600, AgentVersion = "fault-test", Os = "linux" },
                cancellationToken);
        }

        await SendAsync(Backup1, new SnapshotInventoryReported
        {
            HostId = "backup1",
            ReportId = Guid.NewGuid(),
            Sequence = NextSequence(),
            CapturedAt = DateTimeOffset.UtcNow,
            Roots = ["backup"],
            Datasets = [new DatasetInventory { Name = "backup" }, new DatasetInventory { Name = "backup/data", Snapshots = [Snapshot(1) with { CreateTxg = 5001 }] }],
        }, cancellationToken);
    }

    public static SnapshotInfo Snapshot(int n) => new()
    {
        Name = $"auto-{n}",
        Guid = (ulong)(1_000_000 + n),
        CreateTxg = (ulong)(100 + n),
        CreatedAt = SnapshotEpoch.AddMinutes(n),
        UsedBytes = 4096,
        ReferencedBytes = 1 << 20,
    };

    /// <summary>nas1's next report: one snapshot more than the last (the newest 100 kept, as a pruning host would).</summary>
    public SnapshotInventoryReported NextSourceReport()
    {
        var newest = Interlocked.Increment(ref _snapshots);
        return new SnapshotInventoryReported
        {
            HostId = "nas1",
            ReportId = Guid.NewGuid(),
            Sequence = NextSequence(),
            CapturedAt = DateTimeOffset.UtcNow,
            Roots = ["tank"],
            Datasets =
            [
                new DatasetInventory { Name = "tank" },
                new DatasetInventory { Name = "tank/data", Snapshots = [.. Enumerable.Range(Math.Max(1, newest - 99), Math.Min(newest, 100)).Select(Snapshot)] },
            ],
        };
    }

    /// <summary>Milliseconds since the epoch, strictly increasing (as the reporters hand them out).</summary>
    public long NextSequence()
    {
        while (true)
        {
            var last = Interlocked.Read(ref _lastSequence);
            var next = Math.Max(last + 1, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            if (Interlocked.CompareExchange(ref _lastSequence, next, last) == last)
            {
                return next;
            }
        }
    }

    public async Task SendAsync(HostPublisher publisher, SnapshotInventoryReported report, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(publisher);
        ArgumentNullException.ThrowIfNull(report);
        await publisher.PublishAsync(report, cancellationToken);
        Sent[report.ReportId] = report;
    }

    /// <summary>nas1 reports every <paramref name="every"/> until cancelled (a stream under which faults happen).</summary>
    public async Task StreamAsync(TimeSpan every, CancellationToken cancellationToken)
    {
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                await SendAsync(Nas1, NextSourceReport(), cancellationToken);
                await Task.Delay(every, cancellationToken); // the stream's pace, not a wait for a message
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>The outcome of every sent report the witness processed, by id (parts are not used here).</summary>
    public async Task<Dictionary<Guid, string>> ProcessedAsync()
    {
        await using var connection = new NpgsqlConnection(ConnectionString + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("""SELECT "ReportId", "Outcome" FROM processed_reports""", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var result = new Dictionary<Guid, string>();
        while (await reader.ReadAsync())
        {
            result[reader.GetGuid(0)] = reader.GetString(1);
        }

        return result;
    }

    public async Task<long> ScalarAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Waits until every sent report is processed or rejected; returns how long that took.</summary>
    public async Task<TimeSpan> WaitAllAccountedAsync(TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        var all = await Poll.HoldsAsync(
            async () =>
            {
                try
                {
                    var processed = await ProcessedAsync();
                    return Sent.Keys.All(processed.ContainsKey);
                }
                catch (NpgsqlException)
                {
                    return false; // the database is still coming back
                }
            },
            timeout,
            TimeSpan.FromMilliseconds(250));
        if (!all)
        {
            var processed = await ProcessedAsync();
            var errors = await ErrorQueuesAsync();
            throw new TimeoutException(
                $"gave up after {timeout.TotalSeconds:0} s: {Sent.Keys.Count(processed.ContainsKey)} of {Sent.Count} sent reports processed; "
                + $"_error: {string.Join(", ", errors.Select(e => $"{e.Key} {e.Value}"))}\n"
                + string.Join("\n", _witnesses.Select(w => $"--- {w.Name} ({w.State}); its last lines:\n{string.Join('\n', w.Lines.Where(l => !l.Contains(" fail: Microsoft.EntityFrameworkCore", StringComparison.Ordinal)).TakeLast(40))}")));
        }

        return watch.Elapsed;
    }

    /// <summary>Messages in the witness's <c>_error</c> queues (a queue never created holds none).</summary>
    public async Task<Dictionary<string, uint>> ErrorQueuesAsync()
    {
        var counts = new Dictionary<string, uint>();
        await using var connection = await ConnectAsync(WitnessUser);
        foreach (var queue in WitnessQueues)
        {
            await using var channel = await connection.CreateChannelAsync();
            try
            {
                counts[queue + "_error"] = (await channel.QueueDeclarePassiveAsync(queue + "_error")).MessageCount;
            }
            catch (OperationInterruptedException ex) when (ex.ShutdownReason?.ReplyCode == 404)
            {
                counts[queue + "_error"] = 0;
            }
        }

        return counts;
    }

    private async Task DeclareProbeAsync()
    {
        await using var connection = await ConnectAsync(WitnessUser);
        await using var channel = await connection.CreateChannelAsync();
        // On a cluster a quorum queue, as the witness's: it must outlive the node it was declared on.
        var arguments = _cluster is null ? null : new Dictionary<string, object?> { ["x-queue-type"] = "quorum" };
        await channel.QueueDeclareAsync(ProbeQueue, durable: true, exclusive: false, autoDelete: false, arguments);
        foreach (var type in new[] { nameof(SyncInstructionIssued), nameof(InventoryRejected) })
        {
            var exchange = $"ZfsSync.Contracts:{type}";
            await channel.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable: true, autoDelete: false);
            await channel.QueueBindAsync(ProbeQueue, exchange, "");
        }
    }

    /// <summary>What the probe recorded: every instruction (id, attempt) with the distinct bodies it was published with, and the rejections.</summary>
    public async Task<ProbeRecord> DrainProbeAsync()
    {
        var record = new ProbeRecord();
        await using var connection = await ConnectAsync(WitnessUser);
        await using var channel = await connection.CreateChannelAsync();
        while (await channel.BasicGetAsync(ProbeQueue, autoAck: true) is { } message)
        {
            using var document = JsonDocument.Parse(message.Body);
            var root = document.RootElement;
            var type = root.GetProperty("messageType")[0].GetString() ?? "";
            var body = root.GetProperty("message");
            if (type.EndsWith(nameof(SyncInstructionIssued), StringComparison.Ordinal))
            {
                var key = (body.GetProperty("instructionId").GetGuid(), body.GetProperty("attempt").GetInt32());
                record.Instructions.GetOrAdd(key, _ => new ConcurrentDictionary<string, int>()).AddOrUpdate(body.GetRawText(), 1, (_, n) => n + 1);
            }
            else if (type.EndsWith(nameof(InventoryRejected), StringComparison.Ordinal))
            {
                record.Rejections[body.GetProperty("reportId").GetGuid()] = body.GetProperty("reason").GetString() ?? "";
            }
        }

        return record;
    }

    /// <summary>Rejections the probe holds, without consuming them.</summary>
    public async Task<uint> ProbeRejectionsAsync()
    {
        await using var connection = await ConnectAsync(WitnessUser);
        await using var channel = await connection.CreateChannelAsync();
        var messages = new List<BasicGetResult>();
        uint rejections = 0;
        while (await channel.BasicGetAsync(ProbeQueue, autoAck: false) is { } message)
        {
            messages.Add(message);
            using var document = JsonDocument.Parse(message.Body);
            if (document.RootElement.GetProperty("messageType")[0].GetString()?.EndsWith(nameof(InventoryRejected), StringComparison.Ordinal) == true)
            {
                rejections++;
            }
        }

        if (messages.Count > 0)
        {
            await channel.BasicNackAsync(messages[^1].DeliveryTag, multiple: true, requeue: true);
        }

        return rejections;
    }

    /// <summary>
    /// The checks every scenario ends with: every sent report processed (applied, ignored as out of order or as a
    /// duplicate) or rejected with a reason, none lost; nothing in an <c>_error</c> queue (unless the scenario expects
    /// it); no (instructionId, attempt) published with two different contents.
    /// </summary>
    public async Task<Accounting> AccountAsync(bool expectEmptyErrorQueues = true)
    {
        var processed = await ProcessedAsync();
        var probe = await DrainProbeAsync();
        var errors = await ErrorQueuesAsync();
        var lost = Sent.Keys.Where(id => !processed.ContainsKey(id) && !probe.Rejections.ContainsKey(id)).ToList();
        lost.ShouldBeEmpty($"{lost.Count} of {Sent.Count} sent reports were neither processed nor rejected");
        if (expectEmptyErrorQueues)
        {
            errors.Where(e => e.Value > 0).ShouldBeEmpty("nothing may reach an _error queue");
        }

        var conflicting = probe.Instructions.Where(i => i.Value.Count > 1).Select(i => i.Key).ToList();
        conflicting.ShouldBeEmpty("an (instructionId, attempt) was published with different contents");
        var outcomes = Sent.Keys.Where(processed.ContainsKey).GroupBy(id => processed[id]).ToDictionary(g => g.Key, g => g.Count());
        return new Accounting(
            Sent.Count,
            outcomes.GetValueOrDefault("applied"),
            outcomes.GetValueOrDefault("ignored-out-of-order"),
            Sent.Keys.Count(probe.Rejections.ContainsKey),
            probe.Instructions.Count,
            probe.Instructions.Sum(i => i.Value.Values.Sum()),
            errors.Values.Sum(v => (long)v));
    }

    /// <summary>
    /// The cluster node most of the witness's connections are on (the AMQP port in the broker's connection names:
    /// <c>127.0.0.1:40000 -&gt; 127.0.0.1:5673</c>), asked of any node still running.
    /// </summary>
    /// <param name="ask">A node that is running; default the last.</param>
    public async Task<PrivateRabbitMqNode> WitnessNodeAsync(PrivateRabbitMqNode? ask = null)
    {
        ArgumentNullException.ThrowIfNull(_cluster);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var listing = await (ask ?? _cluster.Nodes[^1]).ControlAsync(timeout.Token, "-q", "list_connections", "user", "name");
        var ports = WitnessPorts(listing);
        ports.ShouldNotBeEmpty($"no connection of {WitnessUser} in: {listing}");
        return _cluster.NodeOnPort(ports.GroupBy(p => p).MaxBy(g => g.Count())!.Key);
    }

    /// <summary>The AMQP ports of the nodes the witness's connections (bus, client topology) are on, one per connection.</summary>
    public static async Task<List<int>> WitnessConnectionsAsync(PrivateRabbitMqNode ask)
    {
        ArgumentNullException.ThrowIfNull(ask);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        return WitnessPorts(await ask.ControlAsync(timeout.Token, "-q", "list_connections", "user", "name"));
    }

    private static List<int> WitnessPorts(string listing) =>
        [.. listing.Split('\n')
            .Select(line => line.Split('\t'))
            .Where(columns => columns.Length == 2 && columns[0] == WitnessUser && columns[1].Contains("->", StringComparison.Ordinal))
            .Select(columns => int.Parse(columns[1][(columns[1].LastIndexOf(':') + 1)..].Trim(), System.Globalization.CultureInfo.InvariantCulture))];

    /// <summary>The witness's queues and their types (<c>quorum</c>, <c>classic</c>), asked of a running node.</summary>
    public async Task<Dictionary<string, string>> QueueTypesAsync(PrivateRabbitMqNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var listing = await node.ControlAsync(timeout.Token, "-q", "list_queues", "-p", Vhost, "name", "type");
        return listing.Split('\n').Select(line => line.Split('\t')).Where(c => c.Length == 2 && c[0] != "name")
            .ToDictionary(c => c[0].Trim(), c => c[1].Trim());
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var witness in _witnesses)
        {
            await witness.DisposeAsync();
        }

        await Nas1.DisposeAsync();
        await Backup1.DisposeAsync();
    }
}

public sealed class ProbeRecord
{
    public ConcurrentDictionary<(Guid InstructionId, int Attempt), ConcurrentDictionary<string, int>> Instructions { get; } = new();
    public ConcurrentDictionary<Guid, string> Rejections { get; } = new();
}

/// <summary>Sent = applied + ignored (out of order) + rejected; instructions: distinct (id, attempt) and deliveries seen.</summary>
public sealed record Accounting(int Sent, int Applied, int OutOfOrder, int Rejected, int Instructions, int InstructionDeliveries, long InErrorQueues)
{
    public override string ToString() =>
        $"sent {Sent} = applied {Applied} + out-of-order {OutOfOrder} + rejected {Rejected}; {Instructions} instructions ({InstructionDeliveries} deliveries, none with two contents); {InErrorQueues} in _error";
}
