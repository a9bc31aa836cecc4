using System.Text.Json;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Worker.Persistence;

namespace ZfsSync.Cli.Tests;

/// <summary>
/// Every command of <c>zfssync</c> end to end: a running witness on the real broker and PostgreSQL, the CLI as a user
/// with exactly operator1's permissions of rabbitmq/definitions.json. The operator check on the real broker: the
/// operator's resolution is accepted and recorded with its validated user and free text; a read-only operator tool's,
/// an executor's and a reporter's credentials are rejected and change nothing.
/// </summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class When_an_operator_uses_zfssync(InfrastructureFixture infrastructure)
{
    private static JsonElement Json(CliRun run)
    {
        using var document = JsonDocument.Parse(run.Output);
        return document.RootElement.Clone();
    }

    [Fact]
    public async Task Should_show_the_fleet_find_the_conflict_resolve_it_only_as_an_operator_and_list_the_instruction()
    {
        await using var world = await CliWorld.CreateAsync(infrastructure);
        await world.HeartbeatsAsync();
        var conflict = await world.DivergeAsync();
        var id = conflict.ConflictId.ToString();

        // status: every group, then one group's datasets; conflicted → exit 3.
        var status = await world.RunAsync(world.Operator, "status");
        status.ExitCode.ShouldBe(ExitCodes.Conflicts, status.ToString());
        status.Output.ShouldContain("critical");
        status.Output.ShouldContain("conflicted");
        status.Output.ShouldNotContain("│", Case.Sensitive, "plain text when stdout is no terminal");
        var one = await world.RunAsync(world.Operator, "status", CliWorld.Group, "--json");
        one.ExitCode.ShouldBe(ExitCodes.Conflicts, one.ToString());
        var group = Json(one).GetProperty("groups")[0];
        group.GetProperty("syncGroup").GetString().ShouldBe(CliWorld.Group);
        group.GetProperty("status").GetString().ShouldBe("conflicted");
        group.GetProperty("datasets")[0].GetProperty("targetHostId").GetString().ShouldBe("backup1");
        Json(one).GetProperty("nextAfter").ValueKind.ShouldBe(JsonValueKind.Null);
        var table = await CliWorld.RunAsync(world.EnvironmentOf(world.Operator), ["status", CliWorld.Group], terminal: true);
        table.Output.ShouldContain("│", Case.Sensitive, "a table on a terminal");
        table.Output.ShouldContain("DATASET");
        (await world.RunAsync(world.Operator, "status", "no-such-group")).ExitCode.ShouldBe(ExitCodes.Usage);

        // hosts: both online → 0.
        var hosts = await world.RunAsync(world.Operator, "hosts", "--json");
        hosts.ExitCode.ShouldBe(ExitCodes.Ok, hosts.ToString());
        var nas1 = Json(hosts).GetProperty("hosts").EnumerateArray().Single(h => h.GetProperty("hostId").GetString() == "nas1");
        nas1.GetProperty("status").GetString().ShouldBe("online");
        nas1.GetProperty("groups")[0].GetString().ShouldBe(CliWorld.Group);
        nas1.GetProperty("pools")[0].GetProperty("health").GetString().ShouldBe("ONLINE");
        (await world.RunAsync(world.Operator, "hosts")).Output.ShouldContain("tank=ONLINE");

        // conflicts: open → 3, with evidence and allowed resolutions.
        var conflicts = await world.RunAsync(world.Operator, "conflicts");
        conflicts.ExitCode.ShouldBe(ExitCodes.Conflicts, conflicts.ToString());
        conflicts.Output.ShouldContain(id);
        conflicts.Output.ShouldContain("rollback-target");
        conflicts.Output.ShouldContain("guid 77777");
        var conflictsJson = Json(await world.RunAsync(world.Operator, "conflicts", "--group", CliWorld.Group, "--json")).GetProperty("conflicts")[0];
        conflictsJson.GetProperty("state").GetString().ShouldBe("open");
        conflictsJson.GetProperty("evidence").GetArrayLength().ShouldBeGreaterThan(0);

        // stats: one open conflict → 3.
        var stats = await world.RunAsync(world.Operator, "stats", "--json");
        stats.ExitCode.ShouldBe(ExitCodes.Conflicts, stats.ToString());
        Json(stats).GetProperty("openConflicts").GetInt32().ShouldBe(1);
        Json(stats).GetProperty("hostsOnline").GetInt32().ShouldBe(2);
        Json(stats).GetProperty("groupsConflicted").GetInt32().ShouldBe(1);
        (await world.RunAsync(world.Operator, "stats")).Output.ShouldContain("open conflicts");

        // Not operators: a read-only operator tool (the witness says no), an executor and a reporter (the broker has no
        // operator entry for them). Nothing changes.
        var viewer = await world.RunAsync(world.Viewer, "resolve", id, "rollback-target", "--note", "mallory");
        viewer.ExitCode.ShouldBe(ExitCodes.Rejected, viewer.ToString());
        viewer.Output.ShouldContain("rejected: not an operator");
        viewer.Output.ShouldContain(world.Viewer.Name);
        foreach (var user in new[] { world.Executor, world.Reporter })
        {
            var refused = await world.RunAsync(user, "resolve", id, "rollback-target", "--group", CliWorld.Group);
            refused.ExitCode.ShouldBe(ExitCodes.Rejected, refused.ToString());
            refused.Error.ShouldContain($"broker user {user.Name} is not an operator");
        }

        (await world.ConflictAsync(conflict.ConflictId)).Resolution.ShouldBeNull("a non-operator changed nothing");

        // The operator: a resolution the conflict does not allow is rejected with the allowed ones; the right one accepted.
        var wrong = await world.RunAsync(world.Operator, "resolve", id, "reseed", "--json");
        wrong.ExitCode.ShouldBe(ExitCodes.Rejected, wrong.ToString());
        Json(wrong).GetProperty("accepted").GetBoolean().ShouldBeFalse();
        Json(wrong).GetProperty("reason").GetString()!.ShouldStartWith("resolution not allowed");
        var right = await world.RunAsync(world.Operator, "resolve", id, "rollback-target", "--note", "alice, INC-42");
        right.ExitCode.ShouldBe(ExitCodes.Ok, right.ToString());
        right.Output.ShouldStartWith("accepted: rollback-target");
        var row = await world.ConflictAsync(conflict.ConflictId);
        (row.Resolution, row.ResolvedBy, row.RequestedByName).ShouldBe(("rollback-target", world.Operator.Name, "alice, INC-42"));

        // The resolution in the recent conflicts; the rollback instruction, ready to paste.
        var closed = Json(await world.RunAsync(world.Operator, "conflicts", "--all", "--json")).GetProperty("conflicts")[0];
        closed.GetProperty("state").GetString().ShouldBe("resolved");
        closed.GetProperty("resolvedBy").GetString().ShouldBe(world.Operator.Name);
        closed.GetProperty("requestedByName").GetString().ShouldBe("alice, INC-42");
        (await world.RunAsync(world.Operator, "conflicts")).ExitCode.ShouldBe(ExitCodes.Ok);
        CliRun instructions = null!;
        await Poll.UntilAsync(async () =>
        {
            instructions = await world.RunAsync(world.Operator, "instructions", "--group", CliWorld.Group);
            return instructions.Output.Contains("rollback-and-incremental", StringComparison.Ordinal);
        }, "the rollback instruction");
        instructions.ExitCode.ShouldBe(ExitCodes.Ok);
        instructions.Output.ShouldContain("zfs receive");
        instructions.Output.ShouldContain("ssh");
        (await world.RunAsync(world.Operator, "instructions", "--host", "backup1", "--form", "pull")).Output.ShouldContain("# on backup1:");
        (await world.RunAsync(world.Operator, "instructions", "--form", "steps")).Output.ShouldContain("\"zfs\"");
        var instructionsJson = Json(await world.RunAsync(world.Operator, "instructions", "--json"));
        var instruction = instructionsJson.GetProperty("instructions")[0];
        instruction.GetProperty("kind").GetString().ShouldBe("rollback-and-incremental");
        instruction.GetProperty("resolution").GetString().ShouldBe("rollback-target");
        (await world.RunAsync(world.Operator, "instructions", "--host", "elsewhere")).Output.ShouldContain("no outstanding instructions");
    }

    [Fact]
    public async Task Should_show_what_is_protected_on_a_host_from_its_reported_zfssync_bookmarks()
    {
        await using var world = await CliWorld.CreateAsync(infrastructure);
        static BookmarkInfo Mark(string name, ulong guid, ulong txg) => new() { Name = name, Guid = guid, CreateTxg = txg, CreatedAt = DateTimeOffset.UtcNow.AddHours(-1) };
        var data = CliWorld.Dataset("tank/d0", CliWorld.Snap(1), CliWorld.Snap(2)) with
        {
            Bookmarks =
            [
                Mark("zfssync-backup1-101", 10_001, 101), // auto-1's base for backup1
                Mark("zfssync-backup1-90", 9_090, 90), // its snapshot pruned
                Mark("zfssync-backup1-x", 10_002, 102), // not the witness's name
                Mark("mine", 10_002, 102), // the operator's own
            ],
        };
        await world.Bus.Publish(CliWorld.Report("nas1", CliWorld.Dataset("tank"), data));
        await Poll.UntilAsync(async () =>
        {
            await using var db = world.CreateContext();
            return await db.Bookmarks.CountAsync() == 4;
        }, "nas1's bookmarks stored");

        var json = await world.RunAsync(world.Operator, "protected", "nas1", "--json");
        json.ExitCode.ShouldBe(ExitCodes.Ok, json.ToString());
        var entries = Json(json).GetProperty("protected").EnumerateArray().ToList();
        entries.Select(e => e.GetProperty("name").GetString()).ShouldBe(["zfssync-backup1-101", "zfssync-backup1-90"]);
        entries.ShouldAllBe(e => e.GetProperty("target").GetString() == "backup1" && e.GetProperty("dataset").GetString() == "tank/d0" && e.GetProperty("kind").GetString() == "bookmark");
        entries[0].GetProperty("snapshot").GetString().ShouldBe("auto-1");
        entries[0].GetProperty("groups")[0].GetString().ShouldBe(CliWorld.Group);
        entries[1].GetProperty("snapshot").ValueKind.ShouldBe(JsonValueKind.Null, "pruned: the bookmark alone keeps the base");

        var table = await world.RunAsync(world.Operator, "protected", "nas1");
        table.Output.ShouldContain("zfssync-backup1-101");
        table.Output.ShouldContain("(pruned; guid 9090)");
        table.Output.ShouldNotContain("mine");
        (await world.RunAsync(world.Operator, "protected", "backup1")).Output.ShouldContain("nothing protected on 'backup1'");
    }

    [Fact]
    public async Task Should_show_a_group_s_history_newest_first_as_a_table_and_as_json()
    {
        await using var world = await CliWorld.CreateAsync(infrastructure);
        await world.HeartbeatsAsync();
        var conflict = await world.DivergeAsync();
        (await world.RunAsync(world.Operator, "resolve", conflict.ConflictId.ToString(), "rollback-target", "--note", "bob")).ExitCode.ShouldBe(ExitCodes.Ok);
        CliRun plain = null!;
        await Poll.UntilAsync(async () =>
        {
            plain = await world.RunAsync(world.Operator, "history", CliWorld.Group);
            return plain.Output.Contains("rollback-and-incremental", StringComparison.Ordinal);
        }, "the instruction the resolution led to, on the timeline");

        plain.ExitCode.ShouldBe(ExitCodes.Ok, plain.ToString());
        var lines = plain.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines[0].ShouldStartWith("AT");
        lines[0].ShouldContain("KIND");
        lines[1].ShouldContain("status-changed", Case.Sensitive, "newest first: the last change the resolution's planning round recorded");
        lines[1].ShouldContain("out-of-sync, was conflicted");
        lines[2].ShouldContain("instruction-issued");
        lines[2].ShouldContain("rollback-and-incremental");
        plain.Output.ShouldContain($"conflict-resolved");
        plain.Output.ShouldContain($"by {world.Operator.Name}");
        plain.Output.ShouldContain("conflict-detected");
        plain.Output.ShouldContain("status-changed");
        plain.Output.ShouldContain("lag-sample");
        plain.Output.ShouldNotContain("│", Case.Sensitive, "plain text when stdout is no terminal");
        var table = await CliWorld.RunAsync(world.EnvironmentOf(world.Operator), ["history", CliWorld.Group], terminal: true);
        table.Output.ShouldContain("│", Case.Sensitive, "a table on a terminal");
        table.Output.ShouldContain("conflict-resolved");

        var json = await world.RunAsync(world.Operator, "history", CliWorld.Group, "--kind", "conflict-detected", "--kind", "conflict-resolved", "--json");
        json.ExitCode.ShouldBe(ExitCodes.Ok, json.ToString());
        var answer = Json(json);
        answer.GetProperty("syncGroup").GetString().ShouldBe(CliWorld.Group);
        answer.GetProperty("nextAfter").ValueKind.ShouldBe(JsonValueKind.Null);
        var entries = answer.GetProperty("entries").EnumerateArray().ToList();
        entries.Select(e => e.GetProperty("kind").GetString()).ShouldBe(["conflict-resolved", "conflict-detected"]);
        entries[0].GetProperty("by").GetString().ShouldBe(world.Operator.Name);
        entries[0].GetProperty("resolution").GetString().ShouldBe("rollback-target");
        entries[0].GetProperty("conflictId").GetString().ShouldBe(conflict.ConflictId.ToString());
        entries[1].GetProperty("conflictKind").GetString().ShouldBe("diverged");
        entries[1].GetProperty("dataset").GetString().ShouldBe("tank/d0");
        entries[1].GetProperty("targetHostId").GetString().ShouldBe("backup1");

        var one = Json(await world.RunAsync(world.Operator, "history", CliWorld.Group, "--limit", "1", "--json"));
        one.GetProperty("entries").GetArrayLength().ShouldBe(1);
        one.GetProperty("nextAfter").GetString().ShouldNotBeNullOrEmpty("more entries than the limit");
        (await world.RunAsync(world.Viewer, "history", CliWorld.Group)).ExitCode.ShouldBe(ExitCodes.Ok, "a read-only operator tool may ask");

        var unknown = await world.RunAsync(world.Operator, "history", "no-such-group");
        unknown.ExitCode.ShouldBe(ExitCodes.Usage, unknown.ToString());
        unknown.Error.ShouldContain("the witness has no sync group 'no-such-group'");
        (await world.RunAsync(world.Operator, "history", CliWorld.Group, "--kind", "everything")).ExitCode.ShouldBe(ExitCodes.Usage);
        (await world.RunAsync(world.Operator, "history", CliWorld.Group, "--limit", "0")).ExitCode.ShouldBe(ExitCodes.Usage);
    }

    [Fact]
    public async Task Should_tail_events_until_the_count_and_show_outcomes_with_their_sender()
    {
        await using var world = await CliWorld.CreateAsync(infrastructure);
        var error = new StringWriter();
        var watch = CliWorld.RunAsync(world.EnvironmentOf(world.Operator), ["watch", "--group", CliWorld.Group, "--count", "2", "--json"], error: error);
        await Poll.UntilAsync(() => Task.FromResult(watch.IsCompleted || error.ToString().Contains("watching", StringComparison.Ordinal)), "the watch to bind its queue");
        watch.IsCompleted.ShouldBeFalse("the watch ended before any event");

        await world.HeartbeatsAsync();
        await world.Bus.Publish(CliWorld.Report("nas1", CliWorld.Dataset("tank"), CliWorld.Dataset("tank/d0", CliWorld.Snap(1))));
        await world.Bus.Publish(CliWorld.Report("backup1", CliWorld.Dataset("backup")));
        var run = await watch.WaitAsync(TimeSpan.FromSeconds(60));
        run.ExitCode.ShouldBe(ExitCodes.Ok, run.ToString());
        var lines = run.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Length.ShouldBe(2, run.ToString());
        var types = lines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("type").GetString()).ToList();
        types.ShouldAllBe(t => t == "HostStatusChanged" || t == "SyncGroupStatusChanged" || t == "SyncInstructionIssued");
        lines.ShouldAllBe(l => l.Contains($"\"sentBy\":\"{world.Vhost.Broker.AdminUser}\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Should_page_every_query_within_its_bounds_over_hundreds_of_groups()
    {
        const int groups = 520;
        await using var world = await CliWorld.CreateAsync(infrastructure, extraGroups: groups - 1);
        await Poll.UntilAsync(async () =>
        {
            await using var db = world.CreateContext();
            return await db.Set<ZfsSync.Witness.Worker.StateMachines.SyncGroupState>().CountAsync() == groups;
        }, "every group's saga", TimeSpan.FromSeconds(180));
        var client = world.Bus.CreateRequestClient<GetSyncGroupStatus>(RequestTimeout.After(s: 30));

        var first = (await client.GetResponse<SyncGroupStatusReport>(new GetSyncGroupStatus())).Message;
        first.Groups.Count.ShouldBe(Paging.DefaultPageSize);
        first.NextAfter.ShouldNotBeNull();
        var most = (await client.GetResponse<SyncGroupStatusReport>(new GetSyncGroupStatus { PageSize = 100_000 })).Message;
        most.Groups.Count.ShouldBe(Paging.MaxPageSize);
        var rest = (await client.GetResponse<SyncGroupStatusReport>(new GetSyncGroupStatus { PageSize = 100_000, After = most.NextAfter })).Message;
        rest.Groups.Count.ShouldBe(groups - Paging.MaxPageSize);
        rest.NextAfter.ShouldBeNull();
        most.Groups.Concat(rest.Groups).Select(g => g.SyncGroup).Distinct().Count().ShouldBe(groups, "no group twice, none left out");
        (await client.GetResponse<SyncGroupStatusReport>(new GetSyncGroupStatus { PageSize = 0 })).Message.Groups.Count.ShouldBe(Paging.DefaultPageSize);
        (await client.GetResponse<SyncGroupStatusReport>(new GetSyncGroupStatus { PageSize = 7 })).Message.Groups.Count.ShouldBe(7);

        // Walking 100 at a time visits every group once, in order.
        var seen = new List<string>();
        string? after = null;
        do
        {
            var page = (await client.GetResponse<SyncGroupStatusReport>(new GetSyncGroupStatus { After = after })).Message;
            seen.AddRange(page.Groups.Select(g => g.SyncGroup));
            after = page.NextAfter;
        }
        while (after is not null);
        seen.Count.ShouldBe(groups);
        seen.Distinct().Count().ShouldBe(groups);

        // A token that is garbage, or another query's, is refused with a reason.
        var bad = await client.GetResponse<SyncGroupStatusReport, QueryRejected>(new GetSyncGroupStatus { After = "not a token" });
        bad.Is(out Response<QueryRejected>? rejected).ShouldBeTrue();
        rejected!.Message.Reason.ShouldStartWith("invalid after token");
        var hostsClient = world.Bus.CreateRequestClient<GetHostStatus>(RequestTimeout.After(s: 30));
        await world.HeartbeatsAsync();
        var hostPage = (await hostsClient.GetResponse<HostStatusReport>(new GetHostStatus { PageSize = 1 })).Message;
        hostPage.Hosts.Count.ShouldBe(1);
        hostPage.Hosts[0].Groups.Count.ShouldBe(groups, "the host is a member of every group");
        var lastHost = (await hostsClient.GetResponse<HostStatusReport>(new GetHostStatus { PageSize = 1, After = hostPage.NextAfter })).Message;
        lastHost.Hosts.Single().HostId.ShouldNotBe(hostPage.Hosts[0].HostId);
        lastHost.NextAfter.ShouldBeNull();
        var crossed = await client.GetResponse<SyncGroupStatusReport, QueryRejected>(new GetSyncGroupStatus { After = hostPage.NextAfter });
        crossed.Is(out Response<QueryRejected>? _).ShouldBeTrue("a hosts token is no groups token");
        var conflictsClient = world.Bus.CreateRequestClient<GetConflicts>(RequestTimeout.After(s: 30));
        (await conflictsClient.GetResponse<ConflictsReport, QueryRejected>(new GetConflicts { After = "AAAA" })).Is(out Response<QueryRejected>? _).ShouldBeTrue();
        var instructionsClient = world.Bus.CreateRequestClient<GetOutstandingInstructions>(RequestTimeout.After(s: 30));
        (await instructionsClient.GetResponse<OutstandingInstructions>(new GetOutstandingInstructions { PageSize = 1000 })).Message.NextAfter.ShouldBeNull();

        // The CLI joins the pages: every group, one JSON document.
        var status = await world.RunAsync(world.Operator, "status", "--json");
        Json(status).GetProperty("groups").GetArrayLength().ShouldBe(groups, status.Error);
        var stats = Json(await world.RunAsync(world.Operator, "stats", "--json"));
        (stats.GetProperty("groupsWaiting").GetInt32() + stats.GetProperty("groupsOutOfSync").GetInt32() + stats.GetProperty("groupsInSync").GetInt32()
            + stats.GetProperty("groupsConflicted").GetInt32()).ShouldBe(groups);
    }
}

/// <summary>What happens before the witness is asked anything: configuration, secrets, an unreachable broker.</summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class When_zfssync_is_misconfigured(InfrastructureFixture infrastructure)
{
    [Fact]
    public async Task Should_say_in_one_line_that_the_broker_does_not_answer_and_exit_4()
    {
        var variables = new Dictionary<string, string>
        {
            ["HOME"] = Path.GetTempPath(),
            ["ZFS_SYNC_RabbitMq__Uri"] = "amqp://127.0.0.1:1/zfssync",
            ["ZFS_SYNC_RabbitMq__User"] = "operator1",
            ["ZFS_SYNC_RabbitMq__Password"] = "secret-value",
        };
        var run = await CliWorld.RunAsync(variables, ["status", "--timeout", "5"]);
        run.ExitCode.ShouldBe(ExitCodes.Unreachable, run.ToString());
        run.Error.Trim().Split('\n').Length.ShouldBe(1, run.ToString());
        run.Error.ShouldContain("amqp://127.0.0.1:1/zfssync");
        run.Error.ShouldNotContain("   at ");
        run.Error.ShouldNotContain("secret-value");
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task Should_take_the_password_only_from_a_private_file_the_environment_or_stdin()
    {
        await using var world = await CliWorld.CreateAsync(infrastructure);
        await Poll.UntilAsync(async () =>
        {
            await using var db = world.CreateContext();
            return await db.Set<ZfsSync.Witness.Worker.StateMachines.SyncGroupState>().AnyAsync();
        }, "the group's saga");
        var noPassword = world.EnvironmentOf(world.Operator, password: false);

        // No --password flag exists: bad usage.
        var flag = await CliWorld.RunAsync(noPassword, ["status", "--password", world.Operator.Password]);
        flag.ExitCode.ShouldBe(ExitCodes.Usage, flag.ToString());
        flag.Error.ShouldNotContain(world.Operator.Password);

        // No password at all: one line naming the keys.
        var none = await CliWorld.RunAsync(noPassword, ["hosts"]);
        none.ExitCode.ShouldBe(ExitCodes.Usage, none.ToString());
        none.Error.ShouldContain("RabbitMq:Password or RabbitMq:PasswordFile is required");

        // A password file others may read is refused; chmod 600 and it is used. The file is cli.yaml under ~/.config/zfssync.
        var secret = Path.Combine(world.Home, "password");
        await File.WriteAllTextAsync(secret, world.Operator.Password + "\n");
        File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var dir = Directory.CreateDirectory(Path.Combine(world.Home, ".config", "zfssync")).FullName;
        await File.WriteAllTextAsync(Path.Combine(dir, "cli.yaml"), $"""
            RabbitMq:
              Uri: {noPassword["ZFS_SYNC_RabbitMq__Uri"]}
              User: {world.Operator.Name}
              PasswordFile: {secret}
              WitnessUser: {world.Vhost.Broker.AdminUser}
            """);
        var fileOnly = new Dictionary<string, string> { ["HOME"] = world.Home };
        var open = await CliWorld.RunAsync(fileOnly, ["stats"]);
        open.ExitCode.ShouldBe(ExitCodes.Usage, open.ToString());
        open.Error.ShouldContain("chmod 600");
        File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var ok = await CliWorld.RunAsync(fileOnly, ["stats", "--json"]);
        ok.ExitCode.ShouldBeLessThan(ExitCodes.Usage, ok.ToString()); // 1 once the group's saga waits for reports, 0 before
        ok.Output.ShouldContain("\"hostsOnline\"");

        // --password-stdin, and ZFS_SYNC_CONFIG naming a file elsewhere; a wrong password is a configuration error.
        var other = Path.Combine(world.Home, "other.yaml");
        await File.WriteAllTextAsync(other, $"RabbitMq:\n  Uri: {noPassword["ZFS_SYNC_RabbitMq__Uri"]}\n  User: {world.Operator.Name}\n  WitnessUser: {world.Vhost.Broker.AdminUser}\n");
        var viaStdin = await CliWorld.RunAsync(new Dictionary<string, string> { ["ZFS_SYNC_CONFIG"] = other }, ["status", "--password-stdin"], stdin: world.Operator.Password + "\n");
        new[] { ExitCodes.Ok, ExitCodes.OutOfSync, ExitCodes.Conflicts }.ShouldContain(viaStdin.ExitCode, viaStdin.ToString()); // the group waits: its dataset may be blocked
        viaStdin.Output.ShouldContain("critical");
        var wrong = await CliWorld.RunAsync(new Dictionary<string, string> { ["ZFS_SYNC_CONFIG"] = other }, ["status", "--password-stdin"], stdin: "wrong\n");
        wrong.ExitCode.ShouldBe(ExitCodes.Usage, wrong.ToString());
        wrong.Error.ShouldContain("refused the credentials");
        (await CliWorld.RunAsync(new Dictionary<string, string> { ["ZFS_SYNC_CONFIG"] = Path.Combine(world.Home, "missing.yaml") }, ["status"])).ExitCode.ShouldBe(ExitCodes.Usage);

        // Bad usage: an unknown command, a resolution that does not exist, a conflict id that is no uuid.
        (await CliWorld.RunAsync(fileOnly, ["frobnicate"])).ExitCode.ShouldBe(ExitCodes.Usage);
        (await CliWorld.RunAsync(fileOnly, ["resolve", Guid.NewGuid().ToString(), "format-disk"])).ExitCode.ShouldBe(ExitCodes.Usage);
        (await CliWorld.RunAsync(fileOnly, ["resolve", "not-a-uuid", "ignore"])).ExitCode.ShouldBe(ExitCodes.Usage);
        var unknown = await CliWorld.RunAsync(fileOnly, ["resolve", Guid.NewGuid().ToString(), "ignore"]);
        unknown.ExitCode.ShouldBe(ExitCodes.Rejected, unknown.ToString());
        var help = await CliWorld.RunAsync(fileOnly, ["--help"]);
        help.ExitCode.ShouldBe(ExitCodes.Ok, help.ToString());
        help.Output.ShouldContain("resolve");
    }
}
