using Microsoft.EntityFrameworkCore;

namespace ZfsSync.Witness.Worker.Persistence;

/// <summary>
/// One entry of a sync group's timeline (<c>GetSyncGroupHistory</c>): written by <see cref="Groups.GroupHistory"/> in the
/// transaction of the change it describes, deleted by <see cref="Groups.HistorySweeper"/> once older than
/// <c>History:Retention</c>. The columns that do not apply to its <see cref="Kind"/> are null.
/// </summary>
public sealed class HistoryRecord
{
    /// <summary>Insertion order; with <see cref="At"/> the paging key (newest first).</summary>
    public long Id { get; set; }

    public string SyncGroup { get; set; } = "";

    /// <summary>The witness's clock when the change was recorded.</summary>
    public DateTimeOffset At { get; set; }

    /// <summary>The kebab-case <c>HistoryEntryKind</c>: <c>instruction-issued</c>, <c>lag-sample</c>, …</summary>
    public string Kind { get; set; } = "";

    public string? Dataset { get; set; }
    public string? TargetHostId { get; set; }
    public Guid? InstructionId { get; set; }
    public int? Attempt { get; set; }

    /// <summary>Kebab-case <c>InstructionKind</c>.</summary>
    public string? InstructionKind { get; set; }

    public Guid? ConflictId { get; set; }

    /// <summary>Kebab-case <c>ConflictKind</c>.</summary>
    public string? ConflictKind { get; set; }

    /// <summary>Kebab-case <c>ConflictResolution</c>.</summary>
    public string? Resolution { get; set; }

    /// <summary>Kebab-case <c>SyncGroupStatus</c>: the group's new status.</summary>
    public string? Status { get; set; }

    public int? LagSnapshots { get; set; }
    public long? LagSeconds { get; set; }

    /// <summary>The validated broker user who acted (an operator, an executor), when one did.</summary>
    public string? By { get; set; }

    public string? Detail { get; set; }
}

public static class HistoryModelBuilderExtensions
{
    public static ModelBuilder AddHistoryTable(this ModelBuilder modelBuilder)
    {
        ArgumentNullException.ThrowIfNull(modelBuilder);
        modelBuilder.Entity<HistoryRecord>(e =>
        {
            e.ToTable("sync_group_history");
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).ValueGeneratedOnAdd();
            e.Property(x => x.SyncGroup).HasMaxLength(200);
            e.Property(x => x.Kind).HasMaxLength(32);
            e.Property(x => x.Dataset).HasMaxLength(255);
            e.Property(x => x.TargetHostId).HasMaxLength(63);
            e.Property(x => x.InstructionKind).HasMaxLength(32);
            e.Property(x => x.ConflictKind).HasMaxLength(32);
            e.Property(x => x.Resolution).HasMaxLength(32);
            e.Property(x => x.Status).HasMaxLength(32);
            e.Property(x => x.By).HasMaxLength(200);
            e.Property(x => x.Detail).HasMaxLength(2000);
            e.HasIndex(x => new { x.SyncGroup, x.At, x.Id }); // the timeline, newest first
            e.HasIndex(x => new { x.SyncGroup, x.Kind, x.At }); // the last lag sample; the kinds filter
            e.HasIndex(x => x.At); // retention
        });
        return modelBuilder;
    }
}
