using System.Text.Json;
using MassTransit.Serialization;
using Microsoft.EntityFrameworkCore;
using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Worker.Persistence;
using ZfsSync.Witness.Worker.Tests.Support;
using static ZfsSync.Witness.Worker.Tests.Support.Reports;

namespace ZfsSync.Witness.Worker.Tests.Ingest;

/// <summary>The whole witness on the real broker and PostgreSQL, with reporters connecting as their own broker users.</summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class When_reporters_publish_over_the_real_broker(InfrastructureFixture infrastructure) : IAsyncLifetime
{
    private TestVhost _vhost = null!;
    private WitnessTestDatabase _database = null!;
    private WitnessHost _witness = null!;
    private BusProbe _probe = null!;
    private TestBrokerUser _nas1 = null!;
    private TestBrokerUser _backup1 = null!;

    public async Task InitializeAsync()
    {
        _vhost = await infrastructure.CreateVhostAsync();
        _database = await WitnessTestDatabase.CreateAsync(infrastructure, "postgresql");
        _nas1 = await _vhost.CreateUserAsync("nas1", tags: "management");
        _backup1 = await _vhost.CreateUserAsync("backup1", tags: "management");
        _probe = await BusProbe.StartAsync(_vhost, typeof(InventoryRejected), typeof(GroupInventoryChanged));
        _witness = await WitnessHost.StartAsync(_vhost, _database, new Dictionary<string, string?>
        {
            ["Hosts:0:Id"] = "nas1",
            ["Hosts:0:ReportsAs"] = _nas1.Name,
            ["Hosts:1:Id"] = "backup1",
            ["Hosts:1:ReportsAs"] = _backup1.Name,
            ["SyncGroups:0:Name"] = "critical",
            ["SyncGroups:0:Source"] = "nas1",
            ["SyncGroups:0:Members:0"] = "nas1",
            ["SyncGroups:0:Members:1"] = "backup1",
            ["SyncGroups:0:Datasets:0:Path"] = "tank/d0",
        });
    }

    public async Task DisposeAsync()
    {
        await _witness.DisposeAsync();
        await _probe.DisposeAsync();
        await _database.DisposeAsync();
        await _vhost.DisposeAsync();
    }

    private async Task<int> SnapshotCountAsync()
    {
        await using var db = _database.CreateContext();
        return await db.Snapshots.CountAsync();
    }

    private async Task<ProcessedReport?> ProcessedAsync(Guid reportId)
    {
        await using var db = _database.CreateContext();
        return await db.ProcessedReports.AsNoTracking().SingleOrDefaultAsync(r => r.ReportId == reportId);
    }

    private Task WaitProcessedAsync(Guid reportId) =>
        Poll.UntilAsync(async () => await ProcessedAsync(reportId) is not null, $"report {reportId} to be processed");

    private static SnapshotInventoryReported Nas1Report() => Report("nas1", Dataset("tank"), Dataset("tank/d0", Snapshot("a", 11, 1), Snapshot("b", 12, 2)));

    [Fact]
    public async Task Should_store_an_envelope_report_with_the_right_user_id_and_notify_the_group_through_the_outbox()
    {
        await using var reporter = await ReporterConnection.ConnectAsync(_nas1, _nas1.Name);
        var report = Nas1Report();

        await reporter.PublishAsync(report);

        var notified = await _probe.WaitForAsync<GroupInventoryChanged>(m => m.ReportId == report.ReportId, "the group notification");
        notified.SyncGroup.ShouldBe("critical");
        notified.Datasets.ShouldBe(["tank/d0"]);
        var processed = (await ProcessedAsync(report.ReportId)).ShouldNotBeNull();
        (processed.Outcome, processed.RowsInserted, processed.RowsUpdated, processed.RowsDeleted).ShouldBe((ReportOutcomes.Applied, 4, 0, 0));
        (await SnapshotCountAsync()).ShouldBe(2);
    }

    [Fact]
    public async Task Should_store_a_raw_json_report_published_through_the_management_api_as_the_host_user()
    {
        var report = Nas1Report();
        var body = JsonSerializer.Serialize(report, SystemTextJsonMessageSerializer.Options);

        var routed = await _vhost.PublishViaManagementApiAsync(
            "ZfsSync.Contracts:SnapshotInventoryReported",
            body,
            new Dictionary<string, object> { ["content_type"] = "application/json", ["user_id"] = _nas1.Name, ["delivery_mode"] = 2 },
            (_nas1.Name, _nas1.Password));

        routed.ShouldBeTrue();
        await WaitProcessedAsync(report.ReportId);
        (await SnapshotCountAsync()).ShouldBe(2);
    }

    [Fact]
    public async Task Should_reject_a_report_for_another_host_and_store_nothing()
    {
        // backup1's broker user claims to be nas1: the broker validates user-id against the connection,
        // so backup1 can only send its own name, which does not match nas1's ReportsAs.
        await using var spoofer = await ReporterConnection.ConnectAsync(_backup1, _backup1.Name);
        var report = Nas1Report();

        await spoofer.PublishAsync(report);

        var rejected = await _probe.WaitForAsync<InventoryRejected>(m => m.ReportId == report.ReportId, "the rejection");
        rejected.HostId.ShouldBe("nas1");
        rejected.Reason.ShouldContain($"was sent by RabbitMQ user \"{_backup1.Name}\", but host nas1 reports as \"{_nas1.Name}\"");
        (await SnapshotCountAsync()).ShouldBe(0);
        (await ProcessedAsync(report.ReportId)).ShouldBeNull();
    }

    [Fact]
    public async Task Should_reject_a_report_without_a_user_id()
    {
        await using var reporter = await ReporterConnection.ConnectAsync(_nas1, claimUserId: null);
        var report = Nas1Report();

        await reporter.PublishAsync(report);

        var rejected = await _probe.WaitForAsync<InventoryRejected>(m => m.ReportId == report.ReportId, "the rejection");
        rejected.Reason.ShouldContain("carries no validated user-id");
        (await SnapshotCountAsync()).ShouldBe(0);
    }

    [Fact]
    public async Task Should_reject_a_malformed_report_keep_it_in_the_error_queue_and_go_on_consuming()
    {
        var reportId = Guid.NewGuid();
        // A guid written as a JSON number: a jq or JavaScript producer may already have rounded it.
        var malformed = $$"""{"hostId":"nas1","reportId":"{{reportId}}","sequence":1,"roots":["tank"],"datasets":[{"name":"tank","snapshots":[{"name":"a","guid":9007199254740993,"createTxg":"1"}]}]}""";

        await _vhost.PublishViaManagementApiAsync(
            "ZfsSync.Contracts:SnapshotInventoryReported",
            malformed,
            new Dictionary<string, object> { ["content_type"] = "application/json", ["user_id"] = _nas1.Name },
            (_nas1.Name, _nas1.Password));

        var rejected = await _probe.WaitForAsync<InventoryRejected>(m => m.ReportId == reportId, "the rejection of the malformed report");
        rejected.HostId.ShouldBe("nas1");
        rejected.Reason.ShouldContain("could not be read");
        rejected.Reason.ShouldContain("JSON string of decimal digits");
        await Poll.UntilAsync(async () => await _vhost.QueueMessageCountAsync("inventory-ingest_error") == 1, "the malformed report in inventory-ingest_error");

        // The worker is still consuming: the next good report is applied.
        await using var reporter = await ReporterConnection.ConnectAsync(_nas1, _nas1.Name);
        var good = Nas1Report();
        await reporter.PublishAsync(good);
        await WaitProcessedAsync(good.ReportId);
        (await SnapshotCountAsync()).ShouldBe(2);
    }

    [Fact]
    public async Task Should_replay_a_dead_lettered_report_with_its_original_user_id()
    {
        // As MassTransit leaves a report that failed past its retries: the reporter's body and validated user-id, fault headers.
        var report = Nas1Report();
        var factory = new RabbitMQ.Client.ConnectionFactory { Uri = _vhost.AmqpUri };
        await using (var connection = await factory.CreateConnectionAsync())
        await using (var channel = await connection.CreateChannelAsync())
        {
            // MassTransit declares an error queue when it first moves a message there.
            await channel.QueueDeclareAsync("inventory-ingest_error", durable: true, exclusive: false, autoDelete: false);
        }

        var routed = await _vhost.Broker.PublishViaManagementApiAsync(
            _vhost.Name,
            "amq.default",
            JsonSerializer.Serialize(report, SystemTextJsonMessageSerializer.Options),
            new Dictionary<string, object>
            {
                ["content_type"] = "application/json",
                ["user_id"] = _nas1.Name,
                ["delivery_mode"] = 2,
                ["headers"] = new Dictionary<string, object> { ["MT-Reason"] = "fault", ["MT-Fault-Message"] = "Failed to connect to 127.0.0.1:55432" },
            },
            "inventory-ingest_error",
            (_nas1.Name, _nas1.Password));
        routed.ShouldBeTrue();
        await Poll.UntilAsync(async () => await _vhost.QueueMessageCountAsync("inventory-ingest_error") == 1, "the report in inventory-ingest_error");

        var output = new StringWriter();
        var exitCode = await ZfsSync.Witness.Worker.Hosting.ErrorQueueReplay.RunAsync(
            ["--queue", "inventory-ingest"],
            output,
            new ZfsSync.Witness.Worker.Hosting.RabbitMqOptions
            {
                Uri = new UriBuilder(_vhost.AmqpUri) { UserName = "", Password = "" }.Uri,
                User = _vhost.Broker.AdminUser,
                Password = _vhost.Broker.AdminPassword,
            });

        exitCode.ShouldBe(0, output.ToString());
        output.ToString().ShouldContain("inventory-ingest_error: 1 message(s) replayed to inventory-ingest");
        await WaitProcessedAsync(report.ReportId);
        (await ProcessedAsync(report.ReportId))!.Outcome.ShouldBe(ReportOutcomes.Applied, "ReportsAs accepted the replayed report's user-id");
        await Poll.UntilAsync(async () => await _vhost.QueueMessageCountAsync("inventory-ingest_error") == 0, "an empty inventory-ingest_error (the management API's counts lag)");
        _probe.All<InventoryRejected>().ShouldBeEmpty();
    }
}
