using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using ZfsSync.Contracts;
using ZfsSync.Hosting;
using ZfsSync.Witness.Worker.Hosting;
using ZfsSync.Witness.Worker.Persistence;

namespace ZfsSync.Witness.Worker.Consumers;

/// <summary>
/// Records an executor's <see cref="SyncInstructionStarted"/> and <see cref="SyncInstructionProgressed"/> on the
/// outstanding attempt with one conditional update (no planning round, no saga): when it started, when progress last
/// came, the last byte count and when the bytes last grew (the witness's clock). The expiry sweeper reads them to
/// expire a hung attempt (<see cref="Hosting.SyncGroupOptions.HangAfter"/>). A message for an unknown attempt, an
/// attempt with an outcome (an older attempt of the instruction, or a finished one) or one already announced expired
/// changes nothing and is logged.
/// </summary>
public sealed class InstructionProgressConsumer(
    WitnessDbContext db, TimeProvider time, IOptionsMonitor<WitnessOptions> options, ILogger<InstructionProgressConsumer> logger) :
    IConsumer<SyncInstructionStarted>,
    IConsumer<SyncInstructionProgressed>
{
    public Task Consume(ConsumeContext<SyncInstructionStarted> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var m = context.Message;
        return RecordAsync(context, m.InstructionId, m.Attempt, m.SyncGroup, m.ExecutedBy, m.StartedAt, bytes: null, "start");
    }

    public Task Consume(ConsumeContext<SyncInstructionProgressed> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var m = context.Message;
        return RecordAsync(context, m.InstructionId, m.Attempt, m.SyncGroup, m.ExecutedBy, m.ReportedAt, m.BytesTransferred, "progress");
    }

    private async Task RecordAsync(
        ConsumeContext context, Guid instructionId, int attempt, string group, string executedBy, DateTimeOffset reportedAt, long? bytes, string what)
    {
        if (bytes is < 0)
        {
            logger.LogWarning("Ignored {What} of attempt {Attempt} of instruction {InstructionId} from {ExecutedBy}: negative byte count {Bytes}",
                what, attempt, instructionId, LogText.Escape(executedBy), bytes);
            return;
        }

        // The message must come from the executor user of the host that runs this attempt (ExecutorSenderCheck).
        if (!await SenderAcceptedAsync(context, instructionId, attempt, group, what))
        {
            return;
        }

        var now = time.GetUtcNow();
        var updated = await db.Set<InstructionAttemptRecord>()
            .Where(a => a.InstructionId == instructionId && a.Attempt == attempt && a.SyncGroup == group && a.Outcome == null && a.ExpiryPublishedAt == null)
            .ExecuteUpdateAsync(s => s
                .SetProperty(a => a.StartedAt, a => a.StartedAt ?? reportedAt)
                .SetProperty(a => a.ProgressAt, now)
                .SetProperty(a => a.BytesGrewAt, a => a.BytesGrewAt == null || (bytes != null && bytes > (a.ProgressBytes ?? 0)) ? now : a.BytesGrewAt)
                .SetProperty(a => a.ProgressBytes, a => bytes != null && (a.ProgressBytes == null || bytes > a.ProgressBytes) ? bytes : a.ProgressBytes),
                context.CancellationToken);
        if (updated == 1)
        {
            logger.LogDebug("Recorded {What} of attempt {Attempt} of instruction {InstructionId} in {Group}: {Bytes} bytes", what, attempt, instructionId, LogText.Escape(group), bytes);
            return;
        }

        var row = await db.Set<InstructionAttemptRecord>().AsNoTracking()
            .Where(a => a.InstructionId == instructionId && a.Attempt == attempt)
            .Select(a => new { a.SyncGroup, a.Outcome, a.ExpiryPublishedAt })
            .SingleOrDefaultAsync(context.CancellationToken);
        if (row is null || row.SyncGroup != group)
        {
            logger.LogInformation("Ignored {What} of unknown attempt {Attempt} of instruction {InstructionId} in {Group} from {ExecutedBy}",
                what, attempt, instructionId, LogText.Escape(group), LogText.Escape(executedBy));
        }
        else
        {
            logger.LogDebug("Ignored {What} of attempt {Attempt} of instruction {InstructionId}: already {Outcome}", what, attempt, instructionId,
                row.Outcome ?? "announced expired");
        }
    }

    /// <summary>Whether the sender is an executor of the attempt's executing host; logs (escaped) when not. An unknown attempt passes (the update finds nothing and logs it).</summary>
    private async Task<bool> SenderAcceptedAsync(ConsumeContext context, Guid instructionId, int attempt, string group, string what)
    {
        var host = await db.Set<InstructionAttemptRecord>().AsNoTracking()
            .Where(a => a.InstructionId == instructionId && a.Attempt == attempt && a.SyncGroup == group)
            .Select(a => a.ExecutingHostId ?? a.TargetHostId)
            .SingleOrDefaultAsync(context.CancellationToken);
        if (host is null || ExecutorSenderCheck.Check(options.CurrentValue, host, InventoryIngestConsumer.SenderUserId(context)) is not { } refusal)
        {
            return true;
        }

        logger.LogWarning("Ignored {What} of attempt {Attempt} of instruction {InstructionId} in {Group}: {Reason}",
            what, attempt, instructionId, LogText.Quote(group), LogText.Escape(refusal));
        return false;
    }
}

/// <summary>The consumer's own endpoint, <c>instruction-progress</c> (envelope only: executors are MassTransit clients).</summary>
public sealed class InstructionProgressConsumerDefinition : ConsumerDefinition<InstructionProgressConsumer>
{
    public const string Queue = "instruction-progress";

    public InstructionProgressConsumerDefinition() => EndpointName = Queue;
}
