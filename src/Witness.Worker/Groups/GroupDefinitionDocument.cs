using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Planning;
using ZfsSync.Witness.Worker.Hosting;

namespace ZfsSync.Witness.Worker.Groups;

/// <summary>
/// What a sync group's saga plans with: the group's configuration and the hosts of its members, as one JSON document
/// carried by <see cref="SyncGroupConfigured"/> and stored in <c>sync_group_definitions</c>. Planning uses the stored
/// (newest) document, never a replica's own configuration, so replicas with different files agree.
/// </summary>
public sealed record GroupDefinitionDocument
{
    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web) { WriteIndented = false };

    public SyncGroupOptions Group { get; init; } = new();
    public List<ZfsHostOptions> Hosts { get; init; } = [];

    public static GroupDefinitionDocument For(SyncGroupOptions group, WitnessOptions options)
    {
        ArgumentNullException.ThrowIfNull(group);
        ArgumentNullException.ThrowIfNull(options);
        return new GroupDefinitionDocument
        {
            Group = group,
            Hosts = [.. options.Hosts.Where(h => group.Members.Contains(h.Id)).OrderBy(h => h.Id, StringComparer.Ordinal)],
        };
    }

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    public static GroupDefinitionDocument Parse(string json) =>
        JsonSerializer.Deserialize<GroupDefinitionDocument>(json, JsonOptions) ?? throw new JsonException("empty group definition");

    public static string Hash(string json) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(json)));

    /// <summary>The announcement of this definition as loaded at <paramref name="loadedAt"/>.</summary>
    public SyncGroupConfigured Announce(DateTimeOffset loadedAt)
    {
        var json = ToJson();
        return new SyncGroupConfigured { SyncGroup = Group.Name, Definition = json, DefinitionHash = Hash(json), LoadedAt = loadedAt };
    }

    public SyncGroupDefinition ToGroup() => DefinitionMapper.Group(Group);

    /// <summary>Every member's host definition; a member without a <c>Hosts</c> entry is reached at its id.</summary>
    public IReadOnlyDictionary<string, HostDefinition> ToHosts()
    {
        var hosts = Hosts.GroupBy(h => h.Id, StringComparer.Ordinal).ToDictionary(g => g.Key, g => DefinitionMapper.Host(g.First()), StringComparer.Ordinal);
        foreach (var member in Group.Members.Where(m => !hosts.ContainsKey(m)))
        {
            hosts[member] = DefinitionMapper.Host(new ZfsHostOptions { Id = member });
        }

        return hosts;
    }
}
