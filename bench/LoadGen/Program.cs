using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using Npgsql;
using RabbitMQ.Client.Exceptions;
using ZfsSync.Contracts;
using ZfsSync.LoadGen;

if (args is [BareConsumer.Command])
{
    return await BareConsumer.RunAsync();
}

var (options, error, help) = LoadGenOptions.Parse(args, Environment.GetEnvironmentVariable);
if (help)
{
    Console.WriteLine(LoadGenOptions.Help);
    return 0;
}

if (options is null)
{
    await Console.Error.WriteLineAsync($"loadgen: {error}");
    return 2;
}

var witnessDll = Path.GetFullPath(options.WitnessDll ?? ConsumerProcess.DefaultWitnessDll());
if (!File.Exists(witnessDll))
{
    await Console.Error.WriteLineAsync($"loadgen: the witness is not built at {witnessDll} (dotnet build bench/LoadGen -c Release builds it; or name one with --witness)");
    return 2;
}

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

var run = new LoadGenRun(options, witnessDll);
return await run.ExecuteAsync(cancel.Token);

namespace ZfsSync.LoadGen
{
    /// <summary>One run: the broker users, vhosts and database it creates (and removes), the witness, the bare consumer, the summary.</summary>
    internal sealed class LoadGenRun(LoadGenOptions options, string witnessDll)
    {
        private readonly string _suffix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
        private readonly List<Func<Task>> _cleanup = [];

        public async Task<int> ExecuteAsync(CancellationToken cancellationToken)
        {
            using var admin = new BrokerAdmin(new Uri(options.BrokerUri!), new Uri(options.ManagementUri!));
            using var progress = new Progress(Progress.IsTerminal);
            var fleet = new Fleet(options.Hosts, options.EffectiveGroups, options.Datasets, options.Snapshots);
            var total = (long)options.Hosts * options.Datasets * options.Snapshots;
            progress.Line($"fleet: {options.Hosts:N0} hosts × {options.Datasets} datasets × {options.Snapshots} snapshots ({total:N0} snapshots) in {fleet.GroupCount:N0} groups of 2; "
                + $"reporting: {(options.Reporting == ReportingMode.ReportsAs ? "ReportsAs, one impersonating connection" : "no ReportsAs, one reporter user")}; "
                + $"heartbeat every {options.HeartbeatInterval} s, report every {options.ReportInterval} s, {options.NewSnapshotPercent} % of source datasets get a snapshot per minute; "
                + $"steady load {options.SteadySecondsPerConsumer:0.#} s per consumer; {Environment.ProcessorCount} cores");
            ConsumerResult? witness = null;
            ConsumerResult? bare = null;
            var status = 0;
            try
            {
                witness = await MeasureWitnessAsync(admin, progress, cancellationToken);
                if (!options.SkipBare)
                {
                    bare = await MeasureBareAsync(admin, progress, cancellationToken);
                }
            }
            catch (NoAnswerException e)
            {
                progress.Line($"loadgen: {e.Message}");
                status = 1;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                progress.Line("loadgen: interrupted");
                status = 130;
            }
            catch (Exception e) when (e is InvalidOperationException or HttpRequestException or NpgsqlException or IOException or TimeoutException
                or RabbitMQ.Client.Exceptions.RabbitMQClientException or OperationInterruptedException or JsonException)
            {
                progress.Line($"loadgen: {e.GetType().Name}: {e.Message}");
                status = 1;
            }
            finally
            {
                await progress.DisposeAsync();
                await CleanUpAsync();
            }

            if (status != 0)
            {
                await Console.Error.WriteLineAsync(status == 1 ? "loadgen: FAILED (the line above says why)" : "loadgen: interrupted");
                return status;
            }

            Console.WriteLine();
            Console.WriteLine(Summary.Markdown(Summary.Rows(witness!, bare)));
            Console.WriteLine($"loadgen: ok: {witness!.RoundTrips:N0} round trips completed, every replicated dataset caught up with its source");
            return 0;
        }

        private async Task<ConsumerResult> MeasureWitnessAsync(BrokerAdmin admin, Progress progress, CancellationToken cancellationToken)
        {
            var vhost = $"loadgen-{_suffix}";
            var witnessUser = $"loadgen-{_suffix}-witness";
            var reporterUser = $"loadgen-{_suffix}-reporter";
            var executorUser = $"loadgen-{_suffix}-executor";
            var passwords = new[] { witnessUser, reporterUser, executorUser }.ToDictionary(u => u, _ => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)));
            await admin.CreateVhostAsync(vhost, cancellationToken);
            _cleanup.Add(() => admin.DeleteVhostAsync(vhost, CancellationToken.None));
            foreach (var user in passwords.Keys)
            {
                _cleanup.Add(() => admin.DeleteUserAsync(user, CancellationToken.None));
            }

            await admin.CreateUserAsync(vhost, witnessUser, passwords[witnessUser], "impersonator", cancellationToken);
            await admin.CreateUserAsync(vhost, reporterUser, passwords[reporterUser], options.Reporting == ReportingMode.ReportsAs ? "impersonator" : "", cancellationToken);
            await admin.CreateUserAsync(vhost, executorUser, passwords[executorUser], "", cancellationToken);

            var database = $"loadgen_{_suffix}";
            await using (var connection = new NpgsqlConnection(options.Postgres + ";Pooling=false"))
            {
                await connection.OpenAsync(cancellationToken);
                await using var command = new NpgsqlCommand($"CREATE DATABASE \"{database}\"", connection);
                await command.ExecuteNonQueryAsync(cancellationToken);
            }

            _cleanup.Add(async () =>
            {
                await using var connection = new NpgsqlConnection(options.Postgres + ";Pooling=false");
                await connection.OpenAsync();
                await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)", connection);
                await command.ExecuteNonQueryAsync();
            });
            var connectionString = new NpgsqlConnectionStringBuilder(options.Postgres) { Database = database }.ConnectionString;

            var fleet = new Fleet(options.Hosts, options.EffectiveGroups, options.Datasets, options.Snapshots);
            var directory = Directory.CreateTempSubdirectory("zfssync-loadgen-").FullName;
            _cleanup.Add(() =>
            {
                Directory.Delete(directory, recursive: true);
                return Task.CompletedTask;
            });
            var config = Path.Combine(directory, "zfs_sync.yaml");
            await File.WriteAllTextAsync(config, WitnessConfig.Yaml(fleet, options.Reporting, reporterUser, executorUser), cancellationToken);
            var environment = new Dictionary<string, string>
            {
                ["ZFS_SYNC_CONFIG"] = config,
                ["ZFS_SYNC_Database__Provider"] = "postgresql",
                ["ZFS_SYNC_Database__ConnectionString"] = connectionString,
                ["ZFS_SYNC_RabbitMq__Uri"] = admin.AmqpUri(vhost).ToString(),
                ["ZFS_SYNC_RabbitMq__User"] = witnessUser,
                ["ZFS_SYNC_RabbitMq__Password"] = passwords[witnessUser],
            };
            var watch = Stopwatch.StartNew();
            await using var witness = await ConsumerProcess.StartAsync("the witness", witnessDll, [], environment, "Application started", TimeSpan.FromSeconds(120));
            progress.Line($"witness: started in {watch.Elapsed.TotalSeconds:N1} s (pid {witness.Pid}; {config})");

            await using var publisher = await Publisher.ConnectAsync(admin.Host, admin.Port, vhost, reporterUser, passwords[reporterUser], "loadgen fleet", 4, cancellationToken);
            await using var observer = await Publisher.ConnectAsync(admin.Host, admin.Port, vhost, reporterUser, passwords[reporterUser], "loadgen observer", 1, cancellationToken);
            var entryOf = (int h) => ClientTopology.EntryExchange(ClientTopology.ReporterRole, options.Reporting == ReportingMode.ReportsAs ? Fleet.ReporterUser(h) : reporterUser);
            var userOf = (int h) => options.Reporting == ReportingMode.ReportsAs ? Fleet.ReporterUser(h) : reporterUser;
            await WaitTopologyAsync(observer, [entryOf(0), entryOf(options.Hosts - 1)], ClientTopology.InboxQueue(ClientTopology.ExecutorRole, executorUser), witness, cancellationToken);

            var runner = new Runner(
                options, admin, progress, vhost, witness: true,
                h => (entryOf(h), ClientTopology.SharedExchange<Heartbeat>(), userOf(h)),
                h => (entryOf(h), ClientTopology.SharedExchange<SnapshotInventoryReported>(), userOf(h)))
            {
                Database = connectionString,
                Executor = (executorUser, passwords[executorUser]),
                Restart = options.SkipRestart
                    ? null
                    : _ => ConsumerProcess.StartAsync("the witness", witnessDll, [], environment, "Application started", TimeSpan.FromSeconds(120)),
            };
            try
            {
                var result = await runner.RunAsync(witness, publisher, observer, cancellationToken);
                if (runner.RejectedCount > 0)
                {
                    progress.Line($"witness: {runner.RejectedCount} reports rejected, e.g. {string.Join(" | ", runner.Rejections)}");
                }

                return result;
            }
            catch (NoAnswerException e)
            {
                var why = runner.RejectedCount > 0 ? $"; {runner.RejectedCount} reports rejected, e.g. {string.Join(" | ", runner.Rejections)}" : "";
                var current = runner.Restarted ?? witness;
                var failures = current.FailureLines();
                throw new NoAnswerException(e.Message + why + (current.HasExited ? "; the witness exited" : "")
                    + (failures.Count > 0 ? "\nthe witness's failure lines:\n" + string.Join('\n', failures.TakeLast(10)) : ""));
            }
            finally
            {
                if (runner.Restarted is not null)
                {
                    await runner.Restarted.DisposeAsync();
                }
            }
        }

        private async Task<ConsumerResult> MeasureBareAsync(BrokerAdmin admin, Progress progress, CancellationToken cancellationToken)
        {
            var vhost = $"loadgen-{_suffix}-bare";
            var user = $"loadgen-{_suffix}-bare";
            var password = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
            await admin.CreateVhostAsync(vhost, cancellationToken);
            _cleanup.Add(() => admin.DeleteVhostAsync(vhost, CancellationToken.None));
            _cleanup.Add(() => admin.DeleteUserAsync(user, CancellationToken.None));
            await admin.CreateUserAsync(vhost, user, password, "", cancellationToken);
            var environment = new Dictionary<string, string>
            {
                ["LOADGEN_BARE_HOST"] = admin.Host,
                ["LOADGEN_BARE_PORT"] = admin.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["LOADGEN_BARE_VHOST"] = vhost,
                ["LOADGEN_BARE_USER"] = user,
                ["LOADGEN_BARE_PASSWORD"] = password,
            };
            var self = typeof(LoadGenRun).Assembly.Location;
            await using var bare = await ConsumerProcess.StartAsync("the bare consumer", self, [BareConsumer.Command], environment, BareConsumer.ReadyLine, TimeSpan.FromSeconds(60));
            progress.Line($"bare: started (pid {bare.Pid})");
            await using var publisher = await Publisher.ConnectAsync(admin.Host, admin.Port, vhost, user, password, "loadgen fleet", 4, cancellationToken);
            await using var observer = await Publisher.ConnectAsync(admin.Host, admin.Port, vhost, user, password, "loadgen observer", 1, cancellationToken);
            await WaitTopologyAsync(observer, [ClientTopology.SharedExchange<Heartbeat>(), ClientTopology.SharedExchange<SnapshotInventoryReported>()], BareConsumer.InventoryQueue, bare, cancellationToken);
            var runner = new Runner(
                options, admin, progress, vhost, witness: false,
                _ => (ClientTopology.SharedExchange<Heartbeat>(), "", null),
                _ => (ClientTopology.SharedExchange<SnapshotInventoryReported>(), "", null));
            return await runner.RunAsync(bare, publisher, observer, cancellationToken);
        }

        /// <summary>Until the consumer has declared the exchanges the fleet publishes to and the queue named (bounded polling).</summary>
        private static async Task WaitTopologyAsync(Publisher observer, IReadOnlyList<string> exchanges, string inbox, ConsumerProcess witness, CancellationToken cancellationToken)
        {
            var watch = Stopwatch.StartNew();
            while (true)
            {
                try
                {
                    await using var channel = await observer.Connection.CreateChannelAsync(cancellationToken: cancellationToken);
                    foreach (var exchange in exchanges)
                    {
                        await channel.ExchangeDeclarePassiveAsync(exchange, cancellationToken);
                    }

                    await channel.QueueDeclarePassiveAsync(inbox, cancellationToken);
                    return;
                }
                catch (OperationInterruptedException) when (watch.Elapsed < TimeSpan.FromSeconds(60) && !witness.HasExited)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken); // bounded polling for the witness's topology
                }
                catch (OperationInterruptedException)
                {
                    throw new NoAnswerException($"{witness.Name} did not answer: it declared none of {string.Join(", ", exchanges)} or its queue {inbox} within 60 s");
                }
            }
        }

        private async Task CleanUpAsync()
        {
            if (options.Keep)
            {
                Console.Error.WriteLine($"loadgen: kept the vhosts, users and database of run {_suffix}");
                return;
            }

            foreach (var step in Enumerable.Reverse(_cleanup))
            {
                try
                {
                    await step();
                }
                catch (Exception e) when (e is HttpRequestException or NpgsqlException or IOException or TaskCanceledException)
                {
                    Console.Error.WriteLine($"loadgen: clean-up: {e.Message}");
                }
            }
        }
    }
}
