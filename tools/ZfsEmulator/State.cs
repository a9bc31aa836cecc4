using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ZfsSync.ZfsEmulator;

/// <summary>One emulated host's pools, datasets, snapshots and bookmarks: <c>ROOT/hosts/HOST/state.json</c>.</summary>
public sealed class HostState
{
    public List<PoolState> Pools { get; set; } = [];
    public List<DatasetState> Datasets { get; set; } = [];

    /// <summary>The next transaction group: every change takes one, so createtxg orders everything on the host.</summary>
    public ulong NextTxg { get; set; } = 100;

    /// <summary>Seconds since the epoch of the host's clock; each change advances it by one (deterministic creation times).</summary>
    public long Clock { get; set; } = 1_767_225_600;

    public DatasetState? Find(string name) => Datasets.Find(d => d.Name == name);

    public ulong Txg()
    {
        NextTxg++;
        Clock++;
        return NextTxg;
    }

    public static ulong NewGuid()
    {
        Span<byte> bytes = stackalloc byte[8];
        System.Security.Cryptography.RandomNumberGenerator.Fill(bytes);
        var guid = BitConverter.ToUInt64(bytes);
        return guid == 0 ? 1 : guid;
    }
}

public sealed class PoolState
{
    public string Name { get; set; } = "";
    public string Health { get; set; } = "ONLINE";
}

public sealed class DatasetState
{
    public string Name { get; set; } = "";
    public string Type { get; set; } = "filesystem";
    public ulong Guid { get; set; }
    public ulong CreateTxg { get; set; }
    public long Creation { get; set; }
    public long Used { get; set; } = 98304;
    public long Referenced { get; set; } = 98304;

    /// <summary>Bytes written since the newest snapshot: a non-zero value is "modified since most recent snapshot".</summary>
    public long Written { get; set; }

    public string Encryption { get; set; } = "off";

    /// <summary><c>available</c>/<c>unavailable</c> for an encrypted dataset, null (printed <c>-</c>) otherwise.</summary>
    public string? KeyStatus { get; set; }

    /// <summary>Locally set and received properties (<c>zfs create -o</c>, <c>zfs set</c>, <c>zfs receive -o</c>).</summary>
    public SortedDictionary<string, string> Properties { get; set; } = new(StringComparer.Ordinal);

    public List<SnapshotState> Snapshots { get; set; } = [];
    public List<BookmarkState> Bookmarks { get; set; } = [];

    /// <summary>The saved state of an interrupted <c>zfs receive -s</c>, or null.</summary>
    public PartialReceive? Partial { get; set; }

    public SnapshotState? Newest => Snapshots.Count == 0 ? null : Snapshots.MaxBy(s => s.CreateTxg);
}

public sealed class SnapshotState
{
    public string Name { get; set; } = "";
    public ulong Guid { get; set; }
    public ulong CreateTxg { get; set; }
    public long Creation { get; set; }
    public long Used { get; set; } = 65536;
    public long Referenced { get; set; } = 98304;
    public SortedDictionary<string, long> Holds { get; set; } = new(StringComparer.Ordinal);
}

public sealed class BookmarkState
{
    public string Name { get; set; } = "";
    public ulong Guid { get; set; }
    public ulong CreateTxg { get; set; }
    public long Creation { get; set; }
}

/// <summary>What <c>zfs receive -s</c> kept of a stream that ended early; its resume token is derived from it.</summary>
public sealed class PartialReceive
{
    public ulong ToGuid { get; set; }
    public ulong FromGuid { get; set; }
    public string ToName { get; set; } = "";
    public long Bytes { get; set; }
    public long Length { get; set; }
    public ulong SourceCreateTxg { get; set; }
    public long SourceCreation { get; set; }
    public long Used { get; set; }
    public long Referenced { get; set; }
    public StreamFlags Flags { get; set; } = new();

    /// <summary>A full stream into a dataset that did not exist: the dataset is inconsistent until the receive ends.</summary>
    public bool NewFs { get; set; }

    public string Token() => ResumeTokenCodec.Encode(ResumeTokenCodec.Fields(this));
}

public sealed class StreamFlags
{
    public bool Raw { get; set; }
    public bool Compressed { get; set; }
    public bool LargeBlocks { get; set; }
    public bool Embedded { get; set; }
}

/// <summary>
/// The emulated fleet on disk: <c>ROOT/hosts/HOST/state.json</c> per host, changed under <c>ROOT/hosts/HOST/.lock</c>
/// (an exclusive open, so concurrent processes take turns), and <c>ROOT/commands.log</c>, one JSON line per command.
/// </summary>
public sealed class FleetStore(string root)
{
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        PropertyNameCaseInsensitive = true,
    };

    private static readonly JsonSerializerOptions LogJson = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public string Root { get; } = root;

    public string LogPath => Path.Combine(Root, "commands.log");

    public string HostDirectory(string host) => Path.Combine(Root, "hosts", host);

    public bool HostExists(string host) =>
        IsSafeHostName(host) && File.Exists(Path.Combine(HostDirectory(host), "state.json"));

    public static bool IsSafeHostName(string host) =>
        host.Length is > 0 and <= 253 && host.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_') && host[0] != '.' && host[0] != '-';

    public IEnumerable<string> Hosts() =>
        Directory.Exists(Path.Combine(Root, "hosts"))
            ? Directory.EnumerateDirectories(Path.Combine(Root, "hosts")).Select(Path.GetFileName).OfType<string>().Where(HostExists).Order(StringComparer.Ordinal)
            : [];

    /// <summary>Creates a host with the given pools (each with its root dataset). Emulated pool names must start with <c>emu</c>.</summary>
    public void AddHost(string host, params string[] pools)
    {
        if (!IsSafeHostName(host))
        {
            throw new ArgumentException($"not an emulated host name: {host}", nameof(host));
        }

        Directory.CreateDirectory(HostDirectory(host));
        Update(host, state =>
        {
            foreach (var pool in pools)
            {
                AddPool(state, pool);
            }
        }, create: true);
    }

    public static void AddPool(HostState state, string pool)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(pool);
        if (!pool.StartsWith("emu", StringComparison.Ordinal) || ZfsNames.Check(pool, ZfsNames.Kind.Dataset) is not null)
        {
            throw new ArgumentException($"emulated pool names start with 'emu' (so that no command can reach a real pool): {pool}", nameof(pool));
        }

        state.Pools.Add(new PoolState { Name = pool });
        var txg = state.Txg();
        state.Datasets.Add(new DatasetState { Name = pool, Guid = HostState.NewGuid(), CreateTxg = txg, Creation = state.Clock });
    }

    public HostState Read(string host)
    {
        using var gate = Lock(host);
        return Load(host);
    }

    /// <summary>Runs <paramref name="change"/> on the host's state under its lock and saves it.</summary>
    public T Update<T>(string host, Func<HostState, T> change, bool create = false)
    {
        ArgumentNullException.ThrowIfNull(change);
        using var gate = Lock(host);
        var state = create && !File.Exists(StatePath(host)) ? new HostState() : Load(host);
        var result = change(state);
        Save(host, state);
        return result;
    }

    public void Update(string host, Action<HostState> change, bool create = false) =>
        Update(host, s => { change(s); return 0; }, create);

    /// <summary>Replaces a host's state as given (tests write states no ZFS command would produce).</summary>
    public void Write(string host, HostState state)
    {
        Directory.CreateDirectory(HostDirectory(host));
        using var gate = Lock(host);
        Save(host, state);
    }

    public void Log(CommandLogEntry entry)
    {
        Directory.CreateDirectory(Root);
        var line = JsonSerializer.Serialize(entry, LogJson) + "\n";
        using var gate = AcquireFile(Path.Combine(Root, ".log.lock"));
        File.AppendAllText(LogPath, line, Encoding.UTF8);
    }

    public List<CommandLogEntry> ReadLog()
    {
        if (!File.Exists(LogPath))
        {
            return [];
        }

        using var gate = AcquireFile(Path.Combine(Root, ".log.lock"));
        return [.. File.ReadAllLines(LogPath).Where(l => l.Length > 0).Select(l => JsonSerializer.Deserialize<CommandLogEntry>(l, LogJson)!)];
    }

    private string StatePath(string host) => Path.Combine(HostDirectory(host), "state.json");

    private HostState Load(string host) =>
        JsonSerializer.Deserialize<HostState>(File.ReadAllText(StatePath(host)), Json)
        ?? throw new InvalidDataException($"empty state for {host}");

    private void Save(string host, HostState state)
    {
        var path = StatePath(host);
        var temp = path + ".tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(state, Json));
        File.Move(temp, path, overwrite: true);
    }

    private FileStream Lock(string host)
    {
        if (!IsSafeHostName(host))
        {
            throw new ArgumentException($"not an emulated host name: {host}", nameof(host));
        }

        return AcquireFile(Path.Combine(HostDirectory(host), ".lock"));
    }

    private static FileStream AcquireFile(string path)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(5);
            }
        }
    }
}

/// <summary>One line of <c>commands.log</c>: what ran, where, in which context, and how it ended.</summary>
public sealed record CommandLogEntry
{
    public DateTimeOffset At { get; init; }
    public string Host { get; init; } = "";
    public string Tool { get; init; } = "";
    public IReadOnlyList<string> Argv { get; init; } = [];
    public int Exit { get; init; }
    public string Error { get; init; } = "";

    /// <summary>
    /// <c>ZFSEMU_CONTEXT</c> of the caller, else its <c>ZFSSYNC_ATTEMPT</c> (the executor program sets
    /// <c>instructionId/attempt</c> in the environment of every process it starts).
    /// </summary>
    public string? Context { get; init; }

    public string Describe() => $"{Host}: {Tool} {string.Join(' ', Argv)} -> {Exit.ToString(CultureInfo.InvariantCulture)}";
}
