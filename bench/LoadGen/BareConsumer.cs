using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ZfsSync.Contracts;
using ZfsSync.Hosting;

namespace ZfsSync.LoadGen;

/// <summary>
/// The baseline: a bare MassTransit 8.5 consumer over the same broker, in a process of its own (<c>bare-consumer</c>),
/// reading the same raw JSON messages. Heartbeats are consumed and dropped; inventories are deserialized (every
/// snapshot touched) and answered with an echo — a <see cref="SyncInstructionIssued"/> whose instruction id is the
/// report's id — for the report → answer latency. No database, no validation, no planning: what the transport alone costs.
/// </summary>
public static class BareConsumer
{
    public const string Command = "bare-consumer";
    public const string ReadyLine = "bare consumer ready";
    public const string HeartbeatQueue = "bare-heartbeat";
    public const string InventoryQueue = "bare-inventory";

    public static async Task<int> RunAsync()
    {
        string Env(string name) => Environment.GetEnvironmentVariable(name) ?? throw new InvalidOperationException($"{name} is not set");
        var host = Env("LOADGEN_BARE_HOST");
        var port = ushort.Parse(Env("LOADGEN_BARE_PORT"), System.Globalization.CultureInfo.InvariantCulture);
        var vhost = Env("LOADGEN_BARE_VHOST");
        var user = Env("LOADGEN_BARE_USER");
        var password = Env("LOADGEN_BARE_PASSWORD");
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddMassTransit(x =>
        {
            x.DisableUsageTelemetryUnlessEnabled(builder.Configuration);
            x.AddConsumer<HeartbeatSink>();
            x.AddConsumer<InventoryEcho>();
            x.UsingRabbitMq((context, cfg) =>
            {
                cfg.Host(host, port, vhost, h =>
                {
                    h.Username(user);
                    h.Password(password);
                });
                // As the witness: raw JSON (what the reporters publish) besides MassTransit envelopes.
                cfg.UseRawJsonDeserializer(RawSerializerOptions.AnyMessageType, isDefault: false);
                cfg.ReceiveEndpoint(HeartbeatQueue, e =>
                {
                    e.PrefetchCount = 100;
                    e.ConfigureConsumer<HeartbeatSink>(context);
                });
                cfg.ReceiveEndpoint(InventoryQueue, e =>
                {
                    e.PrefetchCount = 16;
                    e.ConfigureConsumer<InventoryEcho>(context);
                });
            });
        });
        builder.Services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true);
        using var app = builder.Build();
        await app.StartAsync();
        Console.WriteLine(ReadyLine);
        await app.WaitForShutdownAsync();
        return 0;
    }

    private sealed class HeartbeatSink : IConsumer<Heartbeat>
    {
        public Task Consume(ConsumeContext<Heartbeat> context) => Task.CompletedTask;
    }

    private sealed class InventoryEcho : IConsumer<SnapshotInventoryReported>
    {
        public async Task Consume(ConsumeContext<SnapshotInventoryReported> context)
        {
            var report = context.Message;
            var snapshots = 0;
            foreach (var dataset in report.Datasets)
            {
                snapshots += dataset.Snapshots.Count;
            }

            await context.Publish(new SyncInstructionIssued
            {
                InstructionId = report.ReportId,
                SyncGroup = report.HostId,
                SnapshotCount = snapshots,
                IssuedAt = DateTimeOffset.UtcNow,
            });
        }
    }
}
