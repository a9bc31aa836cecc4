using System.ComponentModel.DataAnnotations;

namespace ZfsSync.Witness.Worker.Hosting;

/// <summary>
/// The witness's configuration, bound from the configuration root (appsettings.json, <c>zfs_sync.yaml</c>, then
/// environment variables <c>ZFS_SYNC_</c> + key path with <c>__</c>, e.g. <c>ZFS_SYNC_RabbitMq__Password</c>).
/// Validated at start by <see cref="WitnessOptionsValidator"/>: a bad value stops the process with its key.
/// </summary>
public sealed class WitnessOptions
{
    public DatabaseOptions Database { get; set; } = new();
    public RabbitMqOptions RabbitMq { get; set; } = new();
    public List<ZfsHostOptions> Hosts { get; set; } = [];
    public List<SyncGroupOptions> SyncGroups { get; set; } = [];
    public IngestOptions Ingest { get; set; } = new();
    public LivenessOptions Liveness { get; set; } = new();

    /// <summary>How many messages the busy endpoints take and handle at once (section <c>Endpoints</c>).</summary>
    public EndpointOptions Endpoints { get; set; } = new();

    /// <summary>The sync groups' timelines: lag sampling and retention (<c>GetSyncGroupHistory</c>).</summary>
    public HistoryOptions History { get; set; } = new();

    /// <summary>
    /// The broker users (validated AMQP <c>user-id</c>) allowed to decide: a <c>ResolveSyncConflict</c> from anyone else is
    /// rejected with "not an operator". Each also gets an operator's entry and inbox (as if listed under
    /// <c>ClientTopology:Operators</c>, which may hold further, read-only operator tools). Empty: nobody may decide.
    /// </summary>
    public List<string> Operators { get; set; } = [];

    /// <summary>The clients whose entry exchanges and inboxes the witness keeps (docs/SECURITY.md).</summary>
    public ClientTopologyOptions ClientTopology { get; set; } = new();
}

public enum DatabaseProvider
{
    Sqlite,
    PostgreSql,
}

public sealed class DatabaseOptions
{
    /// <summary><c>sqlite</c> (the embedded default) or <c>postgresql</c>.</summary>
    public DatabaseProvider Provider { get; set; } = DatabaseProvider.Sqlite;

    /// <summary>Empty with SQLite: a file <c>zfssync.db</c> under <see cref="DataDirectory"/>.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>Where the embedded database lives; relative paths are under the content root.</summary>
    public string DataDirectory { get; set; } = "data";

    /// <summary>
    /// Apply pending schema migrations at start (the default). False: start only on a database already at this version's
    /// schema, which operators bring there with the <c>migrate</c> command.
    /// </summary>
    public bool MigrateAtStart { get; set; } = true;
}

public sealed class RabbitMqOptions
{
    /// <summary><c>amqp://host:5672/vhost</c> or <c>amqps://…</c>; credentials may be given here or below.</summary>
    [Required]
    public Uri Uri { get; set; } = new("amqp://localhost:5672/");

    public string? User { get; set; }
    public string? Password { get; set; }

    /// <summary>Declare the witness's queues as quorum queues (a cluster; a RabbitMQ 3.10 policy cannot choose the type).</summary>
    public bool QuorumQueues { get; set; }

    /// <summary>A cluster's nodes as <c>host:port</c> (empty: the URI's host only); see <c>BrokerClusterNodes</c>.</summary>
    public List<string> ClusterNodes { get; set; } = [];

    /// <summary>Messages a receive endpoint handles at once.</summary>
    [Range(1, 1000)]
    public int PrefetchCount { get; set; } = 16;

    /// <summary>TLS to the broker (implied by an <c>amqps://</c> URI).</summary>
    public RabbitMqTlsOptions Tls { get; set; } = new();
}

public sealed class RabbitMqTlsOptions
{
    /// <summary>Use TLS (implied by an <c>amqps://</c> URI).</summary>
    public bool Enabled { get; set; }

    /// <summary>The name on the broker's certificate; default the URI's host.</summary>
    public string? ServerName { get; set; }

    /// <summary>The CA (PEM) the broker's certificate must chain to, instead of the system trust store.</summary>
    public string? CaCertificatePath { get; set; }

    /// <summary>A client certificate (PKCS#12) for mutual TLS.</summary>
    public string? CertificatePath { get; set; }

    public string? CertificatePassphrase { get; set; }
}

public sealed class ZfsHostOptions
{
    public string Id { get; set; } = "";
    public SshOptions? Ssh { get; set; }

    /// <summary><c>linux</c> or <c>freebsd</c> (zfs at <c>/sbin/zfs</c>).</summary>
    public string Os { get; set; } = "linux";

    public bool Sudo { get; set; }

    /// <summary>Explicit path of the zfs binary; default per <see cref="Os"/>.</summary>
    public string? ZfsPath { get; set; }

    /// <summary>The RabbitMQ user that must have sent this host's reports and heartbeats (validated AMQP user-id).</summary>
    public string? ReportsAs { get; set; }

    /// <summary>
    /// The RabbitMQ user of this host's executor(s): the instructions this host runs reach only its inbox
    /// <c>executor.USER.inbox</c> (several executor processes of the host share it as competing consumers), and the
    /// witness accepts their outcomes only with this validated user-id. Null: see docs/EXECUTOR.md ("Routing").
    /// </summary>
    public string? Executor { get; set; }
}

public sealed class SshOptions
{
    public string Host { get; set; } = "";
    public string? User { get; set; }
    public int? Port { get; set; }
    public string? IdentityFile { get; set; }
}

public sealed class SyncGroupOptions
{
    public string Name { get; set; } = "";

    /// <summary><c>primary</c> or <c>follow-newest</c>.</summary>
    public string Mode { get; set; } = "primary";

    public string? Source { get; set; }
    public List<string> Members { get; set; } = [];
    public List<SyncDatasetOptions> Datasets { get; set; } = [];
    public SnapshotFilterOptions Snapshots { get; set; } = new();

    /// <summary><c>oldest</c> or <c>newest</c>: which selected snapshot a full send starts from.</summary>
    public string Initial { get; set; } = "oldest";

    public bool Intermediates { get; set; } = true;
    public SendOptions Send { get; set; } = new();
    public ReceiveOptions Receive { get; set; } = new();
    public PipeOptions Pipe { get; set; } = new();
    public TimeSpan StaleAfter { get; set; } = TimeSpan.FromHours(2);
    public TimeSpan InstructionTtl { get; set; } = TimeSpan.FromHours(6);

    /// <summary>
    /// <c>Pull</c> (the default: the target's executors run it), <c>Push</c> (the source's) or <c>Relay</c> (the
    /// executors of <see cref="RelayHost"/>).
    /// </summary>
    public string Execution { get; set; } = "Pull";

    /// <summary>The declared host whose executors run this group's instructions with <c>Execution: Relay</c>.</summary>
    public string? RelayHost { get; set; }

    /// <summary>A started attempt whose bytes (or, without byte counts, whose progress messages) stopped for this long is expired as hung.</summary>
    public TimeSpan HangAfter { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>
    /// When instructions may go out (docs/PLANNING.md, "Replication windows"); null or empty: always. Left out of the
    /// stored definition when null, so that groups without windows keep their definition hash.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public List<ReplicationWindowOptions>? Windows { get; set; }

    /// <summary>Bytes a second with an optional k, M or G suffix (<c>20M</c>): <c>mbuffer -r</c> with <c>Pipe:Mbuffer</c>, else <c>pv -q -L</c>; null for none.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? BandwidthLimit { get; set; }

    /// <summary>
    /// <c>bookmark</c> (the default), <c>hold</c> or <c>off</c> (docs/PLANNING.md, "Protected bases"); null is the default
    /// and is left out of the stored definition, so that groups that do not set it keep their definition hash.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? ProtectBases { get; set; }
}

/// <summary>One replication window: <c>Days</c> (<c>mon-fri</c>, <c>sat,sun</c>; empty for every day), <c>Start</c> and <c>End</c> (<c>HH:MM</c>, local), <c>TimeZone</c> (IANA id).</summary>
public sealed class ReplicationWindowOptions
{
    public string Days { get; set; } = "";
    public string Start { get; set; } = "";
    public string End { get; set; } = "";
    public string TimeZone { get; set; } = "";
}

public sealed class SyncDatasetOptions
{
    /// <summary>The dataset's name on every member…</summary>
    public string Path { get; set; } = "";

    /// <summary>…unless given per member (host id → dataset name; for a tree, the tree's root on that member).</summary>
    public Dictionary<string, string> On { get; set; } = [];

    /// <summary>
    /// A dataset tree (docs/PLANNING.md, "Dataset trees"): this dataset and every descendant the reports show. Left out
    /// of the stored definition when false, so that existing groups keep their definition hash.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingDefault)]
    public bool Recursive { get; set; }

    /// <summary>A tree's exclusions: globs relative to its root (<c>scratch</c>, <c>*/tmp</c>); left out of the stored definition when null.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public List<string>? Exclude { get; set; }
}

public sealed class SnapshotFilterOptions
{
    public List<string> Include { get; set; } = [];
    public List<string> Exclude { get; set; } = [];
}

public sealed class SendOptions
{
    /// <summary><c>auto</c> (raw for encrypted sources), <c>always</c> or <c>never</c>.</summary>
    public string Raw { get; set; } = "auto";

    public bool Compressed { get; set; } = true;
    public bool LargeBlocks { get; set; } = true;
    public bool Embedded { get; set; } = true;
}

public sealed class ReceiveOptions
{
    public Dictionary<string, string> Set { get; set; } = [];
    public List<string> Inherit { get; set; } = [];
}

public sealed class PipeOptions
{
    /// <summary>mbuffer memory, e.g. <c>128M</c>; empty for no mbuffer.</summary>
    public string? Mbuffer { get; set; }

    /// <summary><c>zstd</c> or empty.</summary>
    public string? Compression { get; set; }

    public bool Progress { get; set; }
}

public sealed class IngestOptions
{
    [Range(1024, long.MaxValue)]
    public long MaxMessageBytes { get; set; } = 8L * 1024 * 1024;

    [Range(1, int.MaxValue)]
    public int MaxDatasets { get; set; } = 20_000;

    [Range(1, int.MaxValue)]
    public int MaxSnapshots { get; set; } = 2_000_000;

    /// <summary>
    /// Reject reports from hosts that are not declared under <c>Hosts</c>, and drop their heartbeats (counted and
    /// logged, never stored or announced).
    /// </summary>
    public bool RejectUnknownHosts { get; set; } = true;

    /// <summary>
    /// Heartbeats are consumed in batches of at most this many (one transaction a batch); the heartbeat endpoint's
    /// prefetch is raised to at least this.
    /// </summary>
    [Range(1, 1000)]
    public int HeartbeatBatchSize { get; set; } = 100;

    /// <summary>How long a batch of heartbeats waits for more after its first one before it is consumed.</summary>
    public TimeSpan HeartbeatBatchTimeLimit { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// How far a report's <c>capturedAt</c> and <c>sequence</c> may lie ahead of the witness's clock; a snapshot
    /// created further in the future is an anomaly and counts for no lag.
    /// </summary>
    public TimeSpan MaxClockSkew { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How long the record of a processed report is kept (duplicate detection, audit); older reports are
    /// recognised by their sequence anyway.</summary>
    public TimeSpan ProcessedReportRetention { get; set; } = TimeSpan.FromDays(7);
}

/// <summary>
/// Concurrency and prefetch of the witness's busy endpoints (section <c>Endpoints</c>). The defaults follow the core
/// count; a null prefetch follows the concurrency it feeds. Bounds: <see cref="MaxPartitions"/>,
/// <see cref="MaxConcurrency"/>, <see cref="MaxPrefetch"/>.
/// </summary>
public sealed class EndpointOptions
{
    public const int MaxPartitions = 1024;
    public const int MaxConcurrency = 256;
    public const int MaxPrefetch = 10_000;

    /// <summary>
    /// Slots of the saga endpoint's partitioner: messages of one group are handled one at a time, of different groups
    /// in up to this many at once. A round is mostly database work, so more than one per core:
    /// <c>max(4, 2 × cores)</c>.
    /// </summary>
    public int SagaPartitions { get; set; } = Math.Max(4, 2 * Environment.ProcessorCount);

    /// <summary>Prefetch of the saga endpoint; null: 2 × <see cref="SagaPartitions"/>, so a free slot finds a message of another group.</summary>
    public int? SagaPrefetchCount { get; set; }

    /// <summary>Inventory reports handled at once: deserializing and comparing a report is CPU work, <c>max(2, cores)</c>.</summary>
    public int InventoryConcurrency { get; set; } = Math.Max(2, Environment.ProcessorCount);

    /// <summary>
    /// Prefetch of the <c>inventory-ingest</c> endpoint; null: 2 × <see cref="InventoryConcurrency"/> (a report may be
    /// up to <c>Ingest:MaxMessageBytes</c>, and each prefetched one is held in memory).
    /// </summary>
    public int? InventoryPrefetchCount { get; set; }

    /// <summary>Heartbeat batches consumed at once (each one transaction); 1 keeps the hosts' rows free of lock contention.</summary>
    public int HeartbeatBatchConcurrency { get; set; } = 1;

    /// <summary>
    /// Prefetch of the <c>heartbeat</c> endpoint; null: (<see cref="HeartbeatBatchConcurrency"/> + 1) ×
    /// <c>Ingest:HeartbeatBatchSize</c>, so the next batch fills while one is written. Never below a batch.
    /// </summary>
    public int? HeartbeatPrefetchCount { get; set; }

    public int EffectiveSagaPrefetchCount => Math.Min(SagaPrefetchCount ?? 2 * SagaPartitions, MaxPrefetch);

    public int EffectiveInventoryPrefetchCount => Math.Min(InventoryPrefetchCount ?? 2 * InventoryConcurrency, MaxPrefetch);

    public int EffectiveHeartbeatPrefetchCount(int batchSize) =>
        Math.Min(Math.Max(HeartbeatPrefetchCount ?? (HeartbeatBatchConcurrency + 1) * batchSize, batchSize), MaxPrefetch);
}

public sealed class LivenessOptions
{
    /// <summary>How often the sweeper looks at heartbeats and instruction deadlines.</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>A host whose last heartbeat is older than this is offline (late after two missed intervals).</summary>
    public TimeSpan OfflineAfter { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>The heartbeat interval assumed for a host that never said its own.</summary>
    public TimeSpan DefaultHeartbeatInterval { get; set; } = TimeSpan.FromSeconds(60);
}

/// <summary>Options of a group's timeline (section <c>History</c>).</summary>
public sealed class HistoryOptions
{
    /// <summary>At most one lag sample per (group, dataset, target) this often; a sample is taken by a planning round.</summary>
    public TimeSpan LagSampleInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Entries older than this are deleted by <c>HistorySweeper</c>.</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(90);
}
