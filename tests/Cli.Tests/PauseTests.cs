using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Worker.Persistence;
using ZfsSync.Witness.Worker.StateMachines;

namespace ZfsSync.Cli.Tests;

/// <summary>
/// <c>zfssync pause</c>, <c>replan</c> and <c>resume</c> end to end: a running witness on the real broker and
/// PostgreSQL. A paused group shows as paused and issues nothing for a new source snapshot; a replan is accepted and
/// says nothing was issued; the resume issues the incremental at once. Non-operators (a read-only operator tool, an
/// executor's and a reporter's credentials) are rejected with exit 5 and change nothing.
/// </summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class When_an_operator_pauses_a_group_with_zfssync(InfrastructureFixture infrastructure)
{
    private static JsonElement Json(CliRun run)
    {
        using var document = JsonDocument.Parse(run.Output);
        return document.RootElement.Clone();
    }

    private static async Task<SyncGroupState> GroupAsync(CliWorld world) => await GroupOrNullAsync(world) ?? throw new InvalidOperationException("no saga row for the group");

    private static async Task<SyncGroupState?> GroupOrNullAsync(CliWorld world)
    {
        await using var db = world.CreateContext();
        return await db.Set<SyncGroupState>().AsNoTracking().SingleOrDefaultAsync(s => s.Name == CliWorld.Group);
    }

    private static async Task<int> AttemptsAsync(CliWorld world)
    {
        await using var db = world.CreateContext();
        return await db.Set<InstructionAttemptRecord>().CountAsync(a => a.SyncGroup == CliWorld.Group);
    }

    [Fact]
    public async Task Should_pause_issue_nothing_for_a_new_snapshot_replan_and_resume_only_as_an_operator()
    {
        await using var world = await CliWorld.CreateAsync(infrastructure);
        await world.HeartbeatsAsync();

        // In sync: both hold auto-1.
        await world.Bus.Publish(CliWorld.Report("nas1", CliWorld.Dataset("tank"), CliWorld.Dataset("tank/d0", CliWorld.Snap(1))));
        await world.Bus.Publish(CliWorld.Report("backup1", CliWorld.Dataset("backup"), CliWorld.Dataset("backup/d0", CliWorld.Snap(1, 5000))));
        await Poll.UntilAsync(async () => (await GroupOrNullAsync(world))?.CurrentState == "InSync", "the group in sync", TimeSpan.FromSeconds(60));

        // Usage and an unknown group.
        (await world.RunAsync(world.Operator, "pause")).ExitCode.ShouldBe(ExitCodes.Usage);
        var unknown = await world.RunAsync(world.Operator, "pause", "no-such-group", "--json");
        unknown.ExitCode.ShouldBe(ExitCodes.Rejected, unknown.ToString());
        Json(unknown).GetProperty("reason").GetString()!.ShouldStartWith("unknown sync group");

        // Pause, with a note.
        var pause = await world.RunAsync(world.Operator, "pause", CliWorld.Group, "--note", "disk swap on backup1, INC-7");
        pause.ExitCode.ShouldBe(ExitCodes.Ok, pause.ToString());
        pause.Output.ShouldStartWith($"accepted: pause {CliWorld.Group} at ");
        pause.Output.ShouldContain("nothing new is issued until resumed");
        var paused = await GroupAsync(world);
        (paused.PausedBy, paused.PausedByName, paused.PauseNote).ShouldBe((world.Operator.Name, "tester", "disk swap on backup1, INC-7"));
        paused.PausedAt.ShouldNotBeNull();

        // A new source snapshot: the incremental is due, and not issued.
        await world.Bus.Publish(CliWorld.Report("nas1", CliWorld.Dataset("tank"), CliWorld.Dataset("tank/d0", CliWorld.Snap(1), CliWorld.Snap(2))));
        JsonElement group = default;
        await Poll.UntilAsync(async () =>
        {
            var run = await world.RunAsync(world.Operator, "status", CliWorld.Group, "--json");
            group = Json(run).GetProperty("groups")[0];
            return group.GetProperty("datasets")[0].GetProperty("detail").GetString()?.Contains("nothing issued", StringComparison.Ordinal) == true;
        }, "the paused round to withhold the incremental", TimeSpan.FromSeconds(60));
        group.GetProperty("paused").GetBoolean().ShouldBeTrue();
        group.GetProperty("pausedBy").GetString().ShouldBe(world.Operator.Name);
        group.GetProperty("pausedByName").GetString().ShouldBe("tester");
        group.GetProperty("pauseNote").GetString().ShouldBe("disk swap on backup1, INC-7");
        group.GetProperty("status").GetString().ShouldBe("out-of-sync");
        group.GetProperty("datasets")[0].GetProperty("status").GetString().ShouldBe("behind");
        (await AttemptsAsync(world)).ShouldBe(0, "a paused group issues nothing");
        var status = await world.RunAsync(world.Operator, "status");
        status.Output.ShouldContain("paused (out-of-sync)");
        status.Output.ShouldContain($"{CliWorld.Group} is paused by {world.Operator.Name} (tester) since ");
        status.Output.ShouldContain(": disk swap on backup1, INC-7; nothing is issued until zfssync resume critical");
        (await world.RunAsync(world.Operator, "instructions", "--group", CliWorld.Group)).Output.ShouldContain("no outstanding instructions");

        // Not operators: the witness rejects the read-only tool; the broker has no operator entry for an executor or a reporter.
        foreach (var verb in new[] { "resume", "replan", "pause" })
        {
            var viewer = await world.RunAsync(world.Viewer, verb, CliWorld.Group, "--note", "mallory");
            viewer.ExitCode.ShouldBe(ExitCodes.Rejected, viewer.ToString());
            viewer.Output.ShouldStartWith("rejected: not an operator");
            viewer.Output.ShouldContain(world.Viewer.Name);
        }

        var viewerJson = Json(await world.RunAsync(world.Viewer, "resume", CliWorld.Group, "--json"));
        (viewerJson.GetProperty("accepted").GetBoolean(), viewerJson.GetProperty("command").GetString()).ShouldBe((false, "resume"));
        foreach (var user in new[] { world.Executor, world.Reporter })
        {
            var refused = await world.RunAsync(user, "resume", CliWorld.Group);
            refused.ExitCode.ShouldBe(ExitCodes.Rejected, refused.ToString());
            refused.Error.ShouldContain($"broker user {user.Name} is not an operator");
        }

        var still = await GroupAsync(world);
        (still.PausedAt, still.PausedBy, still.PauseNote).ShouldBe((paused.PausedAt, world.Operator.Name, "disk swap on backup1, INC-7"), "a non-operator changed nothing");
        (await AttemptsAsync(world)).ShouldBe(0);

        // Replan while paused: accepted, and it says nothing was issued.
        var replan = await world.RunAsync(world.Operator, "replan", CliWorld.Group, "--json");
        replan.ExitCode.ShouldBe(ExitCodes.Ok, replan.ToString());
        var answer = Json(replan);
        answer.GetProperty("accepted").GetBoolean().ShouldBeTrue();
        answer.GetProperty("command").GetString().ShouldBe("replan");
        answer.GetProperty("paused").GetBoolean().ShouldBeTrue();
        answer.GetProperty("instructionsIssued").GetInt32().ShouldBe(0);
        answer.GetProperty("instructionsWithheld").GetInt32().ShouldBe(1);
        answer.GetProperty("detail").GetString()!.ShouldContain("nothing was issued");
        (await AttemptsAsync(world)).ShouldBe(0);

        // Resume: the incremental goes out at once.
        var resume = await world.RunAsync(world.Operator, "resume", CliWorld.Group, "--note", "swap done");
        resume.ExitCode.ShouldBe(ExitCodes.Ok, resume.ToString());
        resume.Output.ShouldStartWith($"accepted: resume {CliWorld.Group} at ");
        resume.Output.ShouldContain("resumed; planned at once: 1 instruction(s) issued");
        (await GroupAsync(world)).PausedAt.ShouldBeNull();
        (await AttemptsAsync(world)).ShouldBe(1);
        var instructions = await world.RunAsync(world.Operator, "instructions", "--group", CliWorld.Group, "--json");
        Json(instructions).GetProperty("instructions")[0].GetProperty("kind").GetString().ShouldBe("incremental");
        var after = await world.RunAsync(world.Operator, "status");
        after.Output.ShouldNotContain("paused");

        // Replan when not paused: accepted, nothing new to issue (the incremental is outstanding).
        var again = await world.RunAsync(world.Operator, "replan", CliWorld.Group);
        again.ExitCode.ShouldBe(ExitCodes.Ok, again.ToString());
        again.Output.ShouldContain("planned: 0 instruction(s) issued");
        (await AttemptsAsync(world)).ShouldBe(1);
    }
}
