using System.Security.Cryptography;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using ZfsSync.Contracts;
using ZfsSync.Witness.Core.Names;
using ZfsSync.Witness.Core.Validation;
using ZfsSync.Witness.Worker.Groups;
using ZfsSync.Witness.Worker.Hosting;
using ZfsSync.Witness.Worker.Persistence;
using ZfsSync.Witness.Worker.Persistence.Outbox;

namespace ZfsSync.Witness.Worker.Ingest;

/// <summary>What ingesting one report (part) did. Row counts cover datasets, snapshots and bookmarks.</summary>
public sealed record IngestResult(string Outcome, int Inserted, int Updated, int Deleted, string? Reason = null)
{
    public const string Rejected = "rejected";
    public const string Duplicate = "ignored-duplicate";

    public bool IsRejected => Outcome == Rejected;

    public static IngestResult Reject(string reason) => new(Rejected, 0, 0, 0, reason);
}

/// <summary>
/// Validates a <see cref="SnapshotInventoryReported"/> and stores it as a diff against what is stored for its host,
/// in one transaction, then notifies (through the outbox) every sync group whose datasets changed (the groups and
/// datasets the host belongs to: <see cref="GroupMemberships"/>).
/// </summary>
public sealed class InventoryIngest(
    WitnessDbContext db,
    ITransactionalOutbox outbox,
    GroupMemberships memberships,
    IOptionsMonitor<WitnessOptions> options,
    TimeProvider time,
    ILogger<InventoryIngest> logger)
{
    /// <param name="report">The report, as deserialized.</param>
    /// <param name="senderUserId">The AMQP user-id the broker validated, or null when the message had none.</param>
    /// <param name="bodyBytes">The size of the message body.</param>
    /// <param name="cancellationToken">Cancels the ingest; nothing is stored then.</param>
    public async Task<IngestResult> ApplyAsync(SnapshotInventoryReported report, string? senderUserId, long bodyBytes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(report);
        var config = options.CurrentValue;
        var now = time.GetUtcNow();
        var reason = CheckReport(report, senderUserId, bodyBytes, config)
            ?? InventoryValidator.ValidateClock(report, now, config.Ingest.MaxClockSkew);
        if (reason is not null)
        {
            return IngestResult.Reject(reason);
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var host = await HostRows.LockAsync(db, report.HostId, configured: true, cancellationToken);

        if (await db.ProcessedReports.AsNoTracking().AnyAsync(r => r.ReportId == report.ReportId && r.Part == report.Part, cancellationToken))
        {
            return new IngestResult(IngestResult.Duplicate, 0, 0, 0);
        }

        // A sequence stored from a host whose clock was once far ahead would make every later report "not newer":
        // such a host is unlocked by its next valid report.
        var lockedOut = InventoryValidator.IsSequenceAhead(host.LastSequence, now, config.Ingest.MaxClockSkew);
        if (lockedOut)
        {
            logger.LogWarning(
                "Host {HostId}'s last applied sequence {LastSequence} lies ahead of the witness's clock; report {ReportId} with sequence {Sequence} replaces it",
                report.HostId, host.LastSequence, report.ReportId, report.Sequence);
        }

        var newReport = report.Sequence > host.LastSequence || lockedOut;
        var samePartedReport = report.Sequence == host.LastSequence && report.ReportId == host.LastReportId;
        if (!newReport && !samePartedReport)
        {
            db.ProcessedReports.Add(Processed(report, now, ReportOutcomes.OutOfOrder, 0, 0, 0, null));
            await db.SaveChangesAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            logger.LogInformation(
                "Ignored report {ReportId} part {Part} of {HostId}: sequence {Sequence} is not newer than the applied {LastSequence}",
                report.ReportId, report.Part, report.HostId, report.Sequence, host.LastSequence);
            return new IngestResult(ReportOutcomes.OutOfOrder, 0, 0, 0);
        }

        if (newReport)
        {
            host.LastSequence = report.Sequence;
            host.LastReportId = report.ReportId;
        }

        host.LastReportReceivedAt = now;
        host.LastReportCapturedAt = report.CapturedAt == default ? null : report.CapturedAt;
        host.Version++;

        var diff = new InventoryDiff(db, now);
        await diff.ApplyDatasetsAsync(report.HostId, report.Datasets, cancellationToken);
        await diff.FlushNewSnapshotsAsync(cancellationToken);

        string? pending = null;
        var outcome = ReportOutcomes.Applied;
        if (report.PartCount == 1)
        {
            await diff.DeleteVanishedAsync(report.Roots, report.Datasets.Select(d => d.Name).ToHashSet(StringComparer.Ordinal), cancellationToken);
        }
        else
        {
            pending = string.Join('\n', report.Datasets.Select(d => d.Name));
            var parts = await db.ProcessedReports
                .Where(r => r.ReportId == report.ReportId && r.PendingDatasets != null)
                .ToListAsync(cancellationToken);
            if (parts.Count + 1 == report.PartCount)
            {
                var present = report.Datasets.Select(d => d.Name).ToHashSet(StringComparer.Ordinal);
                foreach (var part in parts)
                {
                    present.UnionWith(part.PendingDatasets!.Split('\n', StringSplitOptions.RemoveEmptyEntries));
                    part.PendingDatasets = null;
                }

                pending = null;
                await diff.DeleteVanishedAsync(report.Roots, present, cancellationToken);
            }
            else
            {
                outcome = ReportOutcomes.Incomplete;
            }
        }

        if (diff.Inserted + diff.Updated + diff.Deleted > 0)
        {
            host.LastInventoryChangedAt = now;
        }

        host.Roots = string.Join('\n', report.Roots);
        db.ProcessedReports.Add(Processed(report, now, outcome, diff.Inserted, diff.Updated, diff.Deleted, pending));
        await NotifyGroupsAsync(report, diff.ChangedDatasets, cancellationToken);
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);

        logger.LogInformation(
            "Applied report {ReportId} part {Part}/{PartCount} of {HostId} (sequence {Sequence}): {Inserted} rows inserted, {Updated} updated, {Deleted} deleted",
            report.ReportId, report.Part, report.PartCount, report.HostId, report.Sequence, diff.Inserted, diff.Updated, diff.Deleted);
        return new IngestResult(outcome, diff.Inserted, diff.Updated, diff.Deleted);
    }

    private static string? CheckReport(SnapshotInventoryReported report, string? senderUserId, long bodyBytes, WitnessOptions config)
    {
        var limits = new InventoryLimits
        {
            MaxMessageBytes = config.Ingest.MaxMessageBytes,
            MaxDatasets = config.Ingest.MaxDatasets,
            MaxSnapshots = config.Ingest.MaxSnapshots,
        };
        if (bodyBytes > limits.MaxMessageBytes)
        {
            return $"the message is {bodyBytes} bytes; the limit is {limits.MaxMessageBytes} (split the report into parts)";
        }

        var error = InventoryValidator.Validate(report, limits);
        if (error is not null)
        {
            return error;
        }

        var host = config.Hosts.FirstOrDefault(h => h.Id == report.HostId);
        if (host is null)
        {
            return config.Ingest.RejectUnknownHosts ? $"host {report.HostId} is not declared under Hosts" : null;
        }

        return SenderCheck.Check(host, senderUserId, "report");
    }

    private static ProcessedReport Processed(SnapshotInventoryReported report, DateTimeOffset now, string outcome, int inserted, int updated, int deleted, string? pending) =>
        new()
        {
            ReportId = report.ReportId,
            Part = report.Part,
            PartCount = report.PartCount,
            HostId = report.HostId,
            Sequence = report.Sequence,
            ReceivedAt = now,
            Outcome = outcome,
            RowsInserted = inserted,
            RowsUpdated = updated,
            RowsDeleted = deleted,
            PendingDatasets = pending,
        };

    private async Task NotifyGroupsAsync(SnapshotInventoryReported report, IReadOnlyCollection<string> changed, CancellationToken cancellationToken)
    {
        if (changed.Count == 0)
        {
            return;
        }

        foreach (var group in await memberships.OfHostAsync(db, report.HostId, cancellationToken))
        {
            var touched = group.Datasets
                .Where(path => changed.Any(c => Related(c, path)))
                .ToList();
            if (touched.Count == 0)
            {
                continue;
            }

            var message = new GroupInventoryChanged
            {
                SyncGroup = group.SyncGroup,
                HostId = report.HostId,
                ReportId = report.ReportId,
                Sequence = report.Sequence,
                Datasets = touched,
                ChangedAt = time.GetUtcNow(),
            };
            outbox.Publish(message, DeterministicIds.Create(
                DeterministicIds.Namespace, $"group-inventory|{group.SyncGroup}|{report.HostId}|{report.ReportId}|{report.Part}"));
        }
    }

    /// <summary>A change to a dataset, its parent or a child can change the plan for it (parent creation, children).</summary>
    private static bool Related(string changed, string path) =>
        InventoryValidator.IsUnderAnyRoot(changed, [path]) || InventoryValidator.IsUnderAnyRoot(path, [changed]);
}

/// <summary>The rule for hosts with <c>ReportsAs</c>: their messages must carry that validated AMQP user-id.</summary>
public static class SenderCheck
{
    public static string? Check(ZfsHostOptions host, string? senderUserId, string what)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (host.ReportsAs is null)
        {
            return null;
        }

        if (string.IsNullOrEmpty(senderUserId))
        {
            return $"the {what} for host {host.Id} carries no validated user-id; host {host.Id} must report as RabbitMQ user {ZfsName.Quote(host.ReportsAs)}";
        }

        return senderUserId == host.ReportsAs
            ? null
            : $"the {what} for host {host.Id} was sent by RabbitMQ user {ZfsName.Quote(senderUserId)}, but host {host.Id} reports as {ZfsName.Quote(host.ReportsAs)}";
    }
}

/// <summary>Computes and applies the difference between a report's datasets and the stored ones, counting rows.</summary>
internal sealed class InventoryDiff(WitnessDbContext db, DateTimeOffset now)
{
    private readonly HashSet<string> _changed = new(StringComparer.Ordinal);
    private List<(long Id, string Name, ulong? Guid)> _storedBefore = [];
    private string _hostId = "";
    private Dictionary<string, VanishedDatasetRecord> _vanished = new(StringComparer.Ordinal);

    public int Inserted { get; private set; }
    public int Updated { get; private set; }
    public int Deleted { get; private set; }
    public IReadOnlyCollection<string> ChangedDatasets => _changed;

    public async Task ApplyDatasetsAsync(string hostId, IReadOnlyList<DatasetInventory> datasets, CancellationToken cancellationToken)
    {
        var stored = await db.Datasets.Where(d => d.HostId == hostId).ToDictionaryAsync(d => d.Name, StringComparer.Ordinal, cancellationToken);
        _storedBefore = stored.Values.Select(d => (d.Id, d.Name, d.Guid)).ToList();
        _hostId = hostId;
        var cutoff = now - VanishedDatasetRecord.Retention;
        await db.VanishedDatasets.Where(v => v.HostId == hostId && v.VanishedAt < cutoff).ExecuteDeleteAsync(cancellationToken);
        _vanished = await db.VanishedDatasets.Where(v => v.HostId == hostId).ToDictionaryAsync(v => v.Name, StringComparer.Ordinal, cancellationToken);
        var needSnapshots = new List<(DatasetRecord Record, DatasetInventory Reported)>();
        var newDatasets = new List<(DatasetRecord Record, DatasetInventory Reported)>();

        foreach (var reported in datasets)
        {
            var hash = ContentHash(reported);
            if (reported.Guid is { } guid && _vanished.TryGetValue(reported.Name, out var back) && back.Guid == guid)
            {
                // The same dataset is at its path again (a rename undone, a root reported again): not gone.
                db.VanishedDatasets.Remove(back);
                _vanished.Remove(reported.Name);
            }

            if (!stored.TryGetValue(reported.Name, out var record))
            {
                record = new DatasetRecord { HostId = hostId, Name = reported.Name, ContentHash = hash };
                CopyProperties(reported, record);
                db.Datasets.Add(record);
                Inserted++;
                _changed.Add(reported.Name);
                newDatasets.Add((record, reported));
                continue;
            }

            if (record.Guid is { } before && reported.Guid is { } after && before != after)
            {
                // Destroyed and created again (or another dataset renamed into this path) between two reports.
                RecordVanished(reported.Name, before);
            }

            if (CopyProperties(reported, record))
            {
                Updated++;
                _changed.Add(reported.Name);
            }

            if (record.ContentHash != hash)
            {
                record.ContentHash = hash;
                needSnapshots.Add((record, reported));
            }
        }

        // New datasets need their ids before their snapshots can point at them.
        if (newDatasets.Count > 0)
        {
            await db.SaveChangesAsync(cancellationToken);
            foreach (var (record, reported) in newDatasets)
            {
                AddSnapshots(record.Id, reported.Snapshots);
                AddBookmarks(record.Id, reported.Bookmarks);
            }
        }

        if (needSnapshots.Count > 0)
        {
            await DiffSnapshotsAsync(needSnapshots, cancellationToken);
        }
    }

    private readonly List<SnapshotRecord> _newSnapshots = [];

    private void AddSnapshots(long datasetId, IEnumerable<SnapshotInfo> snapshots)
    {
        foreach (var s in snapshots)
        {
            _newSnapshots.Add(new SnapshotRecord
            {
                DatasetId = datasetId,
                Name = s.Name,
                Guid = s.Guid,
                CreateTxg = s.CreateTxg,
                CreatedAt = s.CreatedAt,
                UsedBytes = s.UsedBytes,
                ReferencedBytes = s.ReferencedBytes,
            });
            Inserted++;
        }
    }

    private void AddBookmarks(long datasetId, IEnumerable<BookmarkInfo> bookmarks)
    {
        foreach (var b in bookmarks)
        {
            db.Bookmarks.Add(new BookmarkRecord { DatasetId = datasetId, Name = b.Name, Guid = b.Guid, CreateTxg = b.CreateTxg, CreatedAt = b.CreatedAt });
            Inserted++;
        }
    }

    private async Task DiffSnapshotsAsync(List<(DatasetRecord Record, DatasetInventory Reported)> datasets, CancellationToken cancellationToken)
    {
        var ids = datasets.Select(d => d.Record.Id).ToList();
        var snapshots = (await db.Snapshots.Where(s => ids.Contains(s.DatasetId)).ToListAsync(cancellationToken)).ToLookup(s => s.DatasetId);
        var bookmarks = (await db.Bookmarks.Where(b => ids.Contains(b.DatasetId)).ToListAsync(cancellationToken)).ToLookup(b => b.DatasetId);
        var deleteSnapshots = new List<long>();
        var deleteBookmarks = new List<long>();

        foreach (var (record, reported) in datasets)
        {
            var before = Inserted + Updated + deleteSnapshots.Count + deleteBookmarks.Count;
            var storedSnapshots = snapshots[record.Id].ToDictionary(s => s.Guid);
            var newSnapshots = new List<SnapshotInfo>();
            foreach (var s in reported.Snapshots)
            {
                if (!storedSnapshots.Remove(s.Guid, out var row))
                {
                    newSnapshots.Add(s);
                    continue;
                }

                if (row.Name != s.Name || row.CreateTxg != s.CreateTxg || row.CreatedAt != s.CreatedAt
                    || row.UsedBytes != s.UsedBytes || row.ReferencedBytes != s.ReferencedBytes)
                {
                    (row.Name, row.CreateTxg, row.CreatedAt, row.UsedBytes, row.ReferencedBytes) = (s.Name, s.CreateTxg, s.CreatedAt, s.UsedBytes, s.ReferencedBytes);
                    Updated++;
                }
            }

            deleteSnapshots.AddRange(storedSnapshots.Values.Select(s => s.Id));
            AddSnapshots(record.Id, newSnapshots);

            var storedBookmarks = bookmarks[record.Id].ToDictionary(b => b.Name, StringComparer.Ordinal);
            var newBookmarks = new List<BookmarkInfo>();
            foreach (var b in reported.Bookmarks)
            {
                if (!storedBookmarks.Remove(b.Name, out var row))
                {
                    newBookmarks.Add(b);
                    continue;
                }

                if (row.Guid != b.Guid || row.CreateTxg != b.CreateTxg || row.CreatedAt != b.CreatedAt)
                {
                    (row.Guid, row.CreateTxg, row.CreatedAt) = (b.Guid, b.CreateTxg, b.CreatedAt);
                    Updated++;
                }
            }

            deleteBookmarks.AddRange(storedBookmarks.Values.Select(b => b.Id));
            AddBookmarks(record.Id, newBookmarks);

            if (Inserted + Updated + deleteSnapshots.Count + deleteBookmarks.Count != before)
            {
                _changed.Add(record.Name);
            }
        }

        Deleted += await DeleteByIdAsync(db.Snapshots, deleteSnapshots, cancellationToken);
        Deleted += await DeleteByIdAsync(db.Bookmarks, deleteBookmarks, cancellationToken);
    }

    /// <summary>
    /// Writes the collected new snapshots: on PostgreSQL with binary COPY inside the ingest's transaction when there
    /// are many (a first report of a large host), otherwise through the change tracker with the rest of the unit of work.
    /// </summary>
    public async Task FlushNewSnapshotsAsync(CancellationToken cancellationToken)
    {
        if (_newSnapshots.Count >= CopyThreshold && db.Database.IsNpgsql())
        {
            var connection = (Npgsql.NpgsqlConnection)db.Database.GetDbConnection();
            await using (var writer = await connection.BeginBinaryImportAsync(
                """COPY snapshots ("DatasetId", "Name", "Guid", "CreateTxg", "CreatedAt", "UsedBytes", "ReferencedBytes") FROM STDIN (FORMAT BINARY)""",
                cancellationToken))
            {
                foreach (var s in _newSnapshots)
                {
                    await writer.StartRowAsync(cancellationToken);
                    await writer.WriteAsync(s.DatasetId, NpgsqlTypes.NpgsqlDbType.Bigint, cancellationToken);
                    await writer.WriteAsync(s.Name, NpgsqlTypes.NpgsqlDbType.Varchar, cancellationToken);
                    await writer.WriteAsync(unchecked((long)s.Guid), NpgsqlTypes.NpgsqlDbType.Bigint, cancellationToken);
                    await writer.WriteAsync(unchecked((long)s.CreateTxg), NpgsqlTypes.NpgsqlDbType.Bigint, cancellationToken);
                    await writer.WriteAsync(s.CreatedAt.ToUniversalTime(), NpgsqlTypes.NpgsqlDbType.TimestampTz, cancellationToken);
                    await writer.WriteAsync(s.UsedBytes, NpgsqlTypes.NpgsqlDbType.Bigint, cancellationToken);
                    await writer.WriteAsync(s.ReferencedBytes, NpgsqlTypes.NpgsqlDbType.Bigint, cancellationToken);
                }

                await writer.CompleteAsync(cancellationToken);
            }
        }
        else
        {
            db.Snapshots.AddRange(_newSnapshots);
        }

        _newSnapshots.Clear();
    }

    /// <summary>Below this many new rows the change tracker is as fast as COPY and simpler.</summary>
    internal const int CopyThreshold = 1000;

    /// <summary>
    /// Deletes the host's datasets under <paramref name="roots"/> that are not <paramref name="present"/>, with their
    /// snapshots and bookmarks. Works on the datasets <see cref="ApplyDatasetsAsync"/> read in this unit of work (the
    /// host row is locked, so nothing else changed them; datasets it inserted are present by definition).
    /// </summary>
    public async Task DeleteVanishedAsync(IReadOnlyList<string> roots, HashSet<string> present, CancellationToken cancellationToken)
    {
        var vanished = _storedBefore.Where(d => !present.Contains(d.Name) && InventoryValidator.IsUnderAnyRoot(d.Name, roots)).ToList();
        if (vanished.Count == 0)
        {
            return;
        }

        foreach (var (_, name, guid) in vanished)
        {
            if (guid is { } known)
            {
                RecordVanished(name, known);
            }
        }

        var ids = vanished.Select(d => d.Id).ToList();
        foreach (var chunk in ids.Chunk(1000))
        {
            Deleted += await db.Snapshots.Where(s => chunk.Contains(s.DatasetId)).ExecuteDeleteAsync(cancellationToken);
            Deleted += await db.Bookmarks.Where(b => chunk.Contains(b.DatasetId)).ExecuteDeleteAsync(cancellationToken);
            Deleted += await db.Datasets.Where(d => chunk.Contains(d.Id)).ExecuteDeleteAsync(cancellationToken);
        }

        _changed.UnionWith(vanished.Select(d => d.Name));
    }

    /// <summary>Keeps the identity last known at a path (one row per host and path: the newest sighting wins).</summary>
    private void RecordVanished(string name, ulong guid)
    {
        if (_vanished.TryGetValue(name, out var row))
        {
            row.Guid = guid;
            row.VanishedAt = now;
            return;
        }

        row = new VanishedDatasetRecord { HostId = _hostId, Name = name, Guid = guid, VanishedAt = now };
        db.VanishedDatasets.Add(row);
        _vanished[name] = row;
    }

    private static async Task<int> DeleteByIdAsync<T>(DbSet<T> set, List<long> ids, CancellationToken cancellationToken)
        where T : class
    {
        var deleted = 0;
        foreach (var chunk in ids.Chunk(1000))
        {
            deleted += await set.Where(e => chunk.Contains(EF.Property<long>(e, "Id"))).ExecuteDeleteAsync(cancellationToken);
        }

        return deleted;
    }

    /// <summary>Copies the reported properties; true when one of them changed.</summary>
    private static bool CopyProperties(DatasetInventory reported, DatasetRecord record)
    {
        var changed = record.Type != reported.Type || record.Guid != reported.Guid || record.Encryption != reported.Encryption || record.KeyStatus != reported.KeyStatus
            || record.ReceiveResumeToken != reported.ReceiveResumeToken || record.WrittenBytes != reported.WrittenBytes;
        record.Type = reported.Type;
        record.Guid = reported.Guid;
        record.Encryption = reported.Encryption;
        record.KeyStatus = reported.KeyStatus;
        record.ReceiveResumeToken = reported.ReceiveResumeToken;
        record.WrittenBytes = reported.WrittenBytes;
        return changed;
    }

    /// <summary>A digest of everything stored about a dataset's snapshots and bookmarks.</summary>
    internal static string ContentHash(DatasetInventory dataset)
    {
        // One buffer, one hash call: this runs over every snapshot of every report, changed or not.
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(Math.Max(256, (dataset.Snapshots.Count * 64) + (dataset.Bookmarks.Count * 48)));
        foreach (var s in dataset.Snapshots)
        {
            AppendName(buffer, s.Name);
            AppendNumbers(buffer, s.Guid, s.CreateTxg, (ulong)s.CreatedAt.UtcTicks, (ulong)s.UsedBytes, (ulong)s.ReferencedBytes);
        }

        System.Buffers.BuffersExtensions.Write(buffer, "#"u8);
        foreach (var b in dataset.Bookmarks)
        {
            AppendName(buffer, b.Name);
            AppendNumbers(buffer, b.Guid, b.CreateTxg, (ulong)b.CreatedAt.UtcTicks, 0, 0);
        }

        return Convert.ToHexString(SHA256.HashData(buffer.WrittenSpan));
    }

    private static void AppendName(System.Buffers.ArrayBufferWriter<byte> buffer, string name)
    {
        var span = buffer.GetSpan(Encoding.UTF8.GetMaxByteCount(name.Length) + 1);
        var written = Encoding.UTF8.GetBytes(name, span);
        span[written] = 0; // names cannot hold NUL: an unambiguous separator
        buffer.Advance(written + 1);
    }

    private static void AppendNumbers(System.Buffers.ArrayBufferWriter<byte> buffer, ulong a, ulong b, ulong c, ulong d, ulong e)
    {
        var span = buffer.GetSpan(40);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(span, a);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(span[8..], b);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(span[16..], c);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(span[24..], d);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(span[32..], e);
        buffer.Advance(40);
    }
}
