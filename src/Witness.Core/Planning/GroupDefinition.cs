using ZfsSync.Witness.Core.Shell;

namespace ZfsSync.Witness.Core.Planning;

public enum HostOs
{
    Linux,
    FreeBsd,
}

/// <summary>A member host as configured: how to reach it and how to run <c>zfs</c> there.</summary>
public sealed record HostDefinition
{
    public required string Id { get; init; }
    public required string SshHost { get; init; }
    public string? SshUser { get; init; }
    public int? SshPort { get; init; }
    public string? IdentityFile { get; init; }
    public HostOs Os { get; init; } = HostOs.Linux;

    /// <summary>Overrides the platform default (<c>zfs</c> on Linux, <c>/sbin/zfs</c> on FreeBSD).</summary>
    public string? ZfsPath { get; init; }

    public bool Sudo { get; init; }

    /// <summary>The program to run for <c>zfs</c> on this host.</summary>
    public string ZfsCommand => ZfsPath ?? (Os == HostOs.FreeBsd ? "/sbin/zfs" : "zfs");

    /// <summary>Every problem with the values that reach a command line, as sentences.</summary>
    public IEnumerable<string> Validate()
    {
        var errors = new[]
        {
            ValueValidators.HostId(Id),
            ValueValidators.HostName(SshHost),
            SshUser is null ? null : ValueValidators.SshUser(SshUser),
            ValueValidators.Port(SshPort),
            IdentityFile is null ? null : ValueValidators.FilePath(IdentityFile),
            ValueValidators.ToolPath(ZfsCommand),
        };
        return errors.Where(e => e is not null).Select(e => $"host {Id}: {e}");
    }
}

public enum SyncMode
{
    /// <summary>One configured source per dataset.</summary>
    Primary,

    /// <summary>The member whose history dominates all others is the source.</summary>
    FollowNewest,
}

public enum RawSend
{
    /// <summary>Raw (<c>-w</c>) when the source is encrypted.</summary>
    Auto,
    Always,

    /// <summary>Decrypt on send.</summary>
    Never,
}

public enum InitialSnapshot
{
    Oldest,
    Newest,
}

public sealed record SendOptions
{
    public RawSend Raw { get; init; } = RawSend.Auto;
    public bool Compressed { get; init; } = true;
    public bool LargeBlocks { get; init; } = true;
    public bool Embedded { get; init; } = true;
}

public sealed record ReceiveOptions
{
    /// <summary><c>-o name=value</c> per entry, in name order.</summary>
    public IReadOnlyDictionary<string, string> Set { get; init; } = new Dictionary<string, string>();

    /// <summary><c>-x name</c> per entry.</summary>
    public IReadOnlyList<string> Inherit { get; init; } = [];
}

public enum StreamCompression
{
    None,
    Zstd,
}

public sealed record PipeOptions
{
    /// <summary><c>mbuffer -q -s 128k -m SIZE</c> on both ends, or null for none.</summary>
    public string? MbufferSize { get; init; }

    public StreamCompression Compression { get; init; } = StreamCompression.None;

    /// <summary><c>pv</c> on the sending side.</summary>
    public bool Progress { get; init; }

    /// <summary>
    /// The group's bandwidth limit (a <see cref="ValueValidators.BandwidthLimit"/> value such as <c>20M</c>), or null
    /// for none: the sending side's <c>mbuffer -r BYTES</c> when <see cref="MbufferSize"/> is set, else a
    /// <c>pv -q -L BYTES</c> stage.
    /// </summary>
    public string? BandwidthLimit { get; init; }
}

/// <summary>How a target's incremental base is kept on the source against pruners (docs/PLANNING.md, "Protected bases").</summary>
public enum ProtectBases
{
    /// <summary>Bookmark each new base on the source as <c>#zfssync-TARGET-CREATETXG</c>; destroy that target's previous one.</summary>
    Bookmark,

    /// <summary>Hold the new base with the tag <c>zfssync-TARGET</c> (not implemented yet: rejected by validation).</summary>
    Hold,

    /// <summary>Nothing is protected.</summary>
    Off,
}

/// <summary>A dataset of a group: one logical path, optionally named differently on some members.</summary>
public sealed record GroupDataset
{
    public required string Path { get; init; }
    public IReadOnlyDictionary<string, string> On { get; init; } = new Dictionary<string, string>();

    public string NameOn(string hostId) => On.TryGetValue(hostId, out var name) ? name : Path;

    /// <summary>A tree entry: this dataset and every descendant (docs/PLANNING.md, "Dataset trees").</summary>
    public bool Recursive { get; init; }

    /// <summary>A tree entry's exclusions: globs relative to its root; an excluded dataset's descendants are excluded too.</summary>
    public IReadOnlyList<string> Exclude { get; init; } = [];

    /// <summary>Recursive, or a path with <c>*</c> or <c>?</c>: its datasets are discovered from the reports.</summary>
    public bool IsTree => Recursive || DatasetTree.IsPattern(Path);
}

/// <summary>Which snapshots are sent, by name glob (<c>*</c>, <c>?</c>). Empty include means all.</summary>
public sealed record SnapshotFilter
{
    public static readonly SnapshotFilter All = new();

    public IReadOnlyList<string> Include { get; init; } = [];
    public IReadOnlyList<string> Exclude { get; init; } = [];

    public bool IsAll => Include.Count == 0 && Exclude.Count == 0;

    public bool Matches(string snapshotName)
    {
        ArgumentNullException.ThrowIfNull(snapshotName);
        if (Include.Count > 0 && !Include.Any(p => Glob.IsMatch(p, snapshotName)))
        {
            return false;
        }

        return !Exclude.Any(p => Glob.IsMatch(p, snapshotName));
    }
}

/// <summary>A sync group as the worker maps it from configuration.</summary>
public sealed record SyncGroupDefinition
{
    public required string Name { get; init; }
    public SyncMode Mode { get; init; } = SyncMode.Primary;

    /// <summary>The source host in <see cref="SyncMode.Primary"/> mode.</summary>
    public string? Source { get; init; }

    public required IReadOnlyList<string> Members { get; init; }
    public required IReadOnlyList<GroupDataset> Datasets { get; init; }
    public SnapshotFilter Snapshots { get; init; } = SnapshotFilter.All;
    public InitialSnapshot Initial { get; init; } = InitialSnapshot.Oldest;

    /// <summary><c>-I</c> (true) or <c>-i</c> (false).</summary>
    public bool Intermediates { get; init; } = true;

    public SendOptions Send { get; init; } = new();
    public ReceiveOptions Receive { get; init; } = new();
    public PipeOptions Pipe { get; init; } = new();
    public TimeSpan StaleAfter { get; init; } = TimeSpan.FromHours(2);
    public TimeSpan InstructionTtl { get; init; } = TimeSpan.FromHours(6);

    /// <summary>When instructions may go out (docs/PLANNING.md, "Replication windows"); none: always.</summary>
    public IReadOnlyList<ReplicationWindow> Windows { get; init; } = [];

    /// <summary>How each target's base is protected on the source (docs/PLANNING.md, "Protected bases").</summary>
    public ProtectBases ProtectBases { get; init; } = ProtectBases.Bookmark;

    /// <summary>Every problem with the definition, as sentences naming the value; empty when it is usable.</summary>
    public IReadOnlyList<string> Validate(IReadOnlyDictionary<string, HostDefinition> hosts)
    {
        ArgumentNullException.ThrowIfNull(hosts);
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(Name))
        {
            errors.Add("the group has no name");
        }

        if (Members.Count < 2)
        {
            errors.Add($"group {Name}: a group needs at least two members");
        }

        if (Members.Distinct(StringComparer.Ordinal).Count() != Members.Count)
        {
            errors.Add($"group {Name}: a member is listed twice");
        }

        foreach (var member in Members)
        {
            if (!hosts.TryGetValue(member, out var host))
            {
                errors.Add($"group {Name}: member {member} is not a configured host");
            }
            else
            {
                errors.AddRange(host.Validate());
            }
        }

        if (Mode == SyncMode.Primary && (Source is null || !Members.Contains(Source)))
        {
            errors.Add($"group {Name}: primary mode needs a source that is a member");
        }

        foreach (var dataset in Datasets)
        {
            if (dataset.IsTree || dataset.Exclude.Count > 0)
            {
                errors.AddRange(DatasetTree.Validate(dataset, Members).Select(e => $"group {Name}, dataset {dataset.Path}: {e}"));
                continue;
            }

            foreach (var member in Members)
            {
                var error = ValueValidators.DatasetName(dataset.NameOn(member));
                if (error is not null)
                {
                    errors.Add($"group {Name}, dataset {dataset.Path} on {member}: {error}");
                }
            }
        }

        foreach (var (name, value) in Receive.Set)
        {
            AddIfError(errors, ValueValidators.PropertyName(name));
            AddIfError(errors, ValueValidators.PropertyValue(value));
        }

        foreach (var name in Receive.Inherit)
        {
            AddIfError(errors, ValueValidators.PropertyName(name));
        }

        if (Pipe.MbufferSize is not null)
        {
            AddIfError(errors, ValueValidators.BufferSize(Pipe.MbufferSize));
        }

        if (Pipe.BandwidthLimit is not null)
        {
            AddIfError(errors, ValueValidators.BandwidthLimit(Pipe.BandwidthLimit));
        }

        if (!ReplicationWindows.TryParse(Windows, out _, out var windowErrors))
        {
            errors.AddRange(windowErrors.Select(e => $"group {Name}: {e}"));
        }

        if (ProtectBases == ProtectBases.Hold)
        {
            errors.Add($"group {Name}: ProtectBases hold is not supported yet; use bookmark or off");
        }

        if (StaleAfter <= TimeSpan.Zero || InstructionTtl <= TimeSpan.Zero)
        {
            errors.Add($"group {Name}: StaleAfter and InstructionTtl must be positive");
        }

        return errors;

        void AddIfError(List<string> list, string? error)
        {
            if (error is not null)
            {
                list.Add($"group {Name}: {error}");
            }
        }
    }
}

/// <summary>Glob matching with <c>*</c> (any run) and <c>?</c> (one character), ordinal.</summary>
public static class Glob
{
    public static bool IsMatch(string pattern, string text)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        ArgumentNullException.ThrowIfNull(text);
        int p = 0, t = 0, star = -1, mark = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || pattern[p] == text[t]))
            {
                p++;
                t++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                mark = t;
            }
            else if (star >= 0)
            {
                p = star + 1;
                t = ++mark;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }
}
