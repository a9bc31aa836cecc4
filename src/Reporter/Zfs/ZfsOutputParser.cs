using System.Globalization;

namespace ZfsSync.Reporter.Zfs;

/// <summary>
/// Parses the scripted (<c>-H -p</c>) output of <c>zfs list</c>, <c>zfs get</c>, <c>zpool list</c> and
/// <c>zfs version</c>. Fields are separated by a single TAB; names may contain spaces but never a TAB or a newline.
/// Anything that does not have the expected shape throws <see cref="ZfsOutputException"/> naming the line, so a
/// garbled output never turns into a partial inventory.
/// </summary>
public static class ZfsOutputParser
{
    private const int ListFieldCount = 7;
    private const int MaxQuotedLine = 200;

    /// <summary>Parses <c>zfs list -H -p -o name,type,guid,createtxg,creation,used,referenced</c>.</summary>
    public static List<ZfsListEntry> ParseList(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var entries = new List<ZfsListEntry>();
        var lineNumber = 0;
        foreach (var line in EnumerateLines(output))
        {
            lineNumber++;
            if (line.Length == 0)
            {
                continue;
            }

            var fields = line.Split('\t');
            if (fields.Length != ListFieldCount)
            {
                throw Bad(lineNumber, line, $"expected {ListFieldCount} TAB-separated fields, found {fields.Length}");
            }

            var name = fields[0];
            if (name.Length == 0 || name == "-")
            {
                throw Bad(lineNumber, line, "empty name");
            }

            var type = fields[1] switch
            {
                "filesystem" => ZfsObjectType.Filesystem,
                "volume" => ZfsObjectType.Volume,
                "snapshot" => ZfsObjectType.Snapshot,
                "bookmark" => ZfsObjectType.Bookmark,
                _ => throw Bad(lineNumber, line, $"unknown type '{fields[1]}'"),
            };

            var expectedSeparator = type switch
            {
                ZfsObjectType.Snapshot => '@',
                ZfsObjectType.Bookmark => '#',
                _ => '\0',
            };
            if (expectedSeparator == '\0' ? name.IndexOfAny(['@', '#']) >= 0 : name.IndexOf(expectedSeparator, StringComparison.Ordinal) <= 0)
            {
                throw Bad(lineNumber, line, $"name does not fit type {fields[1]}");
            }

            var entry = new ZfsListEntry(
                name,
                type,
                ParseUInt64(fields[2], lineNumber, line, "guid"),
                ParseUInt64(fields[3], lineNumber, line, "createtxg"),
                ParseEpoch(fields[4], lineNumber, line),
                ParseInt64(fields[5], lineNumber, line, "used"),
                ParseInt64(fields[6], lineNumber, line, "referenced"));

            if (type is ZfsObjectType.Snapshot or ZfsObjectType.Bookmark
                && (entry.Guid is null || entry.CreateTxg is null || entry.Creation is null))
            {
                throw Bad(lineNumber, line, "a snapshot or bookmark needs guid, createtxg and creation");
            }

            entries.Add(entry);
        }

        return entries;
    }

    /// <summary>
    /// Parses <c>zfs get -H -p -o name,property,value receive_resume_token,encryption,keystatus,written</c>.
    /// Properties other than these four are ignored; <c>-</c> means unset.
    /// </summary>
    public static Dictionary<string, ZfsDatasetProperties> ParseGet(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var result = new Dictionary<string, ZfsDatasetProperties>(StringComparer.Ordinal);
        var lineNumber = 0;
        foreach (var line in EnumerateLines(output))
        {
            lineNumber++;
            if (line.Length == 0)
            {
                continue;
            }

            var fields = line.Split('\t');
            if (fields.Length != 3)
            {
                throw Bad(lineNumber, line, $"expected 3 TAB-separated fields, found {fields.Length}");
            }

            var (name, property, raw) = (fields[0], fields[1], fields[2]);
            if (name.Length == 0)
            {
                throw Bad(lineNumber, line, "empty name");
            }

            var value = raw == "-" ? null : raw;
            var current = result.GetValueOrDefault(name) ?? new ZfsDatasetProperties();
            current = property switch
            {
                "receive_resume_token" => current with { ReceiveResumeToken = value },
                "encryption" => current with { Encryption = value },
                "keystatus" => current with { KeyStatus = value },
                "written" => current with { Written = ParseInt64(raw, lineNumber, line, "written") },
                _ => current,
            };
            result[name] = current;
        }

        return result;
    }

    /// <summary>Parses <c>zpool list -H -o name,health</c>.</summary>
    public static List<(string Name, string Health)> ParsePools(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var pools = new List<(string, string)>();
        var lineNumber = 0;
        foreach (var line in EnumerateLines(output))
        {
            lineNumber++;
            if (line.Length == 0)
            {
                continue;
            }

            var fields = line.Split('\t');
            if (fields.Length != 2 || fields[0].Length == 0 || fields[1].Length == 0)
            {
                throw Bad(lineNumber, line, "expected name<TAB>health");
            }

            pools.Add((fields[0], fields[1]));
        }

        return pools;
    }

    /// <summary>The first line of <c>zfs version</c> (<c>zfs-2.2.4-1</c>), or null when it printed nothing.</summary>
    public static string? ParseVersion(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        foreach (var line in EnumerateLines(output))
        {
            var trimmed = line.Trim();
            if (trimmed.Length > 0)
            {
                return trimmed.Length > 100 ? trimmed[..100] : trimmed;
            }
        }

        return null;
    }

    private static IEnumerable<string> EnumerateLines(string output)
    {
        var start = 0;
        while (start < output.Length)
        {
            var end = output.IndexOf('\n', start);
            if (end < 0)
            {
                end = output.Length;
            }

            var length = end - start;
            if (length > 0 && output[end - 1] == '\r')
            {
                length--;
            }

            yield return output.Substring(start, length);
            start = end + 1;
        }
    }

    private static ulong? ParseUInt64(string field, int lineNumber, string line, string what)
    {
        if (field == "-")
        {
            return null;
        }

        if (field.Length == 0 || !field.All(char.IsAsciiDigit)
            || !ulong.TryParse(field, NumberStyles.None, CultureInfo.InvariantCulture, out var value))
        {
            throw Bad(lineNumber, line, $"{what} '{Quote(field)}' is not an unsigned 64-bit number");
        }

        return value;
    }

    private static long? ParseInt64(string field, int lineNumber, string line, string what)
    {
        if (field == "-")
        {
            return null;
        }

        if (field.Length == 0 || !field.All(char.IsAsciiDigit)
            || !long.TryParse(field, NumberStyles.None, CultureInfo.InvariantCulture, out var value))
        {
            throw Bad(lineNumber, line, $"{what} '{Quote(field)}' is not a byte count (was -p given?)");
        }

        return value;
    }

    private static DateTimeOffset? ParseEpoch(string field, int lineNumber, string line)
    {
        var seconds = ParseInt64(field, lineNumber, line, "creation");
        if (seconds is null)
        {
            return null;
        }

        if (seconds > 253402300799L)
        {
            throw Bad(lineNumber, line, $"creation '{Quote(field)}' is out of range");
        }

        return DateTimeOffset.FromUnixTimeSeconds(seconds.Value);
    }

    private static string Quote(string text) => text.Length > 40 ? text[..40] + "…" : text;

    private static ZfsOutputException Bad(int lineNumber, string line, string problem)
    {
        var shown = line.Length > MaxQuotedLine ? line[..MaxQuotedLine] + "…" : line;
        shown = shown.Replace('\t', '→');
        return new ZfsOutputException($"line {lineNumber}: {problem}: {shown}");
    }
}
