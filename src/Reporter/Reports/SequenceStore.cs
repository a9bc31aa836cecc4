using System.Globalization;
using System.Text;

namespace ZfsSync.Reporter.Reports;

/// <summary>
/// Hands out report sequence numbers <c>max(last + 1, now in ms)</c> and keeps the last one in a file, written
/// atomically (temporary file, flush to disk, rename), so sequences keep increasing across restarts and clock steps.
/// </summary>
public sealed class SequenceStore(string path)
{
    private readonly Lock _gate = new();
    private long? _last;

    public string Path { get; } = path;

    public long Next(DateTimeOffset now)
    {
        lock (_gate)
        {
            var last = _last ??= ReadLast();
            var next = Math.Max(last + 1, now.ToUnixTimeMilliseconds());
            Write(next);
            _last = next;
            return next;
        }
    }

    private long ReadLast()
    {
        if (!File.Exists(Path))
        {
            return 0;
        }

        var text = File.ReadAllText(Path).Trim();
        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new InvalidDataException($"the sequence file {Path} does not hold a number; fix or delete it");
    }

    private void Write(long value)
    {
        var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(Path))!;
        Directory.CreateDirectory(directory);
        var temporary = System.IO.Path.Combine(directory, $".{System.IO.Path.GetFileName(Path)}.{Environment.ProcessId}.tmp");
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            stream.Write(Encoding.ASCII.GetBytes(value.ToString(CultureInfo.InvariantCulture) + "\n"));
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, Path, overwrite: true);
    }
}
