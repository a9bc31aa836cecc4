using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace ZfsSync.Witness.Core.Names;

/// <summary>What a ZFS name denotes: a dataset (filesystem or volume), a snapshot (<c>@</c>) or a bookmark (<c>#</c>).</summary>
public enum ZfsNameKind
{
    Dataset,
    Snapshot,
    Bookmark,
}

/// <summary>
/// A validated ZFS name. The rules are OpenZFS's (<c>zfs_namecheck.c</c>, <c>zpool_name_valid</c>): components of
/// <c>A-Za-z0-9</c>, <c>-_.:</c> and space, separated by <c>/</c>; no empty, <c>.</c> or <c>..</c> component; at most
/// one <c>@</c> or <c>#</c>, with no <c>/</c> after it; fewer than 256 characters in all; a pool name that starts with
/// a letter and is not a reserved vdev word. The <c>%</c> that ZFS allows internally for temporary clones is refused:
/// it never names anything a user can send or receive.
/// </summary>
public sealed record ZfsName
{
    /// <summary>ZFS_MAX_DATASET_NAME_LEN is 256 including the terminating NUL.</summary>
    public const int MaxLength = 255;

    private static readonly string[] ReservedPoolNames = ["mirror", "raidz", "draid", "spare", "log"];

    private ZfsName(string full, string dataset, string? shortName, ZfsNameKind kind)
    {
        Full = full;
        Dataset = dataset;
        ShortName = shortName;
        Kind = kind;
    }

    /// <summary>The whole name as given, e.g. <c>tank/data@daily-1</c>.</summary>
    public string Full { get; }

    /// <summary>The dataset part, e.g. <c>tank/data</c>.</summary>
    public string Dataset { get; }

    /// <summary>The part after <c>@</c> or <c>#</c>, or null for a dataset.</summary>
    public string? ShortName { get; }

    public ZfsNameKind Kind { get; }

    /// <summary>The pool: the first component.</summary>
    public string Pool => Dataset.Split('/')[0];

    /// <summary>The parent dataset, or null for a pool's root dataset.</summary>
    public string? Parent => Dataset.LastIndexOf('/') is var i and > 0 ? Dataset[..i] : null;

    public override string ToString() => Full;

    /// <summary>Parses any ZFS name (dataset, snapshot or bookmark).</summary>
    public static ZfsName Parse(string name) =>
        TryParse(name, out var parsed, out var error) ? parsed : throw new FormatException(error);

    /// <summary>Parses a name that must be of <paramref name="expected"/> kind.</summary>
    public static ZfsName Parse(string name, ZfsNameKind expected) =>
        TryParse(name, expected, out var parsed, out var error) ? parsed : throw new FormatException(error);

    public static bool TryParse(string? name, ZfsNameKind expected, [NotNullWhen(true)] out ZfsName? parsed, [NotNullWhen(false)] out string? error)
    {
        if (!TryParse(name, out parsed, out error))
        {
            return false;
        }

        if (parsed.Kind != expected)
        {
            error = $"{Quote(parsed.Full)} is a {Describe(parsed.Kind)} name, expected a {Describe(expected)} name";
            parsed = null;
            return false;
        }

        return true;
    }

    public static bool TryParse(string? name, [NotNullWhen(true)] out ZfsName? parsed, [NotNullWhen(false)] out string? error)
    {
        parsed = null;
        error = Check(name, out var delimiterAt);
        if (error is not null)
        {
            return false;
        }

        var full = name!;
        if (delimiterAt < 0)
        {
            parsed = new ZfsName(full, full, null, ZfsNameKind.Dataset);
        }
        else
        {
            var kind = full[delimiterAt] == '@' ? ZfsNameKind.Snapshot : ZfsNameKind.Bookmark;
            parsed = new ZfsName(full, full[..delimiterAt], full[(delimiterAt + 1)..], kind);
        }

        return true;
    }

    /// <summary>Checks a short snapshot or bookmark name (the part after <c>@</c>/<c>#</c>) on its own.</summary>
    public static string? CheckShortName(string? shortName, ZfsNameKind kind)
    {
        if (kind == ZfsNameKind.Dataset)
        {
            throw new ArgumentOutOfRangeException(nameof(kind), "a short name belongs to a snapshot or a bookmark");
        }

        if (string.IsNullOrEmpty(shortName))
        {
            return $"the {Describe(kind)} name is empty";
        }

        if (shortName.Length > MaxLength - 2)
        {
            return $"the {Describe(kind)} name {Quote(shortName)} is {shortName.Length} characters long; ZFS allows at most {MaxLength - 2} after a one-character dataset";
        }

        for (var i = 0; i < shortName.Length; i++)
        {
            if (!IsValidChar(shortName[i]))
            {
                return $"invalid character {DescribeChar(shortName[i])} at position {i + 1} of the {Describe(kind)} name {Quote(shortName)}";
            }
        }

        return IsSelfOrParent(shortName) ? $"the {Describe(kind)} name {Quote(shortName)} is a self or parent reference" : null;
    }

    /// <summary>Null when <paramref name="name"/> is a valid ZFS name; otherwise what is wrong and where.</summary>
    private static string? Check(string? name, out int delimiterAt)
    {
        delimiterAt = -1;
        if (string.IsNullOrEmpty(name))
        {
            return "the name is empty";
        }

        if (name.Length > MaxLength)
        {
            return $"the name is {name.Length} characters long; ZFS allows at most {MaxLength}: {Quote(name[..40])}…";
        }

        if (name[0] == '/')
        {
            return $"{Quote(name)} starts with '/'; ZFS names start with the pool name";
        }

        var componentStart = 0;
        for (var i = 0; i <= name.Length; i++)
        {
            var c = i < name.Length ? name[i] : '\0';
            var atEnd = i == name.Length;
            if (atEnd || c == '/' || c == '@' || c == '#')
            {
                if (!atEnd && (c == '@' || c == '#'))
                {
                    if (delimiterAt >= 0)
                    {
                        return $"{Quote(name)} has a second '{c}' at position {i + 1}; a name holds at most one '@' or '#'";
                    }
                }

                if (!atEnd && c == '/' && delimiterAt >= 0)
                {
                    return $"{Quote(name)} has a '/' at position {i + 1} after the '{name[delimiterAt]}'";
                }

                var component = name[componentStart..i];
                var what = delimiterAt >= 0 ? (name[delimiterAt] == '@' ? "snapshot name" : "bookmark name") : "component";
                if (component.Length == 0)
                {
                    return atEnd && i > 0 && name[i - 1] == '/'
                        ? $"{Quote(name)} ends with '/'"
                        : $"{Quote(name)} has an empty {what} at position {componentStart + 1}";
                }

                if (IsSelfOrParent(component))
                {
                    return $"{Quote(name)} has the {what} {Quote(component)} at position {componentStart + 1}, a self or parent reference";
                }

                if (componentStart == 0)
                {
                    var poolError = CheckPool(component, name);
                    if (poolError is not null)
                    {
                        return poolError;
                    }
                }

                if (!atEnd && (c == '@' || c == '#'))
                {
                    delimiterAt = i;
                }

                componentStart = i + 1;
                continue;
            }

            if (!IsValidChar(c))
            {
                return $"invalid character {DescribeChar(c)} at position {i + 1} of {Quote(name)}; ZFS names hold letters, digits, space and '-_.:' only";
            }
        }

        return null;
    }

    private static string? CheckPool(string pool, string name)
    {
        if (!char.IsAsciiLetter(pool[0]))
        {
            return $"the pool name {Quote(pool)} in {Quote(name)} must start with a letter";
        }

        foreach (var reserved in ReservedPoolNames)
        {
            if (pool == reserved)
            {
                return $"the pool name {Quote(pool)} in {Quote(name)} is reserved by ZFS";
            }
        }

        return null;
    }

    private static bool IsSelfOrParent(string component) => component is "." or "..";

    /// <summary>OpenZFS <c>valid_char</c>: ASCII letters and digits, <c>-_.:</c> and space.</summary>
    public static bool IsValidChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':' or ' ';

    private static string Describe(ZfsNameKind kind) => kind switch
    {
        ZfsNameKind.Dataset => "dataset",
        ZfsNameKind.Snapshot => "snapshot",
        _ => "bookmark",
    };

    /// <summary>A character as a reader can see it, even a control or non-ASCII one.</summary>
    public static string DescribeChar(char c) =>
        c is >= ' ' and < (char)0x7F ? $"'{c}'" : $"U+{((int)c).ToString("X4", CultureInfo.InvariantCulture)}";

    /// <summary>Quotes a (possibly hostile) value for an error message: control and non-ASCII characters escaped.</summary>
    public static string Quote(string value)
    {
        var sb = new StringBuilder(value.Length + 2).Append('"');
        foreach (var c in value)
        {
            if (c is >= ' ' and < (char)0x7F and not '"' and not '\\')
            {
                sb.Append(c);
            }
            else
            {
                sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            }
        }

        return sb.Append('"').ToString();
    }
}
