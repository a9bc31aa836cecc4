using Microsoft.EntityFrameworkCore;
using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Core.Planning;
using ZfsSync.Witness.Worker.Persistence;
using ZfsSync.Witness.Worker.Persistence.Outbox;
using ZfsSync.Witness.Worker.StateMachines;
using static ZfsSync.Witness.Worker.Tests.Groups.GroupSagaScenario;

namespace ZfsSync.Witness.Worker.Tests.Groups;

/// <summary>
/// A restart announces every group again (<c>SyncGroupConfigured</c> with the new load time). A group whose definition
/// and planner version are unchanged is not planned again: the load time is recorded, nothing else.
/// </summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class When_the_witness_restarts_with_the_same_groups(InfrastructureFixture infrastructure)
{
    [Theory]
    [InlineData("postgresql")]
    [InlineData("sqlite")]
    public async Task Should_plan_nothing_for_an_unchanged_definition_and_plan_a_changed_one_or_a_newer_planner(string provider)
    {
        await using var first = await StartAsync(infrastructure, provider: provider);
        await first.ConfigureAsync();
        await first.ReportAsync("nas1", Source(S1, S2));
        await first.ReportAsync("backup1", EmptyTarget());
        var before = await first.StateAsync(m => m.OutOfSync);
        before.PlannerVersion.ShouldBe(PlannerVersion.Current);
        var plannedAt = before.PlannedAt.ShouldNotBeNull();
        var outboxBefore = await OutboxCountAsync(first);
        var historyBefore = await HistoryCountAsync(first);
        await first.StopAsync();

        // Restart ten minutes later with the same configuration: the load time is recorded, nothing is planned.
        await using var second = await StartAsync(infrastructure, provider: provider, database: first.Database, now: first.Time.GetUtcNow() + TimeSpan.FromMinutes(10));
        var restarted = second.Time.GetUtcNow();
        var announced = await second.ConfigureAsync(restarted);
        announced.DefinitionHash.ShouldBe(before.DefinitionHash);
        var after = await second.StateAsync(m => m.OutOfSync);
        after.ConfigLoadedAt.ShouldBe(restarted, "the newer load time is recorded");
        after.PlannedAt.ShouldBe(plannedAt, "no planning round ran");
        (after.OutstandingInstructions, after.DatasetsTotal, after.Degraded).ShouldBe((before.OutstandingInstructions, before.DatasetsTotal, before.Degraded));
        (await OutboxCountAsync(second)).ShouldBe(outboxBefore, "no instruction, conflict or status event");
        (await HistoryCountAsync(second)).ShouldBe(historyBefore, "nothing recorded in the group's history");
        await using (var db = second.Database.CreateContext())
        {
            (await db.Set<GroupDefinitionRecord>().AsNoTracking().SingleAsync(d => d.SyncGroup == Group)).LoadedAt.ShouldBe(restarted);
            (await db.Set<GroupStatusRecord>().AsNoTracking().SingleAsync(d => d.SyncGroup == Group)).PlannedAt.ShouldBe(plannedAt);
        }

        // A changed definition plans as before.
        second.Time.Advance(TimeSpan.FromMinutes(1));
        var changed = DefaultOptions();
        changed.SyncGroups[0].InstructionTtl = TimeSpan.FromHours(3);
        var newer = await second.ConfigureAsync(second.Time.GetUtcNow(), changed);
        newer.DefinitionHash.ShouldNotBe(before.DefinitionHash);
        var replanned = await second.StateAsync(m => m.OutOfSync);
        (replanned.DefinitionHash, replanned.PlannedAt).ShouldBe((newer.DefinitionHash, second.Time.GetUtcNow()));

        // The same definition, last planned by an older planner version (a witness upgraded with a planner change): planned.
        await using (var db = second.Database.CreateContext())
        {
            await db.Set<SyncGroupState>().Where(s => s.CorrelationId == GroupId).ExecuteUpdateAsync(u => u.SetProperty(s => s.PlannerVersion, (int?)(PlannerVersion.Current - 1)));
        }

        second.Time.Advance(TimeSpan.FromMinutes(1));
        var upgraded = await second.ConfigureAsync(second.Time.GetUtcNow(), changed);
        upgraded.DefinitionHash.ShouldBe(newer.DefinitionHash);
        var planned = await second.StateAsync(m => m.OutOfSync);
        (planned.PlannerVersion, planned.PlannedAt, planned.ConfigLoadedAt).ShouldBe((PlannerVersion.Current, second.Time.GetUtcNow(), second.Time.GetUtcNow()));

        // …and announcing it once more, now planned by this version: nothing.
        second.Time.Advance(TimeSpan.FromMinutes(1));
        var outboxNow = await OutboxCountAsync(second);
        await second.ConfigureAsync(second.Time.GetUtcNow(), changed);
        var again = await second.StateAsync(m => m.OutOfSync);
        (again.PlannedAt, again.ConfigLoadedAt).ShouldBe((planned.PlannedAt, second.Time.GetUtcNow()));
        (await OutboxCountAsync(second)).ShouldBe(outboxNow);
    }

    [Fact]
    public async Task Should_plan_the_next_inventory_change_after_a_restart_that_planned_nothing()
    {
        await using var first = await StartAsync(infrastructure);
        await first.ConfigureAsync();
        await first.ReportAsync("nas1", Source(S1, S2));
        await first.ReportAsync("backup1", Target(S1, S2));
        await first.StateAsync(m => m.InSync);
        await first.StopAsync();

        await using var second = await StartAsync(infrastructure, database: first.Database, now: first.Time.GetUtcNow() + TimeSpan.FromMinutes(10));
        await second.ConfigureAsync();
        await second.StateAsync(m => m.InSync);

        // The next inventory change plans as usual.
        await second.ReportAsync("nas1", Source(S1, S2, S3));
        var state = await second.StateAsync(m => m.OutOfSync);
        state.PlannedAt.ShouldBe(second.Time.GetUtcNow());
        (await second.SentAsync<SyncInstructionIssued>()).ShouldHaveSingleItem().Message.Kind.ShouldBe(InstructionKind.Incremental);
    }

    private static async Task<int> OutboxCountAsync(GroupSagaScenario scenario)
    {
        await using var db = scenario.Database.CreateContext();
        return await db.Set<OutboxMessage>().CountAsync();
    }

    private static async Task<int> HistoryCountAsync(GroupSagaScenario scenario)
    {
        await using var db = scenario.Database.CreateContext();
        return await db.Set<HistoryRecord>().CountAsync(h => h.SyncGroup == Group);
    }
}
