using System.Net.Sockets;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using ZfsSync.Witness.Worker.Hosting;

namespace ZfsSync.Witness.Worker.Tests.Hosting;

public class When_transient_faults_are_waited_out
{
    [Fact]
    public void Should_double_the_pauses_up_to_the_longest_and_spend_exactly_the_budget()
    {
        var options = new ResilienceOptions();

        var intervals = options.RetryIntervals();

        intervals[..4].ShouldBe([TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(400), TimeSpan.FromMilliseconds(800), TimeSpan.FromMilliseconds(1600)]);
        intervals.Max().ShouldBe(TimeSpan.FromSeconds(15));
        intervals.Aggregate(TimeSpan.Zero, (a, b) => a + b).ShouldBe(TimeSpan.FromMinutes(10));
    }

    [Fact]
    public void Should_spend_a_short_budget_exactly_too()
    {
        var intervals = new ResilienceOptions { TransientFaultBudget = TimeSpan.FromSeconds(20) }.RetryIntervals();

        intervals.Aggregate(TimeSpan.Zero, (a, b) => a + b).ShouldBe(TimeSpan.FromSeconds(20));
        intervals.ShouldAllBe(i => i > TimeSpan.Zero && i <= TimeSpan.FromSeconds(15));
    }

    public static TheoryData<string, Exception, bool> Faults() => new()
    {
        { "database unreachable", new NpgsqlException("Failed to connect to 127.0.0.1:5", new SocketException((int)SocketError.ConnectionRefused)), true },
        { "server shutting down", new PostgresException("terminating connection due to administrator command", "FATAL", "FATAL", "57P01"), true },
        { "server starting", new PostgresException("the database system is starting up", "FATAL", "FATAL", "57P03"), true },
        { "deadlock", new PostgresException("deadlock detected", "ERROR", "ERROR", "40P01"), true },
        { "connection lost in a save", new DbUpdateException("save failed", new NpgsqlException("Exception while reading from stream", new EndOfStreamException())), true },
        { "sqlite busy", new SqliteException("database is locked", 5), true },
        { "timeout", new TimeoutException("timed out"), true },
        { "unique key race", new PostgresException("duplicate key value violates unique constraint", "ERROR", "ERROR", "23505"), false },
        { "optimistic concurrency", new DbUpdateConcurrencyException("version changed"), false },
        { "unreadable body", new JsonException("bad"), false },
        { "a bug", new InvalidOperationException("Sequence contains no elements"), false },
        { "sqlite constraint", new SqliteException("UNIQUE constraint failed", 19), false },
    };

    [Theory]
    [MemberData(nameof(Faults))]
    public void Should_tell_transient_faults_from_the_rest(string fault, Exception exception, bool transient) =>
        ResilienceConfiguration.IsTransient(exception).ShouldBe(transient, fault);
}
