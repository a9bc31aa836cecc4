using System.Text.Json;
using MassTransit.Serialization;
using Spectre.Console;

namespace ZfsSync.Cli;

/// <summary>
/// Writes a command's answer: JSON (<c>--json</c>: the contract's camelCase shapes, indented), Spectre.Console tables
/// and colour on a terminal, or plain aligned columns otherwise (pipes, files, scripts).
/// </summary>
public sealed class Output
{
    public static readonly JsonSerializerOptions JsonOptions = new(SystemTextJsonMessageSerializer.Options) { WriteIndented = true };
    private static readonly JsonSerializerOptions LineOptions = new(SystemTextJsonMessageSerializer.Options) { WriteIndented = false };

    private readonly CliEnvironment _environment;
    private readonly IAnsiConsole? _console;

    public Output(CliEnvironment environment, bool json)
    {
        ArgumentNullException.ThrowIfNull(environment);
        _environment = environment;
        Json = json;
        if (environment.Terminal && !json)
        {
            _console = AnsiConsole.Create(new AnsiConsoleSettings
            {
                Out = new AnsiConsoleOutput(environment.Output),
                Ansi = AnsiSupport.Yes,
                ColorSystem = ColorSystemSupport.Standard,
                Interactive = InteractionSupport.No,
            });
            if (environment.Output != Console.Out)
            {
                _console.Profile.Width = 200;
            }
        }
    }

    public bool Json { get; }

    public void WriteJson<T>(T value) => _environment.Output.WriteLine(JsonSerializer.Serialize(value, JsonOptions));

    /// <summary>One JSON object per line (<c>watch --json</c>).</summary>
    public void WriteJsonLine<T>(T value) => _environment.Output.WriteLine(JsonSerializer.Serialize(value, LineOptions));

    /// <summary>A line for the person, not for the pipe: on stderr.</summary>
    public void Notice(string text) => _environment.Error.WriteLine(text);

    public void Line(string text = "")
    {
        if (_console is not null)
        {
            _console.MarkupLine(Markup.Escape(text));
        }
        else
        {
            _environment.Output.WriteLine(text);
        }
    }

    /// <summary>A heading line: bold on a terminal.</summary>
    public void Heading(string text)
    {
        if (_console is not null)
        {
            _console.MarkupLine($"[bold]{Markup.Escape(text)}[/]");
        }
        else
        {
            _environment.Output.WriteLine(text);
        }
    }

    /// <summary>A table; cells that are a status word are coloured on a terminal.</summary>
    public void Table(IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows)
    {
        ArgumentNullException.ThrowIfNull(headers);
        var all = rows.ToList();
        if (_console is not null)
        {
            var table = new Table().Border(TableBorder.Rounded);
            foreach (var header in headers)
            {
                table.AddColumn(new TableColumn($"[bold]{Markup.Escape(header)}[/]"));
            }

            foreach (var row in all)
            {
                table.AddRow([.. row.Select(c => new Markup(Colour(c)))]);
            }

            _console.Write(table);
            return;
        }

        var widths = headers.Select((h, i) => Math.Max(h.Length, all.Count == 0 ? 0 : all.Max(r => i < r.Count ? r[i].Length : 0))).ToArray();
        _environment.Output.WriteLine(Join(headers, widths));
        foreach (var row in all)
        {
            _environment.Output.WriteLine(Join(row, widths));
        }
    }

    private static string Join(IReadOnlyList<string> cells, int[] widths) =>
        string.Join("  ", cells.Select((c, i) => i == cells.Count - 1 ? c : c.PadRight(widths[i]))).TrimEnd();

    private static string Colour(string cell)
    {
        var escaped = Markup.Escape(cell);
        return cell switch
        {
            "in-sync" or "online" or "resolved" or "accepted" => $"[green]{escaped}[/]",
            "out-of-sync" or "behind" or "syncing" or "late" or "waiting" or "cleared" => $"[yellow]{escaped}[/]",
            "waiting-for-window" => $"[blue]{escaped}[/]",
            "conflicted" or "blocked" or "offline" or "open" or "rejected" => $"[red]{escaped}[/]",
            _ => escaped,
        };
    }
}
