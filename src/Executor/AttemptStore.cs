using System.Text.Json;
using MassTransit.Serialization;
using Microsoft.Data.Sqlite;
using ZfsSync.Contracts;

namespace ZfsSync.Executor;

/// <summary>
/// De-duplication on (instruction id, attempt) in <c>attempts.db</c> (SQLite) under the state directory: an attempt
/// is claimed once, by one process, before it starts; a redelivery or a second executor of the same host sharing
/// the directory finds the claim and runs nothing. An attempt claimed but not finished when the executor starts
/// again was cut by a crash and is reported failed. It is also the executor's outbox: the outcome message of an
/// attempt is recorded in the statement that finishes it, and stays pending until it was sent.
/// </summary>
public sealed class AttemptStore
{
    /// <summary>The outcome messages as the contract serializes them (MassTransit's options), one line.</summary>
    private static readonly JsonSerializerOptions OutcomeOptions = new(SystemTextJsonMessageSerializer.Options) { WriteIndented = false };

    private readonly string _connectionString;

    public AttemptStore(string stateDirectory)
    {
        Directory.CreateDirectory(stateDirectory);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = Path.Combine(stateDirectory, "attempts.db"),
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
            DefaultTimeout = 30,
        }.ToString();
        using var connection = Open();
        Execute(connection, "PRAGMA journal_mode=WAL;");
        Execute(connection, """
            CREATE TABLE IF NOT EXISTS attempts (
                instruction_id TEXT NOT NULL,
                attempt INTEGER NOT NULL,
                sync_group TEXT NOT NULL,
                state TEXT NOT NULL,
                claimed_at TEXT NOT NULL,
                finished_at TEXT,
                PRIMARY KEY (instruction_id, attempt));
            """);
        // The outbox columns, added to a state directory of an older executor (its rows keep no outcome: nothing pending).
        var columns = new HashSet<string>(StringComparer.Ordinal);
        using (var info = connection.CreateCommand())
        {
            info.CommandText = "PRAGMA table_info(attempts)";
            using var reader = info.ExecuteReader();
            while (reader.Read())
            {
                columns.Add(reader.GetString(1));
            }
        }

        foreach (var (name, type) in new[] { ("outcome_type", "TEXT"), ("outcome_json", "TEXT"), ("outcome_seq", "INTEGER"), ("outcome_sent_at", "TEXT") })
        {
            if (!columns.Contains(name))
            {
                Execute(connection, $"ALTER TABLE attempts ADD COLUMN {name} {type}");
            }
        }
    }

    /// <summary>An outcome recorded and not sent yet.</summary>
    public sealed record PendingOutcome(Guid InstructionId, int Attempt, object Message);

    /// <summary>An attempt cut by a crash: claimed, never finished.</summary>
    public sealed record Unfinished(Guid InstructionId, int Attempt, string SyncGroup);

    /// <summary>True when this call claimed the attempt; false when it was claimed before (by anyone).</summary>
    public bool TryClaim(Guid instructionId, int attempt, string syncGroup, DateTimeOffset now)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = "INSERT OR IGNORE INTO attempts (instruction_id, attempt, sync_group, state, claimed_at) VALUES ($id, $attempt, $group, 'started', $now)";
        command.Parameters.AddWithValue("$id", instructionId.ToString("D"));
        command.Parameters.AddWithValue("$attempt", attempt);
        command.Parameters.AddWithValue("$group", syncGroup);
        command.Parameters.AddWithValue("$now", now.ToString("O"));
        return command.ExecuteNonQuery() == 1;
    }

    /// <summary>
    /// Records how the attempt ended (<c>completed</c>, <c>failed</c>, <c>expired</c>, <c>refused</c>) and, in the same
    /// statement, its outcome message (a <see cref="SyncInstructionCompleted"/> or <see cref="SyncInstructionFailed"/>,
    /// or null for none) as pending, after every outcome recorded before it.
    /// </summary>
    public void Finish(Guid instructionId, int attempt, string state, DateTimeOffset now, object? outcome = null)
    {
        var type = outcome switch
        {
            null => null,
            SyncInstructionCompleted => nameof(SyncInstructionCompleted),
            SyncInstructionFailed => nameof(SyncInstructionFailed),
            _ => throw new ArgumentException($"not an outcome: {outcome.GetType().Name}", nameof(outcome)),
        };
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            UPDATE attempts SET state = $state, finished_at = $now, outcome_type = $type, outcome_json = $json, outcome_sent_at = NULL,
                outcome_seq = CASE WHEN $json IS NULL THEN NULL ELSE (SELECT COALESCE(MAX(outcome_seq), 0) + 1 FROM attempts) END
            WHERE instruction_id = $id AND attempt = $attempt
            """;
        command.Parameters.AddWithValue("$id", instructionId.ToString("D"));
        command.Parameters.AddWithValue("$attempt", attempt);
        command.Parameters.AddWithValue("$state", state);
        command.Parameters.AddWithValue("$now", now.ToString("O"));
        command.Parameters.AddWithValue("$type", (object?)type ?? DBNull.Value);
        command.Parameters.AddWithValue("$json", outcome is null ? DBNull.Value : JsonSerializer.Serialize(outcome, outcome.GetType(), OutcomeOptions));
        command.ExecuteNonQuery();
    }

    /// <summary>The outcomes recorded and not sent yet, in finishing order.</summary>
    public IReadOnlyList<PendingOutcome> PendingOutcomes()
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT instruction_id, attempt, outcome_type, outcome_json FROM attempts WHERE outcome_json IS NOT NULL AND outcome_sent_at IS NULL ORDER BY outcome_seq";
        using var reader = command.ExecuteReader();
        var found = new List<PendingOutcome>();
        while (reader.Read())
        {
            var json = reader.GetString(3);
            object message = reader.GetString(2) switch
            {
                nameof(SyncInstructionCompleted) => JsonSerializer.Deserialize<SyncInstructionCompleted>(json, OutcomeOptions)!,
                nameof(SyncInstructionFailed) => JsonSerializer.Deserialize<SyncInstructionFailed>(json, OutcomeOptions)!,
                var other => throw new InvalidDataException($"attempts.db: unknown outcome type {other}"),
            };
            found.Add(new PendingOutcome(Guid.Parse(reader.GetString(0)), reader.GetInt32(1), message));
        }

        return found;
    }

    /// <summary>The outcome of the attempt was sent: no longer pending.</summary>
    public void MarkSent(Guid instructionId, int attempt, DateTimeOffset now)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = "UPDATE attempts SET outcome_sent_at = $now WHERE instruction_id = $id AND attempt = $attempt";
        command.Parameters.AddWithValue("$id", instructionId.ToString("D"));
        command.Parameters.AddWithValue("$attempt", attempt);
        command.Parameters.AddWithValue("$now", now.ToString("O"));
        command.ExecuteNonQuery();
    }

    /// <summary>The state of an attempt, or null when never claimed.</summary>
    public string? StateOf(Guid instructionId, int attempt)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT state FROM attempts WHERE instruction_id = $id AND attempt = $attempt";
        command.Parameters.AddWithValue("$id", instructionId.ToString("D"));
        command.Parameters.AddWithValue("$attempt", attempt);
        return command.ExecuteScalar() as string;
    }

    /// <summary>Attempts claimed but not finished, excluding those running in this process.</summary>
    public IReadOnlyList<Unfinished> UnfinishedAttempts()
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT instruction_id, attempt, sync_group FROM attempts WHERE state = 'started'";
        using var reader = command.ExecuteReader();
        var found = new List<Unfinished>();
        while (reader.Read())
        {
            found.Add(new Unfinished(Guid.Parse(reader.GetString(0)), reader.GetInt32(1), reader.GetString(2)));
        }

        return found;
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        return connection;
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
