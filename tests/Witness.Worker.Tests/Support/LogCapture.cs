using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace ZfsSync.Witness.Worker.Tests.Support;

/// <summary>Keeps every formatted log line of a host, for tests that assert what was logged.</summary>
public sealed class LogCapture : ILoggerProvider
{
    public ConcurrentQueue<(LogLevel Level, string Category, string Message)> Lines { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public bool Contains(LogLevel level, string text) => Lines.Any(l => l.Level == level && l.Message.Contains(text, StringComparison.Ordinal));

    public void Dispose()
    {
    }

    private sealed class Logger(LogCapture capture, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                capture.Lines.Enqueue((logLevel, category, formatter(state, exception)));
            }
        }
    }
}
