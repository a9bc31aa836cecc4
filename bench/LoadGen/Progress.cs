using System.Diagnostics;
using Spectre.Console;

namespace ZfsSync.LoadGen;

/// <summary>
/// The progress display: on a terminal a live table (Spectre.Console) of the current stage's counters and the last
/// lines; otherwise plain lines, the counters at most every five seconds.
/// </summary>
public sealed class Progress : IAsyncDisposable, IDisposable
{
    private readonly bool _interactive;
    private readonly Lock _lock = new();
    private readonly List<string> _lines = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _live = Task.CompletedTask;
    private readonly Stopwatch _sincePlain = new();
    private string _title = "starting";
    private IReadOnlyList<(string Name, string Value)> _counters = [];

    public Progress(bool interactive)
    {
        _interactive = interactive;
        if (interactive)
        {
            _live = Task.Run(LiveAsync);
        }
    }

    public static bool IsTerminal => !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;

    public void Line(string line)
    {
        if (_interactive)
        {
            lock (_lock)
            {
                _lines.Add(line);
            }
        }
        else
        {
            Console.WriteLine(line);
        }
    }

    public void Update(string consumer, string stage, IReadOnlyList<(string Name, string Value)> counters)
    {
        lock (_lock)
        {
            _title = $"{consumer}: {stage}";
            _counters = counters;
        }

        if (!_interactive && (!_sincePlain.IsRunning || _sincePlain.Elapsed >= TimeSpan.FromSeconds(5) || stage.EndsWith("done", StringComparison.Ordinal)))
        {
            _sincePlain.Restart();
            Console.WriteLine($"{consumer} {stage}: " + string.Join("; ", counters.Select(c => $"{c.Name} {c.Value}")));
        }
    }

    private async Task LiveAsync()
    {
        var table = new Table().AddColumn("figure").AddColumn("value");
        await AnsiConsole.Live(table).StartAsync(async context =>
        {
            while (true)
            {
                lock (_lock)
                {
                    table.Rows.Clear();
                    table.Title = new TableTitle(Markup.Escape(_title));
                    foreach (var (name, value) in _counters)
                    {
                        table.AddRow(Markup.Escape(name), Markup.Escape(value));
                    }

                    foreach (var line in _lines.TakeLast(8))
                    {
                        table.AddRow(new Text(""), new Text(line));
                    }
                }

                context.Refresh();
                if (_stop.IsCancellationRequested)
                {
                    return;
                }

                try
                {
                    await Task.Delay(500, _stop.Token); // the display's refresh rate
                }
                catch (OperationCanceledException)
                {
                }
            }
        });
    }

    public void Dispose() => _stop.Dispose();

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }

        await _stop.CancelAsync();
        await _live;
    }
}
