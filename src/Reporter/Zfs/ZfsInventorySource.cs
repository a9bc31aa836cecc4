using ZfsSync.Contracts;

namespace ZfsSync.Reporter.Zfs;

/// <summary>What <c>zfs list</c> and <c>zfs get</c> printed for the configured roots, already parsed.</summary>
public sealed record ZfsCapture(DateTimeOffset CapturedAt, List<ZfsListEntry> Entries, Dictionary<string, ZfsDatasetProperties> Properties);

/// <summary>The host facts a heartbeat carries.</summary>
public sealed record ZfsHostFacts(string? ZfsVersion, IReadOnlyList<PoolHealth> Pools, string? Error);

/// <summary>
/// Runs the reporter's read-only commands: per root <c>zfs list … -r ROOT</c> and
/// <c>zfs get … -r -t filesystem,volume ROOT</c>; for heartbeats <c>zpool list</c> and <c>zfs version</c>.
/// Any failure throws: a capture is complete or it is nothing.
/// </summary>
public sealed class ZfsInventorySource(IZfsCommandRunner runner, TimeProvider timeProvider)
{
    public static IReadOnlyList<string> ListArguments(string root) =>
    [
        "list", "-H", "-p", "-o", "name,type,guid,createtxg,creation,used,referenced",
        "-t", "filesystem,volume,snapshot,bookmark", "-s", "createtxg", "-r", root,
    ];

    public static IReadOnlyList<string> GetArguments(string root) =>
    [
        "get", "-H", "-p", "-o", "name,property,value", "-r", "-t", "filesystem,volume",
        "receive_resume_token,encryption,keystatus,written", root,
    ];

    public async Task<ZfsCapture> CaptureAsync(IReadOnlyList<string> roots, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(roots);
        var capturedAt = timeProvider.GetUtcNow();
        var entries = new List<ZfsListEntry>();
        var properties = new Dictionary<string, ZfsDatasetProperties>(StringComparer.Ordinal);
        foreach (var root in roots)
        {
            var list = await runner.RunAsync(ZfsTool.Zfs, ListArguments(root), retry: true, cancellationToken).ConfigureAwait(false);
            entries.AddRange(Parse(() => ZfsOutputParser.ParseList(list), $"zfs list {root}"));
            var get = await runner.RunAsync(ZfsTool.Zfs, GetArguments(root), retry: true, cancellationToken).ConfigureAwait(false);
            foreach (var (name, value) in Parse(() => ZfsOutputParser.ParseGet(get), $"zfs get {root}"))
            {
                properties.TryAdd(name, value);
            }
        }

        return new ZfsCapture(capturedAt, entries, properties);
    }

    public async Task<ZfsHostFacts> ProbeHostAsync(CancellationToken cancellationToken)
    {
        string? error = null;
        IReadOnlyList<PoolHealth> pools = [];
        try
        {
            var output = await runner.RunAsync(ZfsTool.Zpool, ["list", "-H", "-o", "name,health"], retry: false, cancellationToken).ConfigureAwait(false);
            pools = [.. Parse(() => ZfsOutputParser.ParsePools(output), "zpool list").Select(p => new PoolHealth { Name = p.Name, Health = p.Health })];
        }
        catch (Exception e) when (e is ZfsCommandException or ZfsOutputException)
        {
            error = e.Message;
        }

        string? version = null;
        try
        {
            version = ZfsOutputParser.ParseVersion(
                await runner.RunAsync(ZfsTool.Zfs, ["version"], retry: false, cancellationToken).ConfigureAwait(false));
        }
        catch (ZfsCommandException)
        {
            // Older ZFS releases have no "zfs version"; the heartbeat then carries none.
        }

        return new ZfsHostFacts(version, pools, error);
    }

    private static T Parse<T>(Func<T> parse, string what)
    {
        try
        {
            return parse();
        }
        catch (ZfsOutputException e)
        {
            throw new ZfsOutputException($"{what} printed unexpected output: {e.Message}", e);
        }
    }
}
