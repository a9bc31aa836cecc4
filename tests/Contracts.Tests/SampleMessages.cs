using ZfsSync.Contracts;

namespace ZfsSync.Contracts.Tests;

/// <summary>One fully populated instance of every message in docs/CONTRACT.md, with values at the edges of their ranges.</summary>
internal static class SampleMessages
{
    public const ulong AboveTwoPow53 = 9_007_199_254_740_993UL; // 2^53 + 1: not representable as a double

    private static readonly DateTimeOffset At = new(2026, 11, 25, 10, 40, 0, TimeSpan.FromHours(1));

    public static SnapshotInventoryReported Inventory() => new()
    {
        HostId = "nas1",
        ReportId = new Guid("0b1e7d5a-7a9e-4f57-9a3a-5d2e0e0c1f01"),
        Sequence = 1_764_067_200_123,
        CapturedAt = At,
        Roots = ["tank/data", "tank/vm"],
        Part = 2,
        PartCount = 3,
        Datasets =
        [
            new DatasetInventory
            {
                Name = "tank/data",
                Type = DatasetTypes.Filesystem,
                Guid = ulong.MaxValue - 2,
                Encryption = "aes-256-gcm",
                KeyStatus = "available",
                ReceiveResumeToken = "1-9baebea70-b8-789c63",
                Resume = new ResumeTokenInfo { ToGuid = ulong.MaxValue, FromGuid = AboveTwoPow53, ToName = "tank/data@b", Bytes = 5_128_744 },
                WrittenBytes = 0,
                Snapshots =
                [
                    new SnapshotInfo { Name = "autosnap_2026-11-25 10:00", Guid = AboveTwoPow53, CreateTxg = 1, CreatedAt = At, UsedBytes = 0, ReferencedBytes = 1L << 40 },
                    new SnapshotInfo { Name = "b", Guid = ulong.MaxValue, CreateTxg = ulong.MaxValue - 1, CreatedAt = At.AddHours(1), UsedBytes = 4096, ReferencedBytes = 8192 },
                ],
                Bookmarks = [new BookmarkInfo { Name = "a", Guid = AboveTwoPow53, CreateTxg = 1, CreatedAt = At }],
            },
            // No guid: as a reporter older than the field sends it.
            new DatasetInventory { Name = "tank/vm/disk0", Type = DatasetTypes.Volume },
        ],
    };

    public static SyncInstructionIssued Instruction() => new()
    {
        InstructionId = DeterministicIds.Instruction("g", "tank/data", "nas1", "backup1", InstructionKind.RollbackAndIncremental, AboveTwoPow53, ulong.MaxValue),
        Attempt = 2,
        SyncGroup = "g",
        Dataset = "tank/data",
        Kind = InstructionKind.RollbackAndIncremental,
        Source = new InstructionEndpoint { HostId = "nas1", Dataset = "tank/data", Ssh = new SshEndpoint { Host = "nas1.lan", User = "zfssync", Port = 2222 } },
        Target = new InstructionEndpoint { HostId = "backup1", Dataset = "backup/nas1/data", Ssh = new SshEndpoint { Host = "backup1.lan" } },
        From = new SnapshotReference { Name = "a", Guid = AboveTwoPow53, IsBookmark = true },
        To = new SnapshotReference { Name = "b", Guid = ulong.MaxValue },
        SnapshotCount = 1,
        Commands = new InstructionCommands { Relay = "ssh … | ssh …", Push = "zfs send … | ssh …", Pull = "ssh … | zfs receive …" },
        Steps =
        [
            new InstructionStep { Pipeline = [new PipelineStage { HostId = "backup1", Argv = ["zfs", "rollback", "-r", "backup/nas1/data@a"] }] },
            new InstructionStep
            {
                Pipeline =
                [
                    new PipelineStage { HostId = "nas1", Argv = ["zfs", "send", "-w", "-i", "tank/data#a", "tank/data@b"] },
                    new PipelineStage { HostId = "backup1", Argv = ["zfs", "receive", "-s", "-u", "backup/nas1/data"] },
                ],
            },
        ],
        Reason = "backup1 is behind nas1 by one snapshot; rollback recorded by alice",
        Resolution = ConflictResolution.RollbackTarget,
        IssuedAt = At,
        ExpiresAt = At.AddHours(6),
        Execution = new InstructionExecution { Mode = ExecutionMode.Relay, HostId = "relay1" },
        NotAfter = At.AddHours(5),
    };

    private static ConflictEvidence[] Evidence() =>
    [
        new ConflictEvidence { HostId = "nas1", Dataset = "tank/data", Name = "a", Guid = AboveTwoPow53, CreateTxg = 10 },
        new ConflictEvidence { HostId = "backup1", Dataset = "backup/nas1/data", Name = "x", Guid = ulong.MaxValue, CreateTxg = 12, IsBookmark = true },
    ];

    public static IEnumerable<object> All()
    {
        yield return Inventory();
        yield return new Heartbeat
        {
            HostId = "nas1",
            SentAt = At,
            IntervalSeconds = 30,
            AgentVersion = "1.0.0",
            Os = "freebsd",
            ZfsVersion = "zfs-2.2.6-1",
            Pools = [new PoolHealth { Name = "tank", Health = "DEGRADED" }],
            ReporterError = "zfs list: exit 1: cannot open 'tank'",
        };
        yield return Instruction();
        yield return new SyncInstructionExpired { InstructionId = Guid.NewGuid(), Attempt = 3, SyncGroup = "g", ExpiredAt = At, Reason = "hung: no bytes for 00:30:00" };
        yield return new SyncConflictDetected
        {
            ConflictId = Guid.NewGuid(),
            SyncGroup = "g",
            Dataset = "tank/data",
            Kind = ConflictKind.NameGuidMismatch,
            SourceHostId = "nas1",
            TargetHostId = "backup1",
            Details = "backup1:backup/nas1/data@x differs",
            Evidence = Evidence(),
            AllowedResolutions = [ConflictResolution.QuarantineTarget, ConflictResolution.Ignore, ConflictResolution.Promote],
            DetectedAt = At,
        };
        yield return new SyncConflictResolved
        {
            ConflictId = Guid.NewGuid(),
            SyncGroup = "g",
            Dataset = "tank/data",
            Kind = ConflictKind.TargetModified,
            SourceHostId = "nas1",
            TargetHostId = "backup1",
            Details = "d",
            Evidence = Evidence(),
            AllowedResolutions = [ConflictResolution.RollbackTarget],
            Resolution = ConflictResolution.RollbackTarget,
            ResolvedBy = "operator1",
            RequestedByName = "alice, INC-42",
            ResolvedAt = At,
        };
        yield return new SyncGroupStatusChanged
        {
            SyncGroup = "g",
            Status = SyncGroupStatus.OutOfSync,
            PreviousStatus = SyncGroupStatus.InSync,
            Degraded = true,
            DatasetsInSync = 3,
            DatasetsTotal = 4,
            ChangedAt = At,
        };
        yield return new HostStatusChanged { HostId = "nas1", Status = HostStatus.Late, PreviousStatus = HostStatus.Online, LastSeenAt = At };
        yield return new InventoryRejected { HostId = "nas1", ReportId = Guid.NewGuid(), Reason = "invalid character '$'", RejectedAt = At };
        yield return new SyncInstructionCompleted { InstructionId = Guid.NewGuid(), Attempt = 1, SyncGroup = "g", ExecutedBy = "cron@backup1", CompletedAt = At, BytesTransferred = long.MaxValue };
        yield return new SyncInstructionStarted { InstructionId = Guid.NewGuid(), Attempt = 1, SyncGroup = "g", ExecutedBy = "backup1/backup1", StartedAt = At };
        yield return new SyncInstructionProgressed { InstructionId = Guid.NewGuid(), Attempt = 1, SyncGroup = "g", ExecutedBy = "backup1/backup1", BytesTransferred = 1 << 20, ReportedAt = At };
        yield return new SyncInstructionFailed { InstructionId = Guid.NewGuid(), Attempt = 2, SyncGroup = "g", ExecutedBy = "bot", FailedAt = At, ExitCode = 1, Error = "cannot receive: destination has been modified\n" };
        yield return new ResolveSyncConflict { ConflictId = Guid.NewGuid(), SyncGroup = "g", Resolution = "rollback-target", RequestedBy = "alice", PromoteHostId = "backup1" };
        yield return new SyncConflictResolutionAccepted { ConflictId = Guid.NewGuid(), SyncGroup = "g", Resolution = ConflictResolution.Reseed, RequestedBy = "alice", AcceptedAt = At };
        yield return new SyncConflictResolutionRejected { ConflictId = Guid.NewGuid(), SyncGroup = "g", Resolution = "destroy-everything", Reason = "resolution not allowed" };
        yield return new PauseSyncGroup { SyncGroup = "g", RequestedByName = "alice, INC-7", Note = "disk swap on backup1" };
        yield return new ResumeSyncGroup { SyncGroup = "g", RequestedByName = "alice", Note = "done" };
        yield return new ReplanSyncGroup { SyncGroup = "g", RequestedByName = "alice", Note = null };
        yield return new SyncGroupCommandAccepted
        {
            Command = "ReplanSyncGroup",
            SyncGroup = "g",
            Paused = true,
            PausedBy = "operator1",
            PausedAt = At,
            InstructionsIssued = 0,
            InstructionsWithheld = 2,
            Status = SyncGroupStatus.OutOfSync,
            Detail = "planned, but the group is paused",
            RequestedBy = "operator1",
            AcceptedAt = At,
        };
        yield return new SyncGroupCommandRejected { Command = "PauseSyncGroup", SyncGroup = "g", Reason = "not an operator" };
        yield return new GetSyncGroupStatus { SyncGroup = "g", PageSize = 50, After = "Z3JvdXBzCmc" };
        yield return new QueryRejected { Query = "GetConflicts", Reason = "invalid after token" };
        yield return new GetHostStatus { HostId = "nas1", PageSize = 10, After = "aG9zdHMKYQ" };
        yield return new HostStatusReport
        {
            GeneratedAt = At,
            NextAfter = "aG9zdHMKbmFzMQ",
            Hosts =
            [
                new HostStatusEntry
                {
                    HostId = "nas1", Configured = true, Status = HostStatus.Late, LastSeenAt = At, HeartbeatIntervalSeconds = 60, Os = "linux",
                    ZfsVersion = "zfs-2.2.4", AgentVersion = "0.1.0", ReporterError = "zfs list failed", Pools = [new PoolHealth { Name = "tank", Health = "DEGRADED" }],
                    LastReportId = Guid.NewGuid(), LastSequence = 42, LastReportReceivedAt = At, Groups = ["g"], Datasets = 3, Snapshots = 120,
                },
            ],
        };
        yield return new GetConflicts { SyncGroup = "g", IncludeClosed = true, PageSize = 5, After = "Y29uZmxpY3Rz" };
        yield return new ConflictsReport
        {
            GeneratedAt = At,
            Conflicts =
            [
                new ConflictEntry
                {
                    ConflictId = Guid.NewGuid(), SyncGroup = "g", Dataset = "tank/data", Kind = ConflictKind.SplitBrain, SourceHostId = "nas1", TargetHostId = "nas2",
                    Details = "d", Evidence = Evidence(), AllowedResolutions = [ConflictResolution.Promote], DetectedAt = At, State = ConflictState.Resolved,
                    ClearedAt = At, Resolution = ConflictResolution.Promote, ResolvedBy = "operator1", RequestedByName = "bob", ResolvedAt = At, PromoteHostId = "nas2",
                },
            ],
        };
        yield return new GetProtectedSnapshots { HostId = "nas1", PageSize = 10, After = "x" };
        yield return new ProtectedSnapshotsReport
        {
            HostId = "nas1",
            GeneratedAt = At,
            NextAfter = "y",
            Protected =
            [
                new ProtectedSnapshotEntry
                {
                    Dataset = "tank/data", Name = "zfssync-backup1-30", Guid = ulong.MaxValue, CreateTxg = 30, Target = "backup1", Groups = ["g"], Snapshot = "c",
                },
            ],
        };
        yield return new GetFleetStatistics();
        yield return new FleetStatistics
        {
            GeneratedAt = At,
            HostsOnline = 3,
            HostsLate = 1,
            HostsOffline = 2,
            GroupsWaiting = 1,
            GroupsInSync = 5,
            GroupsOutOfSync = 2,
            GroupsConflicted = 1,
            GroupsDegraded = 2,
            OpenConflicts = 1,
            OutstandingInstructions = 4,
            Hosts = [new HostVolume { HostId = "nas1", Datasets = 3, Snapshots = 120, SnapshotBytes = long.MaxValue }],
            Lag = new LagDistribution { InSync = 7, UpToOneHour = 2, UpToOneDay = 1, OverOneDay = 1, Unknown = 1, MaxLagSeconds = 90_000 },
        };
        yield return new SyncGroupStatusReport
        {
            GeneratedAt = At,
            Groups =
            [
                new SyncGroupStatusEntry
                {
                    SyncGroup = "g", Status = SyncGroupStatus.Conflicted, Degraded = false, DatasetsInSync = 0, DatasetsTotal = 1,
                    Paused = true, PausedBy = "operator1", PausedByName = "alice", PausedAt = At, PauseNote = "disk swap",
                    Datasets =
                    [
                        new DatasetStatusEntry
                        {
                            Dataset = "tank/data", Status = DatasetSyncStatus.SourceEmpty, SourceHostId = "nas1", TargetHostId = "backup1",
                            NewestCommon = new SnapshotReference { Name = "a", Guid = ulong.MaxValue }, LagSnapshots = 2, LagSeconds = 3600,
                            Detail = "blocked", OpenConflicts = [Guid.NewGuid()], OutstandingInstructions = [Guid.NewGuid()],
                        },
                        new DatasetStatusEntry
                        {
                            Dataset = "tank/other", Status = DatasetSyncStatus.WaitingForWindow, SourceHostId = "nas1", TargetHostId = "backup1",
                            LagSnapshots = 1, Detail = "next window opens at 2026-01-02 22:00:00Z",
                        },
                    ],
                },
            ],
        };
        yield return new GetOutstandingInstructions { SyncGroup = "g", HostId = "nas1", PageSize = 500, After = "aW5zdHJ1Y3Rpb25z" };
        yield return new OutstandingInstructions { Instructions = [Instruction()], NextAfter = "aW5zdHJ1Y3Rpb25zCjEKMg" };
    }
}
