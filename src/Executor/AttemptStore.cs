using Microsoft.Data.Sqlite;

namespace ZfsSync.Executor;

/// <summary>
/// De-duplication on (instruction id, attempt) in <c>attempts.db</c> (SQLite) under the state directory: an attempt
/// is claimed once, by one process, before it starts; a redelivery or a second executor of the same host sharing
/// the directory finds the claim and runs nothing. An attempt claimed but not finished when the executor starts
/// again was cut by a crash and is reported failed.
/// </summary>
public sealed class AttemptStore
{
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
    }

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

    /// <summary>Records how the attempt ended (<c>completed</c>, <c>failed</c>, <c>expired</c>, <c>refused</c>).</summary>
    public void Finish(Guid instructionId, int attempt, string state, DateTimeOffset now)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = "UPDATE attempts SET state = $state, finished_at = $now WHERE instruction_id = $id AND attempt = $attempt";
        command.Parameters.AddWithValue("$id", instructionId.ToString("D"));
        command.Parameters.AddWithValue("$attempt", attempt);
        command.Parameters.AddWithValue("$state", state);
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
