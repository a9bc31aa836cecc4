using Microsoft.EntityFrameworkCore;

namespace ZfsSync.Witness.Worker.Persistence;

/// <summary>The tables of the sync group saga that are not the saga row: definitions, instructions, conflicts, statuses.</summary>
public static class GroupModelBuilderExtensions
{
    public static ModelBuilder AddSyncGroupTables(this ModelBuilder modelBuilder)
    {
        ArgumentNullException.ThrowIfNull(modelBuilder);
        modelBuilder.Entity<GroupDefinitionRecord>(e =>
        {
            e.ToTable("sync_group_definitions");
            e.HasKey(x => x.SyncGroup);
            e.Property(x => x.SyncGroup).HasMaxLength(200);
            e.Property(x => x.DefinitionHash).HasMaxLength(64);
        });

        modelBuilder.Entity<InstructionAttemptRecord>(e =>
        {
            e.ToTable("instruction_attempts");
            e.HasKey(x => new { x.InstructionId, x.Attempt });
            e.Property(x => x.SyncGroup).HasMaxLength(200);
            e.Property(x => x.Dataset).HasMaxLength(255);
            e.Property(x => x.SourceHostId).HasMaxLength(63);
            e.Property(x => x.TargetHostId).HasMaxLength(63);
            e.Property(x => x.Kind).HasMaxLength(32);
            e.Property(x => x.Outcome).HasMaxLength(16);
            e.Property(x => x.ExecutedBy).HasMaxLength(200);
            e.Property(x => x.ExecutingHostId).HasMaxLength(63);
            e.Property(x => x.ExecutorUser).HasMaxLength(128);
            e.HasIndex(x => new { x.SyncGroup, x.Outcome });
            e.HasIndex(x => new { x.Outcome, x.ExpiresAt });
        });

        modelBuilder.Entity<ConflictRecord>(e =>
        {
            e.ToTable("sync_conflicts");
            e.HasKey(x => x.ConflictId);
            e.Property(x => x.SyncGroup).HasMaxLength(200);
            e.Property(x => x.Dataset).HasMaxLength(255);
            e.Property(x => x.Kind).HasMaxLength(32);
            e.Property(x => x.SourceHostId).HasMaxLength(63);
            e.Property(x => x.TargetHostId).HasMaxLength(63);
            e.Property(x => x.Resolution).HasMaxLength(32);
            e.Property(x => x.ResolvedBy).HasMaxLength(200);
            e.Property(x => x.RequestedByName).HasMaxLength(200);
            e.Property(x => x.PromoteHostId).HasMaxLength(63);
            e.HasIndex(x => x.SyncGroup);
        });

        modelBuilder.Entity<GroupStatusRecord>(e =>
        {
            e.ToTable("sync_group_statuses");
            e.HasKey(x => x.SyncGroup);
            e.Property(x => x.SyncGroup).HasMaxLength(200);
        });
        return modelBuilder;
    }
}
