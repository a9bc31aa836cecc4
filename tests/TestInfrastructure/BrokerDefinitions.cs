using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace ZfsSync.TestInfrastructure;

/// <summary>The repository's <c>rabbitmq/definitions.json</c>: the production users and their permissions.</summary>
public sealed class BrokerDefinitions(JsonNode root)
{
    public JsonNode Root { get; } = root;

    public static BrokerDefinitions Load() =>
        new(JsonNode.Parse(File.ReadAllText(Path.Combine(RepositoryRoot(), "rabbitmq", "definitions.json")))!);

    public static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "ZfsSync.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("ZfsSync.sln not found above " + AppContext.BaseDirectory);
    }

    public string TagsOf(string user) =>
        string.Join(',', Root["users"]!.AsArray().Single(u => (string?)u!["name"] == user)!["tags"]!.AsArray().Select(t => (string?)t));

    /// <summary>The user's configure/write/read expressions, with its name (regex-escaped) replaced by <paramref name="asUser"/>.</summary>
    public (string Configure, string Write, string Read) PermissionsOf(string user, string asUser)
    {
        var permission = Root["permissions"]!.AsArray().Single(p => (string?)p!["user"] == user)!;
        // Only where the name follows a role prefix (reporter\.nas1), never the prefix itself (executor\.executor).
        string Rename(string pattern) => pattern.Replace(@"\." + Regex.Escape(user), @"\." + Regex.Escape(asUser), StringComparison.Ordinal);
        return (Rename((string)permission["configure"]!), Rename((string)permission["write"]!), Rename((string)permission["read"]!));
    }
}
