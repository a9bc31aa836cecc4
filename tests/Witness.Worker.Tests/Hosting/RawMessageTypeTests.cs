using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ZfsSync.Contracts;
using ZfsSync.TestInfrastructure;
using ZfsSync.Witness.Worker.Tests.Support;

namespace ZfsSync.Witness.Worker.Tests.Hosting;

/// <summary>
/// Raw JSON (no MassTransit envelope) on the endpoints that consume several types — the sync group saga's and the
/// status queries' — is read only when its MT-MessageType header names exactly one type the endpoint accepts;
/// otherwise it is rejected with a log line and an answer, and nothing consumes it (it lands in _skipped).
/// </summary>
[Collection(InfrastructureFixture.Collection)]
public sealed class When_a_raw_message_does_not_name_exactly_one_type(InfrastructureFixture infrastructure) : IAsyncLifetime, IDisposable
{
    private const string Completed = "urn:message:ZfsSync.Contracts:SyncInstructionCompleted";
    private const string Failed = "urn:message:ZfsSync.Contracts:SyncInstructionFailed";
    private readonly LogCapture _log = new();
    private TestVhost _vhost = null!;
    private WitnessTestDatabase _database = null!;
    private WitnessHost _witness = null!;

    public async Task InitializeAsync()
    {
        _vhost = await infrastructure.CreateVhostAsync();
        _database = await WitnessTestDatabase.CreateAsync(infrastructure, "sqlite");
        _witness = await WitnessHost.StartAsync(_vhost, _database, new Dictionary<string, string?>(), services => services.AddSingleton<ILoggerProvider>(_log));
    }

    public async Task DisposeAsync()
    {
        await _witness.DisposeAsync();
        await _database.DisposeAsync();
        await _vhost.DisposeAsync();
    }

    public static TheoryData<string, string?, string?, string> Cases() => new()
    {
        { "sync-group-state", null, null, "must name its type in the MT-MessageType header" },
        { "sync-group-state", null, Completed, "must name its type in the MT-MessageType header" },
        { "sync-group-state", $"{Completed};{Failed}", Completed, "exactly one type in the MT-MessageType header, not 2" },
        { "sync-group-state", "urn:message:ZfsSync.Contracts:SyncGroupRemoved", null, "does not accept \"urn:message:ZfsSync.Contracts:SyncGroupRemoved\"" },
        { "sync-group-queries", null, "urn:message:ZfsSync.Contracts:GetSyncGroupStatus", "must name its type in the MT-MessageType header" },
        { "sync-group-queries", "urn:message:ZfsSync.Contracts:GetSyncGroupStatus;urn:message:ZfsSync.Contracts:GetOutstandingInstructions", null, "not 2" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Should_reject_it_with_a_reason_and_consume_nothing(string endpoint, string? header, string? amqpType, string reason)
    {
        var replies = "raw-replies-" + Guid.NewGuid().ToString("N")[..8];
        var messageId = Guid.NewGuid();
        var headers = new Dictionary<string, object> { ["MT-Response-Address"] = $"queue:{replies}" };
        if (header is not null)
        {
            headers["MT-MessageType"] = header;
        }

        var properties = new Dictionary<string, object>
        {
            ["content_type"] = "application/json",
            ["message_id"] = messageId.ToString(),
            ["headers"] = headers,
        };
        if (amqpType is not null)
        {
            properties["type"] = amqpType;
        }

        // A body that is a valid SyncInstructionCompleted, SyncInstructionFailed, ResolveSyncConflict and query at once.
        var body = $$"""{"instructionId":"{{Guid.NewGuid()}}","attempt":1,"syncGroup":"critical","executedBy":"sh","completedAt":"2026-11-30T00:00:00Z","conflictId":"{{Guid.NewGuid()}}","resolution":"rollback-target","requestedBy":"evil\nINFO forged"}""";
        (await _vhost.PublishViaManagementApiAsync(endpoint, body, properties)).ShouldBeTrue();

        await Poll.UntilAsync(async () => await _vhost.QueueMessageCountAsync(endpoint + "_skipped") == 1, $"the message in {endpoint}_skipped", TimeSpan.FromSeconds(60));
        var rejections = _log.Lines.Where(l => l.Message.StartsWith("Rejected raw message", StringComparison.Ordinal)).ToList();
        rejections.Count.ShouldBe(1, string.Join(" | ", _log.Lines.Where(l => l.Level >= LogLevel.Warning).Select(l => l.Message)));
        var line = rejections[0].Message;
        line.ShouldContain(messageId.ToString());
        line.ShouldContain(reason);
        line.ShouldNotContain("\n");
        await Poll.UntilAsync(async () => await _vhost.QueueMessageCountAsync(replies) == 1, "the answer to the response address", TimeSpan.FromSeconds(20));
    }

    public void Dispose() => _log.Dispose();
}
