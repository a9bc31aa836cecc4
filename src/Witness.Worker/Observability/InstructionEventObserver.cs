using MassTransit;
using ZfsSync.Contracts;

namespace ZfsSync.Witness.Worker.Observability;

/// <summary>
/// Counts instruction events where they become facts: <c>issued</c>, <c>expired</c> and <c>hung</c> (an expiry whose
/// reason is a hang) when this process publishes
/// them (the outbox dispatcher, after the decision committed), <c>completed</c> and <c>failed</c> when an outcome
/// message was consumed without error, and heartbeats consumed.
/// </summary>
public sealed class InstructionEventObserver(WitnessMetrics metrics) : IPublishObserver, IConsumeObserver
{
    public Task PrePublish<T>(PublishContext<T> context)
        where T : class => Task.CompletedTask;

    public Task PostPublish<T>(PublishContext<T> context)
        where T : class
    {
        switch (context.Message)
        {
            case SyncInstructionIssued:
                metrics.Instruction("issued");
                break;
            case SyncInstructionExpired expired:
                metrics.Instruction(expired.Reason.StartsWith("hung", StringComparison.Ordinal) ? "hung" : "expired");
                break;
        }

        return Task.CompletedTask;
    }

    public Task PublishFault<T>(PublishContext<T> context, Exception exception)
        where T : class => Task.CompletedTask;

    public Task PreConsume<T>(ConsumeContext<T> context)
        where T : class => Task.CompletedTask;

    public Task PostConsume<T>(ConsumeContext<T> context)
        where T : class
    {
        switch (context.Message)
        {
            case SyncInstructionCompleted:
                metrics.Instruction("completed");
                break;
            case SyncInstructionFailed:
                metrics.Instruction("failed");
                break;
            case Heartbeat:
                metrics.HeartbeatConsumed();
                break;
        }

        return Task.CompletedTask;
    }

    public Task ConsumeFault<T>(ConsumeContext<T> context, Exception exception)
        where T : class => Task.CompletedTask;
}
