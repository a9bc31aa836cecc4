using System.Text;
using System.Text.Json;

namespace ZfsSync.ZfsEmulator;

/// <summary>One snapshot a stream carries (a full stream when <see cref="FromGuid"/> is 0).</summary>
public sealed record StreamRecord
{
    public string Name { get; init; } = "";
    public ulong Guid { get; init; }
    public ulong FromGuid { get; init; }
    public ulong CreateTxg { get; init; }
    public long Creation { get; init; }
    public long Used { get; init; }
    public long Referenced { get; init; }

    /// <summary>The payload's full length.</summary>
    public long Length { get; init; }

    /// <summary>Where this payload starts (non-zero for a resumed send: the bytes the receiver already has).</summary>
    public long Offset { get; init; }
}

public sealed record StreamHeader
{
    public string Source { get; init; } = "";
    public StreamFlags Flags { get; init; } = new();
    public string Encryption { get; init; } = "off";
    public bool Resume { get; init; }
}

/// <summary>
/// The emulated send stream, readable so that <c>zfs send … | cat</c> says what it carries:
/// <code>
/// ZFSEMU-STREAM 1
/// {header JSON}
/// RECORD {record JSON}
/// &lt;Length - Offset payload bytes&gt;
/// END
/// </code>
/// one RECORD … END per snapshot. A receiver that reaches the end of its input inside a record has an incomplete stream.
/// </summary>
public static class SendStream
{
    public const string Magic = "ZFSEMU-STREAM 1";
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <summary>
    /// Writes the stream. With <paramref name="throttle"/>, the payload goes out at that many bytes per second (in
    /// tenths), and <paramref name="progress"/> is told the bytes written so far after each piece.
    /// </summary>
    public static void Write(Stream output, StreamHeader header, IReadOnlyList<StreamRecord> records, long? throttle = null, Action<long>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(output);
        WriteLine(output, Magic);
        WriteLine(output, JsonSerializer.Serialize(header, Json));
        var chunk = new byte[64 * 1024];
        Array.Fill(chunk, (byte)'z');
        var piece = throttle is { } rate ? (int)Math.Clamp(rate / 10, 1, chunk.Length) : chunk.Length;
        long written = 0;
        foreach (var record in records)
        {
            WriteLine(output, "RECORD " + JsonSerializer.Serialize(record, Json));
            var remaining = record.Length - record.Offset;
            while (remaining > 0)
            {
                var n = (int)Math.Min(remaining, piece);
                output.Write(chunk, 0, n);
                remaining -= n;
                if (throttle is not null)
                {
                    output.Flush();
                    written += n;
                    progress?.Invoke(written);
                    Thread.Sleep(100); // the throttle itself: a tenth of the rate per tenth of a second
                }
            }

            WriteLine(output, "END");
        }

        output.Flush();
    }

    /// <summary>What a receiver read: the header (null if even that was cut), the records, and how far the last one got.</summary>
    public sealed record Received(StreamHeader? Header, List<(StreamRecord Record, long BytesRead, bool Complete)> Records);

    public static Received Read(byte[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        var pos = 0;
        if (ReadLine(data, ref pos) != Magic || ReadLine(data, ref pos) is not { } headerLine)
        {
            return new Received(null, []);
        }

        var header = JsonSerializer.Deserialize<StreamHeader>(headerLine, Json);
        var records = new List<(StreamRecord, long, bool)>();
        while (pos < data.Length)
        {
            var line = ReadLine(data, ref pos);
            if (line is null || !line.StartsWith("RECORD ", StringComparison.Ordinal))
            {
                break;
            }

            var record = JsonSerializer.Deserialize<StreamRecord>(line["RECORD ".Length..], Json)!;
            var want = record.Length - record.Offset;
            var have = Math.Min(want, data.Length - pos);
            pos += (int)have;
            var complete = have == want && ReadLine(data, ref pos) == "END";
            records.Add((record, have, complete));
            if (!complete)
            {
                break;
            }
        }

        return new Received(header, records);
    }

    private static void WriteLine(Stream output, string line) => output.Write(Encoding.UTF8.GetBytes(line + "\n"));

    private static string? ReadLine(byte[] data, ref int pos)
    {
        var end = Array.IndexOf(data, (byte)'\n', pos);
        if (end < 0)
        {
            pos = data.Length;
            return null;
        }

        var line = Encoding.UTF8.GetString(data, pos, end - pos);
        pos = end + 1;
        return line;
    }
}
