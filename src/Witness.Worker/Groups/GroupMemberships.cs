using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using ZfsSync.Witness.Core.Planning;
using ZfsSync.Witness.Worker.Hosting;
using ZfsSync.Witness.Worker.Persistence;

namespace ZfsSync.Witness.Worker.Groups;

/// <summary>
/// A group definition document parsed once: the document, the planner's group and host definitions, and each member's
/// dataset paths (a dataset's <c>On</c> entry for that member, else its <c>Path</c>; for a dataset tree, the tree's root
/// on that member, so that a change to any child under it, one that appears included, reaches the group). Shared by
/// everything that reads the same definition; treat it as read-only.
/// </summary>
public sealed class ParsedGroupDefinition
{
    private ParsedGroupDefinition(string hash, GroupDefinitionDocument document)
    {
        Hash = hash;
        Document = document;
        Group = document.ToGroup();
        Hosts = document.ToHosts();
        DatasetsByHost = document.Group.Members.Distinct(StringComparer.Ordinal).ToDictionary(
            m => m,
            m => (IReadOnlyList<string>)[.. Group.Datasets.Select(d => d.IsTree ? DatasetTree.RootOn(d, m) : d.NameOn(m)).Distinct(StringComparer.Ordinal)],
            StringComparer.Ordinal);
    }

    public string Hash { get; }
    public GroupDefinitionDocument Document { get; }
    public string Name => Document.Group.Name;
    public SyncGroupDefinition Group { get; }
    public IReadOnlyDictionary<string, HostDefinition> Hosts { get; }

    /// <summary>Each member's own paths of the group's datasets (a tree's root for a tree entry), in the group's order.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> DatasetsByHost { get; }

    public static ParsedGroupDefinition Parse(string hash, string json) => new(hash, GroupDefinitionDocument.Parse(json));

    public static ParsedGroupDefinition Of(GroupDefinitionDocument document)
    {
        ArgumentNullException.ThrowIfNull(document);
        return new(GroupDefinitionDocument.Hash(document.ToJson()), document);
    }
}

/// <summary>
/// Stored group definitions (<c>sync_group_definitions</c>), each parsed once and kept by its hash: the hash is the
/// SHA-256 of the JSON, so one hash is one document. A process-wide singleton.
/// </summary>
public sealed class GroupDefinitionCache
{
    private readonly ConcurrentDictionary<string, ParsedGroupDefinition> _byHash = new(StringComparer.Ordinal);

    /// <summary>How many parsed definitions are kept.</summary>
    public int Count => _byHash.Count;

    /// <summary>The definition with this hash, parsing <paramref name="json"/> only the first time.</summary>
    public ParsedGroupDefinition Get(string hash, string json)
    {
        ArgumentNullException.ThrowIfNull(hash);
        ArgumentNullException.ThrowIfNull(json);
        return _byHash.GetOrAdd(hash, static (h, j) => ParsedGroupDefinition.Parse(h, j), json);
    }

    public bool TryGet(string hash, out ParsedGroupDefinition definition) => _byHash.TryGetValue(hash, out definition!);

    /// <summary>The stored row's definition.</summary>
    public ParsedGroupDefinition Get(GroupDefinitionRecord row)
    {
        ArgumentNullException.ThrowIfNull(row);
        return Get(row.DefinitionHash, row.Definition);
    }

    /// <summary>Forgets every definition whose hash is not in <paramref name="hashes"/> (those no longer stored).</summary>
    public void Retain(IReadOnlySet<string> hashes)
    {
        ArgumentNullException.ThrowIfNull(hashes);
        foreach (var hash in _byHash.Keys.Where(h => !hashes.Contains(h)))
        {
            _byHash.TryRemove(hash, out _);
        }
    }
}

/// <summary>One group a host belongs to, with the host's own paths of the group's datasets.</summary>
public sealed record GroupMembership(string SyncGroup, IReadOnlyList<string> Datasets);

/// <summary>
/// Answers "which sync groups and datasets does host H belong to" for inventory ingest and host-status routing alike.
/// The source is the stored definition in force of each group (what its saga plans with), parsed once per hash
/// (<see cref="GroupDefinitionCache"/>). A group this process's configuration declares that has no stored definition yet
/// (its <c>SyncGroupConfigured</c> is still on its way) counts with the configured definition, so a report that
/// overtakes the group's first announcement still reaches (and creates) the group's saga. Each call reads the stored
/// (group, hash) pairs — one small query — and the JSON only of definitions it has not parsed yet; the host index is
/// rebuilt only when those pairs or the configuration changed. A process-wide singleton.
/// </summary>
public sealed class GroupMemberships(GroupDefinitionCache cache, IOptionsMonitor<WitnessOptions> options)
{
    private volatile HostIndex? _index;

    /// <summary>The groups <paramref name="hostId"/> is a member of, ordered by group name.</summary>
    public async Task<IReadOnlyList<GroupMembership>> OfHostAsync(WitnessDbContext db, string hostId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(hostId);
        var index = await IndexAsync(db, cancellationToken);
        return index.ByHost.TryGetValue(hostId, out var groups) ? groups : [];
    }

    /// <summary>Every group's definition as this component sees it, by group name.</summary>
    public async Task<IReadOnlyDictionary<string, ParsedGroupDefinition>> DefinitionsAsync(WitnessDbContext db, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        return (await IndexAsync(db, cancellationToken)).Groups;
    }

    private async Task<HostIndex> IndexAsync(WitnessDbContext db, CancellationToken cancellationToken)
    {
        var stored = await db.Set<GroupDefinitionRecord>().AsNoTracking()
            .Select(d => new StoredPair(d.SyncGroup, d.DefinitionHash))
            .ToListAsync(cancellationToken);
        stored.Sort((a, b) => string.CompareOrdinal(a.SyncGroup, b.SyncGroup));
        var config = options.CurrentValue;
        var current = _index;
        if (current is not null && ReferenceEquals(current.Configuration, config) && current.Stored.SequenceEqual(stored))
        {
            return current;
        }

        var groups = new Dictionary<string, ParsedGroupDefinition>(StringComparer.Ordinal);
        var missing = new List<string>();
        foreach (var pair in stored)
        {
            if (cache.TryGet(pair.DefinitionHash, out var parsed))
            {
                groups[pair.SyncGroup] = parsed;
            }
            else
            {
                missing.Add(pair.SyncGroup);
            }
        }

        foreach (var chunk in missing.Chunk(500))
        {
            var rows = await db.Set<GroupDefinitionRecord>().AsNoTracking().Where(d => chunk.Contains(d.SyncGroup)).ToListAsync(cancellationToken);
            foreach (var row in rows)
            {
                groups[row.SyncGroup] = cache.Get(row);
            }
        }

        // Stored pairs as read; a row that changed between the two queries is read again by the next call.
        cache.Retain(stored.Select(s => s.DefinitionHash).Concat(groups.Values.Select(g => g.Hash)).ToHashSet(StringComparer.Ordinal));
        foreach (var group in config.SyncGroups.Where(g => !groups.ContainsKey(g.Name)))
        {
            groups[group.Name] = ParsedGroupDefinition.Of(GroupDefinitionDocument.For(group, config));
        }

        var byHost = new Dictionary<string, List<GroupMembership>>(StringComparer.Ordinal);
        foreach (var (name, definition) in groups.OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            foreach (var (host, datasets) in definition.DatasetsByHost)
            {
                if (!byHost.TryGetValue(host, out var list))
                {
                    byHost[host] = list = [];
                }

                list.Add(new GroupMembership(name, datasets));
            }
        }

        var index = new HostIndex(config, stored, groups, byHost.ToDictionary(h => h.Key, h => (IReadOnlyList<GroupMembership>)h.Value, StringComparer.Ordinal));
        _index = index;
        return index;
    }

    private readonly record struct StoredPair(string SyncGroup, string DefinitionHash);

    private sealed record HostIndex(
        WitnessOptions Configuration,
        List<StoredPair> Stored,
        IReadOnlyDictionary<string, ParsedGroupDefinition> Groups,
        IReadOnlyDictionary<string, IReadOnlyList<GroupMembership>> ByHost);
}
