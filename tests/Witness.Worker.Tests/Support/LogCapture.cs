using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace ZfsSync.Witness.Worker.Tests.Support;

/// <summary>Records every formatted log line of a host (add with <c>services.AddSingleton&lt;ILoggerProvider&gt;(capture)</c>).</summary>
public sealed class LogCapture : ILoggerProvider
{
    public ConcurrentQueue<(LogLevel Level, string Category, string Message)> Lines { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

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
