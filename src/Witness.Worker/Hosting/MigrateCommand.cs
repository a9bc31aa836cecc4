using ZfsSync.Witness.Worker.Persistence;

namespace ZfsSync.Witness.Worker.Hosting;

/// <summary>
/// <c>ZfsSync.Witness.Worker migrate</c>: applies the pending schema migrations (adopting a database made before
/// migrations) and exits, for operators who upgrade deliberately with <c>Database:MigrateAtStart = false</c>. It reads
/// the same configuration as the witness but needs only the <c>Database</c> section. Exit 0 with one summary line on
/// standard output; otherwise one line on standard error and exit 1.
/// </summary>
public static class MigrateCommand
{
    public const string Name = "migrate";

    /// <param name="args">The arguments after <c>migrate</c> (configuration overrides, as for the witness).</param>
    /// <param name="output">Where the summary line goes.</param>
    /// <param name="error">Where the error line goes.</param>
    /// <param name="configure">Extra configuration sources (tests), added last.</param>
    /// <param name="cancellationToken">Stops the run.</param>
    public static async Task<int> RunAsync(
        string[] args, TextWriter output, TextWriter error, Action<IConfigurationBuilder>? configure = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        try
        {
            var builder = Host.CreateApplicationBuilder(args);
            builder.AddWitnessConfiguration();
            configure?.Invoke(builder.Configuration);

            // Without appsettings.json (another content root) EF Core would print every DDL statement.
            builder.Logging.AddFilter("Microsoft.EntityFrameworkCore.Database.Command", LogLevel.Warning);
            var database = builder.Configuration.GetSection("Database").Get<DatabaseOptions>() ?? new DatabaseOptions();
            var failures = new List<string>();
            WitnessOptionsValidator.ValidateDatabase(database, failures);
            if (failures.Count > 0)
            {
                throw new DatabaseSchemaException(string.Join("; ", failures));
            }

            var contentRoot = builder.Environment.ContentRootPath;
            builder.Services.AddDbContext<WitnessDbContext>(o => WitnessHostingExtensions.ConfigureProvider(o, database, contentRoot));
            using var host = builder.Build();
            await using var scope = host.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<WitnessDbContext>();
            var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(MigrateCommand).FullName!);
            var outcome = await DatabaseMigrator.MigrateAsync(db, logger, cancellationToken);
            var adopted = outcome.Adopted ? "adopted the database created before migrations; " : "";
            await output.WriteLineAsync(outcome.Pending.Count == 0
                ? $"migrate: {adopted}the database ({database.Provider}) is up to date at {outcome.Current}"
                : $"migrate: {adopted}the database ({database.Provider}) is at {outcome.Current}; applied {string.Join(", ", outcome.Pending)}");
            return 0;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            await error.WriteLineAsync("migrate failed: " + OneLine(ex));
            return 1;
        }
    }

    /// <summary>The message (and an inner one that adds to it) on one line.</summary>
    internal static string OneLine(Exception ex)
    {
        var message = ex.Message;
        if (ex.InnerException is { } inner && !message.Contains(inner.Message, StringComparison.Ordinal))
        {
            message += " (" + inner.Message + ")";
        }

        return string.Join(' ', message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }
}
