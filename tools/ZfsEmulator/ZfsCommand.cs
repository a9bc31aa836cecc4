using System.Globalization;
using System.Text;

namespace ZfsSync.ZfsEmulator;

/// <summary>
/// The emulated <c>zfs</c> of one host: the subcommands the reporter and the witness's rendered commands use, with
/// ZFS's failure rules and the messages OpenZFS prints (libzfs_sendrecv.c, libzfs_dataset.c, zfs_main.c).
/// </summary>
public sealed class ZfsCommand(FleetStore store, string host)
{
    public const string Version = "zfs-2.2.6-1\nzfs-kmod-2.2.6-1\n";

    private const string ReceiveOptions = "sFuvnAehMcdo:x:";
    private static readonly string[] Destructive = ["destroy", "rollback", "rename"];

    private readonly StringBuilder _out = new();

    /// <summary>Whether the command (by its argv) can discard data: destroy, rollback, rename, receive -F.</summary>
    public static bool IsDestructive(IReadOnlyList<string> argv)
    {
        ArgumentNullException.ThrowIfNull(argv);
        if (argv.Count == 0)
        {
            return false;
        }

        if (Destructive.Contains(argv[0]))
        {
            return true;
        }

        if (argv[0] is not ("receive" or "recv"))
        {
            return false;
        }

        try
        {
            return Getopt.Parse(argv, 1, ReceiveOptions).Options.Any(o => o.Option == 'F');
        }
        catch (ZfsException)
        {
            return false;
        }
    }

    public int Run(IReadOnlyList<string> args, Stream stdin, Stream stdout, TextWriter stderr, bool stdoutIsTerminal = false)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        try
        {
            if (args.Count == 0)
            {
                throw new ZfsException("usage: zfs command args ...", 2);
            }

            var binary = args[0] == "send";
            if (binary)
            {
                Send(args, stdout, stdoutIsTerminal);
            }
            else
            {
                Dispatch(args, stdin);
            }

            Flush(stdout);
            return 0;
        }
        catch (ZfsException e)
        {
            Flush(stdout);
            stderr.Write(e.Message.TrimEnd('\n') + "\n");
            stderr.Flush();
            return e.ExitCode;
        }
    }

    private void Flush(Stream stdout)
    {
        if (_out.Length > 0)
        {
            stdout.Write(Encoding.UTF8.GetBytes(_out.ToString()));
            _out.Clear();
        }

        stdout.Flush();
    }

    private void Dispatch(IReadOnlyList<string> args, Stream stdin)
    {
        switch (args[0])
        {
            case "version":
                _out.Append(Version);
                break;
            case "list":
                List(args);
                break;
            case "get":
                Get(args);
                break;
            case "snapshot":
            case "snap":
                Snapshot(args);
                break;
            case "create":
                Create(args);
                break;
            case "receive":
            case "recv":
                Receive(args, stdin);
                break;
            case "rollback":
                Rollback(args);
                break;
            case "rename":
                Rename(args);
                break;
            case "destroy":
                Destroy(args);
                break;
            case "bookmark":
                Bookmark(args);
                break;
            case "hold":
            case "release":
                HoldOrRelease(args);
                break;
            case "holds":
                Holds(args);
                break;
            case "set":
                Set(args);
                break;
            default:
                throw new ZfsException($"unrecognized command '{args[0]}'\nusage: zfs command args ...", 2);
        }
    }

    // ---- list / get -------------------------------------------------------------------------------------------------

    private sealed record Row(string Name, string Type, DatasetState Dataset, SnapshotState? Snapshot, BookmarkState? Bookmark, ulong CreateTxg);

    private void List(IReadOnlyList<string> args)
    {
        var (options, operands) = Getopt.Parse(args, 1, "Hpo:t:s:S:rd:");
        var scripted = options.Any(o => o.Option == 'H');
        var columns = (options.LastOrDefault(o => o.Option == 'o').Argument ?? "name,used,referenced").Split(',');
        var types = Types(options, "filesystem,volume");
        var recursive = options.Any(o => o.Option is 'r' or 'd');
        var state = store.Read(host);
        var rows = Collect(state, operands, types, recursive, out var errors);
        foreach (var (option, argument) in options)
        {
            if (option is 's' or 'S')
            {
                var key = argument!;
                var sorted = key == "createtxg"
                    ? rows.OrderBy(r => r.CreateTxg).ThenBy(r => r.Name, StringComparer.Ordinal).ToList()
                    : rows.OrderBy(r => Value(r, key), StringComparer.Ordinal).ToList();
                if (option == 'S')
                {
                    sorted.Reverse();
                }

                rows = sorted;
            }
        }

        if (!scripted && rows.Count > 0)
        {
            _out.Append(string.Join("  ", columns.Select(c => c.ToUpperInvariant()))).Append('\n');
        }

        foreach (var row in rows)
        {
            _out.Append(string.Join(scripted ? "\t" : "  ", columns.Select(c => Value(row, c)))).Append('\n');
        }

        if (errors.Count > 0)
        {
            throw new ZfsException(string.Join("\n", errors));
        }
    }

    private void Get(IReadOnlyList<string> args)
    {
        var (options, operands) = Getopt.Parse(args, 1, "Hpo:t:s:rd:");
        if (operands.Count == 0)
        {
            throw new ZfsException("missing property argument\nusage: see zfs(8)", 2);
        }

        var scripted = options.Any(o => o.Option == 'H');
        var fields = (options.LastOrDefault(o => o.Option == 'o').Argument ?? "name,property,value,source").Split(',');
        var types = Types(options, "filesystem,volume,snapshot,bookmark");
        var recursive = options.Any(o => o.Option is 'r' or 'd');
        var properties = operands[0].Split(',');
        var state = store.Read(host);
        var rows = Collect(state, operands.Skip(1).ToList(), types, recursive, out var errors);
        foreach (var row in rows.OrderBy(r => r.Name, StringComparer.Ordinal))
        {
            foreach (var property in properties)
            {
                var value = Value(row, property);
                var source = row.Dataset.Properties.ContainsKey(property) ? "local" : "-";
                _out.Append(string.Join(scripted ? "\t" : "  ", fields.Select(f => f switch
                {
                    "name" => row.Name,
                    "property" => property,
                    "value" => value,
                    "source" => source,
                    "received" => "-",
                    _ => throw new ZfsException($"invalid field '{f}'", 2),
                }))).Append('\n');
            }
        }

        if (errors.Count > 0)
        {
            throw new ZfsException(string.Join("\n", errors));
        }
    }

    private static HashSet<string> Types(List<(char Option, string? Argument)> options, string fallback) =>
        [.. (options.LastOrDefault(o => o.Option == 't').Argument ?? fallback).Split(',')
            .Select(t => t switch { "snap" => "snapshot", "fs" => "filesystem", "vol" => "volume", "all" => "filesystem,volume,snapshot,bookmark", _ => t })
            .SelectMany(t => t.Split(','))];

    private static List<Row> Collect(HostState state, List<string> operands, HashSet<string> types, bool recursive, out List<string> errors)
    {
        errors = [];
        var rows = new List<Row>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        IEnumerable<DatasetState> roots;
        if (operands.Count == 0)
        {
            roots = state.Datasets.Where(d => ZfsNames.Parent(d.Name) is null);
            recursive = true;
        }
        else
        {
            var found = new List<DatasetState>();
            foreach (var operand in operands)
            {
                var at = operand.IndexOfAny(['@', '#']);
                if (at > 0)
                {
                    var ds = state.Find(operand[..at]);
                    var snap = operand[at] == '@' ? ds?.Snapshots.Find(s => s.Name == operand[(at + 1)..]) : null;
                    var mark = operand[at] == '#' ? ds?.Bookmarks.Find(b => b.Name == operand[(at + 1)..]) : null;
                    if (snap is not null && seen.Add(operand))
                    {
                        rows.Add(new Row(operand, "snapshot", ds!, snap, null, snap.CreateTxg));
                    }
                    else if (mark is not null && seen.Add(operand))
                    {
                        rows.Add(new Row(operand, "bookmark", ds!, null, mark, mark.CreateTxg));
                    }
                    else if (snap is null && mark is null)
                    {
                        errors.Add($"cannot open '{operand}': dataset does not exist");
                    }

                    continue;
                }

                var dataset = state.Find(operand);
                if (dataset is null)
                {
                    errors.Add($"cannot open '{operand}': dataset does not exist");
                    continue;
                }

                found.Add(dataset);
            }

            roots = found;
        }

        foreach (var root in roots)
        {
            var datasets = recursive
                ? state.Datasets.Where(d => d.Name == root.Name || d.Name.StartsWith(root.Name + "/", StringComparison.Ordinal))
                : [root];
            foreach (var d in datasets.OrderBy(d => d.Name, StringComparer.Ordinal))
            {
                if (types.Contains(d.Type) && seen.Add(d.Name))
                {
                    rows.Add(new Row(d.Name, d.Type, d, null, null, d.CreateTxg));
                }

                if (recursive || operands.Count == 0)
                {
                    if (types.Contains("snapshot"))
                    {
                        rows.AddRange(d.Snapshots.Where(s => seen.Add($"{d.Name}@{s.Name}")).Select(s => new Row($"{d.Name}@{s.Name}", "snapshot", d, s, null, s.CreateTxg)));
                    }

                    if (types.Contains("bookmark"))
                    {
                        rows.AddRange(d.Bookmarks.Where(b => seen.Add($"{d.Name}#{b.Name}")).Select(b => new Row($"{d.Name}#{b.Name}", "bookmark", d, null, b, b.CreateTxg)));
                    }
                }
            }
        }

        return rows;
    }

    private static string Value(Row row, string property)
    {
        static string N(long n) => n.ToString(CultureInfo.InvariantCulture);
        static string U(ulong n) => n.ToString(CultureInfo.InvariantCulture);
        var d = row.Dataset;
        return property switch
        {
            "name" => row.Name,
            "type" => row.Type,
            "guid" => U(row.Snapshot?.Guid ?? row.Bookmark?.Guid ?? d.Guid),
            "createtxg" => U(row.CreateTxg),
            "creation" => N(row.Snapshot?.Creation ?? row.Bookmark?.Creation ?? d.Creation),
            "used" => row.Bookmark is not null ? "-" : N(row.Snapshot?.Used ?? d.Used),
            "referenced" or "refer" => row.Bookmark is not null ? "-" : N(row.Snapshot?.Referenced ?? d.Referenced),
            "written" => row.Snapshot is not null || row.Bookmark is not null ? "-" : N(d.Written),
            "receive_resume_token" => row.Snapshot is null && row.Bookmark is null && d.Partial is { } p ? p.Token() : "-",
            "encryption" => d.Encryption,
            "keystatus" => d.Encryption == "off" ? "-" : d.KeyStatus ?? "available",
            "userrefs" => row.Snapshot is { } s ? N(s.Holds.Count) : "-",
            "inconsistent" => d.Partial is { NewFs: true } ? "1" : "0",
            "mountpoint" => row.Snapshot is null && row.Bookmark is null ? d.Properties.GetValueOrDefault("mountpoint") ?? "/" + d.Name : "-",
            _ => row.Snapshot is null && row.Bookmark is null ? d.Properties.GetValueOrDefault(property) ?? "-" : "-",
        };
    }

    // ---- create / snapshot / set ------------------------------------------------------------------------------------

    private void Create(IReadOnlyList<string> args)
    {
        var (options, operands) = Getopt.Parse(args, 1, "po:V:sb:u");
        if (operands.Count != 1)
        {
            throw new ZfsException("usage: zfs create [-p] [-o property=value] ... filesystem", 2);
        }

        var name = operands[0];
        var parents = options.Any(o => o.Option == 'p');
        var props = PropertyOptions(options, 'o', $"cannot create '{name}'");
        store.Update(host, state =>
        {
            if (ZfsNames.Check(name, ZfsNames.Kind.Dataset) is { } why)
            {
                throw new ZfsException($"cannot create '{name}': {why}");
            }

            if (ZfsNames.Parent(name) is null)
            {
                throw new ZfsException($"cannot create '{name}': missing dataset name");
            }

            if (state.Find(ZfsNames.Pool(name)) is null)
            {
                throw new ZfsException($"cannot create '{name}': no such pool '{ZfsNames.Pool(name)}'");
            }

            if (state.Find(name) is not null)
            {
                if (parents)
                {
                    return;
                }

                throw new ZfsException($"cannot create '{name}': dataset already exists");
            }

            if (!parents && state.Find(ZfsNames.Parent(name)!) is null)
            {
                throw new ZfsException($"cannot create '{name}': parent does not exist");
            }

            var missing = new Stack<string>();
            for (var n = name; n is not null && state.Find(n) is null; n = ZfsNames.Parent(n))
            {
                missing.Push(n);
            }

            while (missing.Count > 0)
            {
                var created = NewDataset(state, missing.Pop());
                if (created.Name == name)
                {
                    foreach (var (k, v) in props)
                    {
                        created.Properties[k] = v;
                    }
                }
            }
        });
    }

    private static DatasetState NewDataset(HostState state, string name)
    {
        var parent = ZfsNames.Parent(name) is { } p ? state.Find(p) : null;
        var dataset = new DatasetState
        {
            Name = name,
            Guid = HostState.NewGuid(),
            CreateTxg = state.Txg(),
            Creation = state.Clock,
            Encryption = parent?.Encryption ?? "off",
            KeyStatus = parent?.KeyStatus,
        };
        state.Datasets.Add(dataset);
        return dataset;
    }

    private void Snapshot(IReadOnlyList<string> args)
    {
        var (options, operands) = Getopt.Parse(args, 1, "ro:");
        if (operands.Count == 0)
        {
            throw new ZfsException("missing snapshot argument\nusage: zfs snapshot [-r] [-o property=value] ... <filesystem|volume>@<snap> ...", 2);
        }

        store.Update(host, state =>
        {
            foreach (var name in operands)
            {
                if (ZfsNames.Check(name, ZfsNames.Kind.Snapshot) is { } why)
                {
                    throw new ZfsException($"cannot create snapshot '{name}': {why}");
                }

                var at = name.IndexOf('@', StringComparison.Ordinal);
                var dataset = state.Find(name[..at]) ?? throw new ZfsException($"cannot create snapshot '{name}': dataset does not exist");
                if (dataset.Snapshots.Any(s => s.Name == name[(at + 1)..]))
                {
                    throw new ZfsException($"cannot create snapshot '{name}': dataset already exists");
                }

                TakeSnapshot(state, dataset, name[(at + 1)..]);
            }
        });
    }

    /// <summary>Takes a snapshot as <c>zfs snapshot</c> does: new guid, next txg, the writes since the last one become its size.</summary>
    public static SnapshotState TakeSnapshot(HostState state, DatasetState dataset, string name)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(dataset);
        var snapshot = new SnapshotState
        {
            Name = name,
            Guid = HostState.NewGuid(),
            CreateTxg = state.Txg(),
            Creation = state.Clock,
            Used = Math.Max(dataset.Written, 0),
            Referenced = dataset.Referenced,
        };
        dataset.Snapshots.Add(snapshot);
        dataset.Written = 0;
        return snapshot;
    }

    private void Set(IReadOnlyList<string> args)
    {
        if (args.Count < 3 || !args[1].Contains('=', StringComparison.Ordinal))
        {
            throw new ZfsException("usage: zfs set <property=value> ... <filesystem|volume|snapshot> ...", 2);
        }

        var assignments = args.Skip(1).TakeWhile(a => a.Contains('=', StringComparison.Ordinal)).ToList();
        var names = args.Skip(1 + assignments.Count).ToList();
        store.Update(host, state =>
        {
            foreach (var name in names)
            {
                var dataset = state.Find(name) ?? throw new ZfsException($"cannot open '{name}': dataset does not exist");
                foreach (var a in assignments)
                {
                    var eq = a.IndexOf('=', StringComparison.Ordinal);
                    dataset.Properties[a[..eq]] = a[(eq + 1)..];
                }
            }
        });
    }

    private static List<(string Name, string Value)> PropertyOptions(List<(char Option, string? Argument)> options, char which, string errorPrefix)
    {
        var result = new List<(string, string)>();
        foreach (var (option, argument) in options)
        {
            if (option != which)
            {
                continue;
            }

            var eq = argument!.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new ZfsException($"{errorPrefix}: missing '=' for property=value argument", 2);
            }

            result.Add((argument[..eq], argument[(eq + 1)..]));
        }

        return result;
    }

    // ---- send -------------------------------------------------------------------------------------------------------

    private void Send(IReadOnlyList<string> args, Stream stdout, bool stdoutIsTerminal)
    {
        var (options, operands) = Getopt.Parse(args, 1, "wcLeDnvPpRhbVi:I:t:");
        bool Has(char c) => options.Any(o => o.Option == c);
        var dryRun = Has('n');
        if (!dryRun && stdoutIsTerminal)
        {
            throw new ZfsException("Error: Stream can not be written to a terminal.\nYou must redirect standard output.");
        }

        var flags = new StreamFlags { Raw = Has('w'), Compressed = Has('c'), LargeBlocks = Has('L'), Embedded = Has('e') };
        var token = options.LastOrDefault(o => o.Option == 't').Argument;
        var incremental = options.LastOrDefault(o => o.Option is 'i' or 'I');
        StreamHeader header;
        List<StreamRecord> records;
        var state = store.Read(host);
        if (token is not null)
        {
            (header, records) = ResumeSend(state, token);
        }
        else
        {
            if (operands.Count != 1)
            {
                throw new ZfsException("missing snapshot argument\nusage: zfs send [-DLPbcehnpsvw] [-i|-I snapshot] <snapshot>", 2);
            }

            (header, records) = PlanSend(state, operands[0], incremental.Option, incremental.Argument, flags);
        }

        if (dryRun)
        {
            if (Has('v') || Has('P'))
            {
                var total = 0L;
                foreach (var r in records)
                {
                    var size = r.Length - r.Offset;
                    total += size;
                    var kind = token is not null ? "resume" : r.FromGuid == 0 ? "full" : "incremental";
                    var from = r.FromGuid == 0 ? "" : FromNameOf(state, header.Source, r.FromGuid) + "\t";
                    _out.Append(CultureInfo.InvariantCulture, $"{kind}\t{from}{r.Name}\t{size}\n");
                }

                _out.Append(CultureInfo.InvariantCulture, $"size\t{total}\n");
            }

            return;
        }

        // A throttle the test asked for (the host's send-throttle file: bytes per second) applies to this one send.
        var throttleFile = Path.Combine(store.HostDirectory(host), "send-throttle");
        long? throttle = null;
        try
        {
            var text = File.ReadAllText(throttleFile);
            File.Delete(throttleFile);
            throttle = long.Parse(text.Trim(), CultureInfo.InvariantCulture);
        }
        catch (FileNotFoundException)
        {
        }

        var progressFile = Path.Combine(store.HostDirectory(host), "send-progress");
        SendStream.Write(stdout, header, records, throttle, throttle is null ? null : written => File.WriteAllText(progressFile, written.ToString(CultureInfo.InvariantCulture)));
    }

    private static string FromNameOf(HostState state, string dataset, ulong guid)
    {
        var d = state.Find(dataset);
        return d?.Snapshots.Find(s => s.Guid == guid) is { } s ? $"{dataset}@{s.Name}"
            : d?.Bookmarks.Find(b => b.Guid == guid) is { } b ? $"{dataset}#{b.Name}"
            : guid.ToString(CultureInfo.InvariantCulture);
    }

    private static long PayloadLength(long size) => Math.Clamp(size, 4096, 1 << 20);

    private static (StreamHeader, List<StreamRecord>) PlanSend(HostState state, string snapshotName, char incrementalFlag, string? from, StreamFlags flags)
    {
        var at = snapshotName.IndexOf('@', StringComparison.Ordinal);
        if (at <= 0)
        {
            throw new ZfsException($"cannot open '{snapshotName}': operation not applicable to datasets of this type");
        }

        var datasetName = snapshotName[..at];
        var dataset = state.Find(datasetName);
        var to = dataset?.Snapshots.Find(s => s.Name == snapshotName[(at + 1)..])
            ?? throw new ZfsException($"cannot open '{snapshotName}': dataset does not exist");
        var header = new StreamHeader { Source = datasetName, Flags = flags, Encryption = flags.Raw ? dataset!.Encryption : "off" };
        StreamRecord Record(SnapshotState s, ulong fromGuid) => new()
        {
            Name = $"{datasetName}@{s.Name}",
            Guid = s.Guid,
            FromGuid = fromGuid,
            CreateTxg = s.CreateTxg,
            Creation = s.Creation,
            Used = s.Used,
            Referenced = s.Referenced,
            Length = PayloadLength(fromGuid == 0 ? s.Referenced : s.Used),
        };

        if (from is null)
        {
            return (header, [Record(to, 0)]);
        }

        // "@snap", "#mark", "fs@snap" or "fs#mark": an earlier snapshot or bookmark of the same dataset.
        var sep = from.IndexOfAny(['@', '#']);
        var fromDataset = sep <= 0 ? datasetName : from[..sep];
        var fromShort = sep < 0 ? from : from[(sep + 1)..];
        var isBookmark = sep >= 0 && from[sep] == '#';
        var fromFull = $"{fromDataset}{(isBookmark ? '#' : '@')}{fromShort}";
        if (fromDataset != datasetName)
        {
            throw new ZfsException($"cannot send '{snapshotName}': not an earlier snapshot from the same fs");
        }

        ulong fromGuid;
        ulong fromTxg;
        if (isBookmark)
        {
            if (incrementalFlag == 'I')
            {
                throw new ZfsException($"cannot send '{snapshotName}': -I does not accept a bookmark ({fromFull}) as the incremental source");
            }

            var mark = dataset!.Bookmarks.Find(b => b.Name == fromShort)
                ?? throw new ZfsException($"cannot send '{snapshotName}': incremental source ({fromFull}) does not exist");
            (fromGuid, fromTxg) = (mark.Guid, mark.CreateTxg);
        }
        else
        {
            var snap = dataset!.Snapshots.Find(s => s.Name == fromShort)
                ?? throw new ZfsException($"cannot send '{snapshotName}': incremental source ({fromFull}) does not exist");
            (fromGuid, fromTxg) = (snap.Guid, snap.CreateTxg);
        }

        if (fromTxg >= to.CreateTxg)
        {
            throw new ZfsException($"cannot send '{snapshotName}': not an earlier snapshot from the same fs");
        }

        if (incrementalFlag == 'i')
        {
            return (header, [Record(to, fromGuid)]);
        }

        var records = new List<StreamRecord>();
        var previous = fromGuid;
        foreach (var s in dataset.Snapshots.Where(s => s.CreateTxg > fromTxg && s.CreateTxg <= to.CreateTxg).OrderBy(s => s.CreateTxg))
        {
            records.Add(Record(s, previous));
            previous = s.Guid;
        }

        return (header, records);
    }

    private static (StreamHeader, List<StreamRecord>) ResumeSend(HostState state, string token)
    {
        var fields = ResumeTokenCodec.Decode(token)
            ?? throw new ZfsException("cannot resume send: resume token is corrupt");
        ulong Number(string n) => fields.Find(f => f.Name == n)?.Number ?? 0;
        var toName = fields.Find(f => f.Name == "toname")?.Text ?? "";
        var toGuid = Number("toguid");
        var fromGuid = Number("fromguid");
        var bytes = (long)Number("bytes");
        var at = toName.IndexOf('@', StringComparison.Ordinal);
        var dataset = at > 0 ? state.Find(toName[..at]) : null;
        var to = dataset?.Snapshots.Find(s => s.Name == toName[(at + 1)..]);
        if (to is null)
        {
            throw new ZfsException($"cannot resume send: '{toName}' used in the initial send no longer exists");
        }

        if (to.Guid != toGuid)
        {
            throw new ZfsException($"cannot resume send: '{toName}' is no longer the same snapshot used in the initial send");
        }

        if (fromGuid != 0 && !dataset!.Snapshots.Any(s => s.Guid == fromGuid) && !dataset.Bookmarks.Any(b => b.Guid == fromGuid))
        {
            throw new ZfsException(string.Create(CultureInfo.InvariantCulture, $"cannot resume send: incremental source 0x{fromGuid:x} no longer exists"));
        }

        var flags = new StreamFlags
        {
            Raw = fields.Any(f => f.Name == "rawok"),
            Compressed = fields.Any(f => f.Name == "compressok"),
            LargeBlocks = fields.Any(f => f.Name == "largeblockok"),
            Embedded = fields.Any(f => f.Name == "embedok"),
        };
        var length = PayloadLength(fromGuid == 0 ? to.Referenced : to.Used);
        var record = new StreamRecord
        {
            Name = toName,
            Guid = to.Guid,
            FromGuid = fromGuid,
            CreateTxg = to.CreateTxg,
            Creation = to.Creation,
            Used = to.Used,
            Referenced = to.Referenced,
            Length = length,
            Offset = Math.Min(bytes, length),
        };
        return (new StreamHeader { Source = dataset!.Name, Flags = flags, Encryption = flags.Raw ? dataset.Encryption : "off", Resume = true }, [record]);
    }

    // ---- receive ----------------------------------------------------------------------------------------------------

    private void Receive(IReadOnlyList<string> args, Stream stdin)
    {
        var (options, operands) = Getopt.Parse(args, 1, ReceiveOptions);
        bool Has(char c) => options.Any(o => o.Option == c);
        if (operands.Count != 1)
        {
            throw new ZfsException("missing snapshot argument\nusage: zfs receive [-FhMnsuv] [-o <property=value>] ... [-x <property>] ... <filesystem|volume|snapshot>", 2);
        }

        var target = operands[0];
        if (Has('A'))
        {
            AbortReceive(target);
            return;
        }

        var set = PropertyOptions(options, 'o', "cannot receive");
        var inherit = options.Where(o => o.Option == 'x').Select(o => o.Argument!).ToList();
        using var buffer = new MemoryStream();
        stdin.CopyTo(buffer);
        var received = SendStream.Read(buffer.ToArray());
        if (received.Header is null || received.Records.Count == 0)
        {
            throw new ZfsException("cannot receive: failed to read from stream");
        }

        var resumable = Has('s');
        var force = Has('F');
        var verbose = Has('v');
        var dryRun = Has('n');
        // Each snapshot of a -I stream is a receive of its own: those before a failure stay, and so does the saved
        // state of an interrupted one (-s). A failed check changes nothing (it throws before any change).
        ZfsException? failure = null;
        store.Update(host, state =>
        {
            foreach (var (record, bytesRead, complete) in received.Records)
            {
                try
                {
                    ReceiveOne(state, target, received.Header, record, bytesRead, complete, resumable, force, set, inherit, verbose, dryRun);
                }
                catch (ZfsException e)
                {
                    failure = e;
                    return;
                }
                catch (SavedStateException e)
                {
                    failure = new ZfsException(e.Message);
                    return;
                }
            }
        });
        if (failure is not null)
        {
            throw failure;
        }
    }

    private void ReceiveOne(
        HostState state, string target, StreamHeader header, StreamRecord record, long bytesRead, bool complete,
        bool resumable, bool force, List<(string Name, string Value)> set, List<string> inherit, bool verbose, bool dryRun)
    {
        var snapName = record.Name[(record.Name.IndexOf('@', StringComparison.Ordinal) + 1)..];
        var datasetName = target;
        if (target.Contains('@', StringComparison.Ordinal))
        {
            datasetName = target[..target.IndexOf('@', StringComparison.Ordinal)];
            snapName = target[(target.IndexOf('@', StringComparison.Ordinal) + 1)..];
        }

        var destSnap = $"{datasetName}@{snapName}";
        var kind = header.Resume ? "resume" : record.FromGuid == 0 ? "new filesystem" : "incremental";
        var prefix = $"cannot receive {kind} stream";
        if (ZfsNames.Check(destSnap, ZfsNames.Kind.Snapshot) is { } why)
        {
            throw new ZfsException($"{prefix}: {why}");
        }

        var dataset = state.Find(datasetName);
        if (verbose)
        {
            _out.Append(CultureInfo.InvariantCulture, $"{(dryRun ? "would receive" : "receiving")} {(record.FromGuid == 0 ? "full" : "incremental")} stream of {record.Name} into {destSnap}\n");
        }

        if (header.Resume)
        {
            if (dataset?.Partial is not { } partial || partial.ToGuid != record.Guid)
            {
                throw new ZfsException(dataset is null
                    ? $"{prefix}: destination '{datasetName}' does not exist"
                    : $"{prefix}: kernel modules must be upgraded to receive this stream.");
            }

            if (partial.Bytes != record.Offset)
            {
                throw new ZfsException($"{prefix}: invalid backup stream");
            }

            if (dryRun)
            {
                return;
            }

            partial.Bytes += bytesRead;
            if (!complete)
            {
                Interrupted(dataset, prefix, resumable);
            }

            dataset.Partial = null;
            AddReceived(state, dataset, snapName, record, set, inherit);
            return;
        }

        if (record.FromGuid == 0)
        {
            if (dataset is not null)
            {
                if (dataset.Partial is not null)
                {
                    throw new ZfsException($"{prefix}: destination {datasetName} contains partially-complete state from \"zfs receive -s\".");
                }

                if (!force)
                {
                    throw new ZfsException($"{prefix}: destination '{datasetName}' exists\nmust specify -F to overwrite it");
                }

                if (dataset.Snapshots.Count > 0)
                {
                    throw new ZfsException($"{prefix}: destination has snapshots (eg. {datasetName}@{dataset.Snapshots[0].Name})\nmust destroy them to overwrite it");
                }

                if (dryRun)
                {
                    return;
                }

                state.Datasets.Remove(dataset);
            }
            else
            {
                var parent = ZfsNames.Parent(datasetName);
                if (parent is null)
                {
                    throw new ZfsException($"{prefix}: destination '{datasetName}' does not exist");
                }

                if (state.Find(parent) is null)
                {
                    throw new ZfsException($"cannot open '{parent}': dataset does not exist\n{prefix}: unable to restore to destination");
                }
            }

            if (dryRun)
            {
                return;
            }

            var created = NewDataset(state, datasetName);
            if (header.Flags.Raw && header.Encryption != "off")
            {
                created.Encryption = header.Encryption;
                created.KeyStatus = "unavailable";
            }

            if (!complete)
            {
                created.Partial = PartialOf(record, bytesRead, header, newFs: true);
                if (!resumable)
                {
                    state.Datasets.Remove(created);
                }

                Interrupted(created, prefix, resumable);
            }

            AddReceived(state, created, snapName, record, set, inherit);
            return;
        }

        // An incremental stream: the checks of dmu_recv_begin_check, in its order.
        if (dataset is null)
        {
            throw new ZfsException($"{prefix}: destination '{datasetName}' does not exist");
        }

        if (dataset.Partial is not null)
        {
            throw new ZfsException($"{prefix}: destination {datasetName} contains partially-complete state from \"zfs receive -s\".");
        }

        if (dataset.Snapshots.Find(s => s.Name == snapName) is { } existing)
        {
            if (existing.Guid == record.Guid)
            {
                if (verbose)
                {
                    _out.Append(CultureInfo.InvariantCulture, $"snap {destSnap} already exists; ignoring\n");
                }

                return;
            }

            throw new ZfsException($"cannot restore to {destSnap}: destination already exists");
        }

        var fromSnap = dataset.Snapshots.Find(s => s.Guid == record.FromGuid);
        if (fromSnap is null)
        {
            throw new ZfsException($"{prefix}: most recent snapshot of {destSnap} does not\nmatch incremental source");
        }

        if (header.Flags.Raw && dataset.Encryption == "off" && header.Encryption != "off")
        {
            throw new ZfsException($"{prefix}: cannot perform raw receive on top of existing unencrypted dataset");
        }

        if (force)
        {
            if (!dryRun)
            {
                dataset.Snapshots.RemoveAll(s => s.CreateTxg > fromSnap.CreateTxg);
                dataset.Bookmarks.RemoveAll(b => b.CreateTxg > fromSnap.CreateTxg);
                dataset.Written = 0;
            }
        }
        else if (dataset.Newest!.Guid != fromSnap.Guid || dataset.Written > 0)
        {
            throw new ZfsException($"{prefix}: destination {datasetName} has been modified\nsince most recent snapshot");
        }

        if (dryRun)
        {
            return;
        }

        if (!complete)
        {
            dataset.Partial = PartialOf(record, bytesRead, header, newFs: false);
            if (!resumable)
            {
                dataset.Partial = null;
            }

            Interrupted(dataset, prefix, resumable);
        }

        AddReceived(state, dataset, snapName, record, set, inherit);
    }

    private static PartialReceive PartialOf(StreamRecord record, long bytesRead, StreamHeader header, bool newFs) => new()
    {
        ToGuid = record.Guid,
        FromGuid = record.FromGuid,
        ToName = record.Name,
        Bytes = record.Offset + bytesRead,
        Length = record.Length,
        SourceCreateTxg = record.CreateTxg,
        SourceCreation = record.Creation,
        Used = record.Used,
        Referenced = record.Referenced,
        Flags = header.Flags,
        NewFs = newFs,
    };

    /// <summary>The stream ended early: with -s the partial state stays (the caller's state is saved) and the token is printed.</summary>
    private static void Interrupted(DatasetState dataset, string prefix, bool resumable)
    {
        if (resumable && dataset.Partial is { } partial)
        {
            throw new SavedStateException(
                $"{prefix}: checksum mismatch or incomplete stream.\nPartially received snapshot is saved.\n"
                + $"A resuming stream can be generated on the sending system by running:\n    zfs send -t {partial.Token()}");
        }

        throw new SavedStateException($"{prefix}: incomplete stream");
    }

    private static void AddReceived(
        HostState state, DatasetState dataset, string snapName, StreamRecord record,
        List<(string Name, string Value)> set, List<string> inherit)
    {
        dataset.Snapshots.Add(new SnapshotState
        {
            Name = snapName,
            Guid = record.Guid,
            CreateTxg = state.Txg(),
            Creation = record.Creation,
            Used = record.Used,
            Referenced = record.Referenced,
        });
        dataset.Referenced = record.Referenced;
        dataset.Written = 0;
        foreach (var (k, v) in set)
        {
            dataset.Properties[k] = v;
        }

        foreach (var k in inherit)
        {
            dataset.Properties.Remove(k);
        }
    }

    private void AbortReceive(string target)
    {
        store.Update(host, state =>
        {
            var dataset = state.Find(target) ?? throw new ZfsException($"cannot open '{target}': dataset does not exist");
            if (dataset.Partial is null)
            {
                throw new ZfsException($"'{target}' does not have any resumable receive state to abort");
            }

            if (dataset.Partial.NewFs)
            {
                state.Datasets.Remove(dataset);
            }
            else
            {
                dataset.Partial = null;
            }
        });
    }

    // ---- rollback / rename / destroy --------------------------------------------------------------------------------

    private void Rollback(IReadOnlyList<string> args)
    {
        var (options, operands) = Getopt.Parse(args, 1, "rRf");
        if (operands.Count != 1)
        {
            throw new ZfsException("usage: zfs rollback [-rRf] <snapshot>", 2);
        }

        var name = operands[0];
        var recursive = options.Any(o => o.Option is 'r' or 'R');
        store.Update(host, state =>
        {
            var at = name.IndexOf('@', StringComparison.Ordinal);
            var dataset = at > 0 ? state.Find(name[..at]) : null;
            var snap = dataset?.Snapshots.Find(s => s.Name == name[(at + 1)..])
                ?? throw new ZfsException($"cannot open '{name}': dataset does not exist");
            var newer = dataset!.Snapshots.Where(s => s.CreateTxg > snap.CreateTxg).Select(s => $"{dataset.Name}@{s.Name}")
                .Concat(dataset.Bookmarks.Where(b => b.CreateTxg > snap.CreateTxg).Select(b => $"{dataset.Name}#{b.Name}")).ToList();
            if (newer.Count > 0 && !recursive)
            {
                throw new ZfsException($"cannot rollback to '{name}': more recent snapshots or bookmarks exist\nuse '-r' to force deletion of the following snapshots and bookmarks:\n{string.Join("\n", newer)}");
            }

            if (dataset.Snapshots.Find(s => s.CreateTxg > snap.CreateTxg && s.Holds.Count > 0) is { } held)
            {
                throw new ZfsException($"cannot destroy snapshot {dataset.Name}@{held.Name}: dataset is busy");
            }

            dataset.Snapshots.RemoveAll(s => s.CreateTxg > snap.CreateTxg);
            dataset.Bookmarks.RemoveAll(b => b.CreateTxg > snap.CreateTxg);
            dataset.Written = 0;
            dataset.Referenced = snap.Referenced;
        });
    }

    private void Rename(IReadOnlyList<string> args)
    {
        var (options, operands) = Getopt.Parse(args, 1, "rfup");
        if (operands.Count != 2)
        {
            throw new ZfsException("usage: zfs rename [-fu] <filesystem|volume|snapshot> <filesystem|volume|snapshot>", 2);
        }

        var (from, to) = (operands[0], operands[1]);
        var parents = options.Any(o => o.Option == 'p');
        store.Update(host, state =>
        {
            if (from.Contains('@', StringComparison.Ordinal))
            {
                RenameSnapshot(state, from, to);
                return;
            }

            if (state.Find(from) is null)
            {
                throw new ZfsException($"cannot open '{from}': dataset does not exist");
            }

            if (ZfsNames.Check(to, ZfsNames.Kind.Dataset) is { } why)
            {
                throw new ZfsException($"cannot rename to '{to}': {why}");
            }

            if (ZfsNames.Pool(to) != ZfsNames.Pool(from))
            {
                throw new ZfsException($"cannot rename to '{to}': datasets must be within same pool");
            }

            if (state.Find(to) is not null)
            {
                throw new ZfsException($"cannot rename to '{to}': dataset already exists");
            }

            if (to.StartsWith(from + "/", StringComparison.Ordinal))
            {
                throw new ZfsException($"cannot rename to '{to}': New dataset name cannot be a descendant of current dataset name");
            }

            if (ZfsNames.Parent(to) is not { } parent || (state.Find(parent) is null && !parents))
            {
                throw new ZfsException($"cannot rename to '{to}': parent does not exist");
            }

            for (var p = ZfsNames.Parent(to); p is not null && state.Find(p) is null; p = ZfsNames.Parent(p))
            {
                NewDataset(state, p);
            }

            foreach (var d in state.Datasets.Where(d => d.Name == from || d.Name.StartsWith(from + "/", StringComparison.Ordinal)))
            {
                d.Name = to + d.Name[from.Length..];
            }
        });
    }

    private static void RenameSnapshot(HostState state, string from, string to)
    {
        var at = from.IndexOf('@', StringComparison.Ordinal);
        var dataset = state.Find(from[..at]);
        var snap = dataset?.Snapshots.Find(s => s.Name == from[(at + 1)..]) ?? throw new ZfsException($"cannot open '{from}': dataset does not exist");
        var newName = to.StartsWith('@') ? to[1..] : to.Contains('@', StringComparison.Ordinal) ? to[(to.IndexOf('@', StringComparison.Ordinal) + 1)..] : to;
        if (to.Contains('@', StringComparison.Ordinal) && !to.StartsWith('@') && to[..to.IndexOf('@', StringComparison.Ordinal)] != dataset!.Name)
        {
            throw new ZfsException($"cannot rename to '{to}': snapshots must be part of same dataset");
        }

        if (ZfsNames.Check($"{dataset!.Name}@{newName}", ZfsNames.Kind.Snapshot) is { } why)
        {
            throw new ZfsException($"cannot rename to '{to}': {why}");
        }

        if (dataset.Snapshots.Any(s => s.Name == newName))
        {
            throw new ZfsException($"cannot rename to '{dataset.Name}@{newName}': dataset already exists");
        }

        snap.Name = newName;
    }

    private void Destroy(IReadOnlyList<string> args)
    {
        var (options, operands) = Getopt.Parse(args, 1, "rRfnpvd");
        if (operands.Count != 1)
        {
            throw new ZfsException("usage: zfs destroy [-fnpRrv] <filesystem|volume|snapshot|bookmark>", 2);
        }

        var name = operands[0];
        var recursive = options.Any(o => o.Option is 'r' or 'R');
        store.Update(host, state =>
        {
            var sep = name.IndexOfAny(['@', '#']);
            if (sep > 0)
            {
                var owner = state.Find(name[..sep]);
                if (name[sep] == '#')
                {
                    if (owner?.Bookmarks.RemoveAll(b => b.Name == name[(sep + 1)..]) is not > 0)
                    {
                        throw new ZfsException($"cannot destroy '{name}': bookmark does not exist");
                    }

                    return;
                }

                var snap = owner?.Snapshots.Find(s => s.Name == name[(sep + 1)..])
                    ?? throw new ZfsException($"could not find any snapshots to destroy; check snapshot names.");
                if (snap.Holds.Count > 0)
                {
                    throw new ZfsException($"cannot destroy snapshot {name}: dataset is busy");
                }

                owner!.Snapshots.Remove(snap);
                return;
            }

            var dataset = state.Find(name) ?? throw new ZfsException($"cannot open '{name}': dataset does not exist");
            var children = state.Datasets.Where(d => d.Name.StartsWith(name + "/", StringComparison.Ordinal)).ToList();
            if (ZfsNames.Parent(name) is null)
            {
                throw new ZfsException($"cannot destroy '{name}': operation does not apply to pools\nuse 'zfs destroy -r {name}' to destroy all datasets in the pool\nuse 'zpool destroy {name}' to destroy the pool itself");
            }

            if (!recursive && (children.Count > 0 || dataset.Snapshots.Count > 0))
            {
                var listed = children.Select(c => c.Name).Concat(dataset.Snapshots.Select(s => $"{name}@{s.Name}"));
                throw new ZfsException($"cannot destroy '{name}': filesystem has children\nuse '-r' to destroy the following datasets:\n{string.Join("\n", listed)}");
            }

            foreach (var d in children.Append(dataset))
            {
                if (d.Snapshots.Find(s => s.Holds.Count > 0) is { } held)
                {
                    throw new ZfsException($"cannot destroy snapshot {d.Name}@{held.Name}: dataset is busy");
                }
            }

            state.Datasets.RemoveAll(d => d == dataset || children.Contains(d));
        });
    }

    // ---- bookmark / hold / release / holds --------------------------------------------------------------------------

    private void Bookmark(IReadOnlyList<string> args)
    {
        var (_, operands) = Getopt.Parse(args, 1, "r");
        if (operands.Count != 2)
        {
            throw new ZfsException("usage: zfs bookmark <snapshot|bookmark> <newbookmark>", 2);
        }

        var (source, mark) = (operands[0], operands[1]);
        store.Update(host, state =>
        {
            var error = $"cannot create bookmark '{mark}'";
            if (ZfsNames.Check(mark, ZfsNames.Kind.Bookmark) is { } why)
            {
                throw new ZfsException($"{error}: {why}");
            }

            var sep = source.IndexOfAny(['@', '#']);
            var dataset = sep > 0 ? state.Find(source[..sep]) : null;
            var markDataset = mark[..mark.IndexOf('#', StringComparison.Ordinal)];
            (ulong Guid, ulong Txg, long Creation)? found = null;
            if (dataset is not null && source[sep] == '@' && dataset.Snapshots.Find(s => s.Name == source[(sep + 1)..]) is { } s)
            {
                found = (s.Guid, s.CreateTxg, s.Creation);
            }
            else if (dataset is not null && source[sep] == '#' && dataset.Bookmarks.Find(b => b.Name == source[(sep + 1)..]) is { } b)
            {
                found = (b.Guid, b.CreateTxg, b.Creation);
            }

            if (found is null)
            {
                throw new ZfsException($"{error}: dataset does not exist");
            }

            if (markDataset != dataset!.Name)
            {
                throw new ZfsException($"{error}: source is not an ancestor of the new bookmark's dataset");
            }

            var shortName = mark[(mark.IndexOf('#', StringComparison.Ordinal) + 1)..];
            if (dataset.Bookmarks.Any(x => x.Name == shortName))
            {
                throw new ZfsException($"{error}: bookmark exists");
            }

            dataset.Bookmarks.Add(new BookmarkState { Name = shortName, Guid = found.Value.Guid, CreateTxg = found.Value.Txg, Creation = found.Value.Creation });
        });
    }

    private void HoldOrRelease(IReadOnlyList<string> args)
    {
        var hold = args[0] == "hold";
        var (_, operands) = Getopt.Parse(args, 1, "r");
        if (operands.Count < 2)
        {
            throw new ZfsException($"usage: zfs {args[0]} [-r] <tag> <snapshot> ...", 2);
        }

        var tag = operands[0];
        store.Update(host, state =>
        {
            foreach (var name in operands.Skip(1))
            {
                var at = name.IndexOf('@', StringComparison.Ordinal);
                var snap = at > 0 ? state.Find(name[..at])?.Snapshots.Find(s => s.Name == name[(at + 1)..]) : null;
                var what = hold ? $"cannot hold snapshot '{name}'" : $"cannot release hold from snapshot '{name}'";
                if (snap is null)
                {
                    throw new ZfsException($"{what}: dataset does not exist");
                }

                if (hold)
                {
                    if (!snap.Holds.TryAdd(tag, state.Clock))
                    {
                        throw new ZfsException($"{what}: tag already exists on this dataset");
                    }
                }
                else if (!snap.Holds.Remove(tag))
                {
                    throw new ZfsException($"{what}: no such tag on this dataset");
                }
            }
        });
    }

    private void Holds(IReadOnlyList<string> args)
    {
        var (options, operands) = Getopt.Parse(args, 1, "Hrp");
        var scripted = options.Any(o => o.Option == 'H');
        var state = store.Read(host);
        if (!scripted)
        {
            _out.Append("NAME\tTAG\tTIMESTAMP\n");
        }

        foreach (var name in operands)
        {
            var at = name.IndexOf('@', StringComparison.Ordinal);
            var snap = at > 0 ? state.Find(name[..at])?.Snapshots.Find(s => s.Name == name[(at + 1)..]) : null;
            if (snap is null)
            {
                throw new ZfsException($"cannot open '{name}': dataset does not exist");
            }

            foreach (var (tag, at2) in snap.Holds)
            {
                _out.Append(CultureInfo.InvariantCulture, $"{name}\t{tag}\t{DateTimeOffset.FromUnixTimeSeconds(at2).UtcDateTime:ddd MMM d HH:mm yyyy}\n");
            }
        }
    }
}

/// <summary>A receive that ended early: its message is printed, but unlike other failures the state it changed is saved.</summary>
public sealed class SavedStateException : Exception
{
    public SavedStateException()
    {
    }

    public SavedStateException(string message)
        : base(message)
    {
    }

    public SavedStateException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
