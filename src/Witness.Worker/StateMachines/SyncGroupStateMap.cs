using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using ZfsSync.Witness.Worker.Persistence.Sagas;

namespace ZfsSync.Witness.Worker.StateMachines;

public sealed class SyncGroupStateMap : SagaInstanceMap<SyncGroupState>
{
    protected override void ConfigureInstance(EntityTypeBuilder<SyncGroupState> entity)
    {
        ArgumentNullException.ThrowIfNull(entity);
        entity.ToTable("sync_groups");
        entity.Property(x => x.Name).HasMaxLength(200);
        entity.Property(x => x.DefinitionHash).HasMaxLength(64);
        entity.Ignore(x => x.PlannedStatus);
        entity.Ignore(x => x.IssuedInRound);
        entity.Ignore(x => x.WithheldInRound);
        entity.Ignore(x => x.Paused);
        entity.Property(x => x.PausedBy).HasMaxLength(128);
        entity.Property(x => x.PausedByName).HasMaxLength(200);
        entity.Property(x => x.PauseNote).HasMaxLength(2000);
        entity.HasIndex(x => x.Name).IsUnique();
    }
}
