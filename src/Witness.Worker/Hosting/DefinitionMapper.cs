using ZfsSync.Witness.Core.Planning;
using CorePipe = ZfsSync.Witness.Core.Planning.PipeOptions;
using CoreReceive = ZfsSync.Witness.Core.Planning.ReceiveOptions;
using CoreSend = ZfsSync.Witness.Core.Planning.SendOptions;

namespace ZfsSync.Witness.Worker.Hosting;

/// <summary>Maps the configuration onto the planner's definitions (pure domain types).</summary>
public static class DefinitionMapper
{
    /// <summary>Every declared host; a host without an <c>Ssh</c> section is reached at its id as host name.</summary>
    public static IReadOnlyDictionary<string, HostDefinition> Hosts(WitnessOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.Hosts
            .Where(h => !string.IsNullOrEmpty(h.Id))
            .GroupBy(h => h.Id, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => Host(g.First()), StringComparer.Ordinal);
    }

    public static HostDefinition Host(ZfsHostOptions host)
    {
        ArgumentNullException.ThrowIfNull(host);
        return new HostDefinition
        {
            Id = host.Id,
            SshHost = string.IsNullOrWhiteSpace(host.Ssh?.Host) ? host.Id : host.Ssh.Host,
            SshUser = host.Ssh?.User,
            SshPort = host.Ssh?.Port,
            IdentityFile = host.Ssh?.IdentityFile,
            Os = host.Os == "freebsd" ? HostOs.FreeBsd : HostOs.Linux,
            ZfsPath = host.ZfsPath,
            Sudo = host.Sudo,
        };
    }

    public static SyncGroupDefinition Group(SyncGroupOptions group)
    {
        ArgumentNullException.ThrowIfNull(group);
        return new SyncGroupDefinition
        {
            Name = group.Name,
            Mode = group.Mode == "follow-newest" ? SyncMode.FollowNewest : SyncMode.Primary,
            Source = group.Source,
            Members = [.. group.Members],
            Datasets = [.. group.Datasets.Select(d => new GroupDataset
            {
                Path = d.Path,
                On = new Dictionary<string, string>(d.On, StringComparer.Ordinal),
                Recursive = d.Recursive,
                Exclude = [.. d.Exclude ?? []],
            })],
            Snapshots = new SnapshotFilter { Include = [.. group.Snapshots.Include], Exclude = [.. group.Snapshots.Exclude] },
            Initial = group.Initial == "newest" ? InitialSnapshot.Newest : InitialSnapshot.Oldest,
            Intermediates = group.Intermediates,
            Send = new CoreSend
            {
                Raw = group.Send.Raw switch { "always" => RawSend.Always, "never" => RawSend.Never, _ => RawSend.Auto },
                Compressed = group.Send.Compressed,
                LargeBlocks = group.Send.LargeBlocks,
                Embedded = group.Send.Embedded,
            },
            Receive = new CoreReceive
            {
                Set = new SortedDictionary<string, string>(group.Receive.Set, StringComparer.Ordinal),
                Inherit = [.. group.Receive.Inherit],
            },
            Pipe = new CorePipe
            {
                MbufferSize = string.IsNullOrWhiteSpace(group.Pipe.Mbuffer) ? null : group.Pipe.Mbuffer,
                Compression = string.Equals(group.Pipe.Compression, "zstd", StringComparison.OrdinalIgnoreCase) ? StreamCompression.Zstd : StreamCompression.None,
                Progress = group.Pipe.Progress,
                BandwidthLimit = string.IsNullOrWhiteSpace(group.BandwidthLimit) ? null : group.BandwidthLimit.Trim(),
            },
            StaleAfter = group.StaleAfter,
            InstructionTtl = group.InstructionTtl,
            Windows = [.. (group.Windows ?? []).Select(w => new ReplicationWindow { Days = w.Days, Start = w.Start, End = w.End, TimeZone = w.TimeZone })],
            // Validated at start (WitnessOptionsValidator); anything but hold and off is the default.
            ProtectBases = group.ProtectBases switch
            {
                "off" => ProtectBases.Off,
                "hold" => ProtectBases.Hold,
                _ => ProtectBases.Bookmark,
            },
        };
    }
}
