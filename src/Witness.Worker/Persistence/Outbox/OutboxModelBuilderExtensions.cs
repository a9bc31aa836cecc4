using Microsoft.EntityFrameworkCore;

namespace ZfsSync.Witness.Worker.Persistence.Outbox;

public static class OutboxModelBuilderExtensions
{
    public const string DefaultTableName = "outbox_messages";
    internal const int MessageTypeMaxLength = 512;
    internal const int DestinationMaxLength = 1024;
    internal const int LastErrorMaxLength = 2000;
    internal const int PartitionKeyMaxLength = 256;

    /// <summary>
    /// Maps <see cref="OutboxMessage"/> into the calling DbContext's model, so that outbox rows commit in the same
    /// transaction as the rest of that DbContext. Call it from <c>OnModelCreating</c>.
    /// </summary>
    public static ModelBuilder AddOutbox(this ModelBuilder modelBuilder, string tableName = DefaultTableName)
    {
        ArgumentNullException.ThrowIfNull(modelBuilder);

        modelBuilder.Entity<OutboxMessage>(entity =>
        {
            entity.ToTable(tableName);
            entity.HasKey(x => x.SequenceNumber);
            entity.Property(x => x.SequenceNumber).ValueGeneratedOnAdd();
            entity.Property(x => x.MessageType).HasMaxLength(MessageTypeMaxLength).IsRequired();
            entity.Property(x => x.Body).IsRequired();
            entity.Property(x => x.DestinationAddress).HasMaxLength(DestinationMaxLength);
            entity.Property(x => x.LastError).HasMaxLength(LastErrorMaxLength);
            entity.Property(x => x.PartitionKey).HasMaxLength(PartitionKeyMaxLength);
            entity.HasIndex(x => new { x.DispatchedAt, x.SequenceNumber });
            entity.HasIndex(x => x.MessageId);
        });

        return modelBuilder;
    }
}
