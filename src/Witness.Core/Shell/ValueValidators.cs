using System.Globalization;
using ZfsSync.Witness.Core.Names;

namespace ZfsSync.Witness.Core.Shell;

/// <summary>
/// One validator per kind of value that reaches a command line. Each returns null when the value is acceptable,
/// otherwise a sentence that names the value (escaped) and what is wrong with it. Quoting happens afterwards, in
/// <see cref="PosixShell"/>; validation narrows what can reach it, quoting makes what remains inert.
/// </summary>
public static class ValueValidators
{
    public const int MaxPropertyValueLength = 8192;

    /// <summary>A ZFS dataset name (no <c>@</c> or <c>#</c>), by OpenZFS's rules.</summary>
    public static string? DatasetName(string? value) =>
        ZfsName.TryParse(value, ZfsNameKind.Dataset, out _, out var error) ? null : error;

    /// <summary>A full snapshot name <c>dataset@name</c>.</summary>
    public static string? SnapshotName(string? value) =>
        ZfsName.TryParse(value, ZfsNameKind.Snapshot, out _, out var error) ? null : error;

    /// <summary>A full bookmark name <c>dataset#name</c>.</summary>
    public static string? BookmarkName(string? value) =>
        ZfsName.TryParse(value, ZfsNameKind.Bookmark, out _, out var error) ? null : error;

    /// <summary>A DNS name, an IPv4 address or a bare IPv6 address; never starting with '-' (ssh would read an option).</summary>
    public static string? HostName(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return "the ssh host is empty";
        }

        if (value.Length > 253)
        {
            return $"the ssh host {ZfsName.Quote(value[..40])}… is longer than 253 characters";
        }

        if (value[0] is '-' or '.')
        {
            return $"the ssh host {ZfsName.Quote(value)} starts with {ZfsName.DescribeChar(value[0])}";
        }

        foreach (var c in value)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or ':' or '_'))
            {
                return $"the ssh host {ZfsName.Quote(value)} holds {ZfsName.DescribeChar(c)}; a host is a DNS name or an IP address";
            }
        }

        return null;
    }

    /// <summary>A POSIX login name: letters, digits, '.', '_' and '-', not starting with '-'.</summary>
    public static string? SshUser(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return "the ssh user is empty";
        }

        if (value.Length > 32)
        {
            return $"the ssh user {ZfsName.Quote(value)} is longer than 32 characters";
        }

        if (value[0] == '-')
        {
            return $"the ssh user {ZfsName.Quote(value)} starts with '-'";
        }

        foreach (var c in value)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
            {
                return $"the ssh user {ZfsName.Quote(value)} holds {ZfsName.DescribeChar(c)}; a user name holds letters, digits and '._-'";
            }
        }

        return null;
    }

    public static string? Port(int? value) =>
        value is null or (>= 1 and <= 65535) ? null : $"the ssh port {value.Value.ToString(CultureInfo.InvariantCulture)} is outside 1-65535";

    /// <summary>
    /// A file path such as an ssh identity file: absolute, without control characters. Anything else (spaces,
    /// quotes, '$', backticks, non-ASCII) is allowed: quoting carries it unchanged.
    /// </summary>
    public static string? FilePath(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return "the file path is empty";
        }

        if (value[0] != '/')
        {
            return $"the file path {ZfsName.Quote(value)} is not absolute";
        }

        if (value.Length > 4096)
        {
            return $"the file path {ZfsName.Quote(value[..40])}… is longer than 4096 characters";
        }

        foreach (var c in value)
        {
            if (char.IsControl(c))
            {
                return $"the file path {ZfsName.Quote(value)} holds the control character {ZfsName.DescribeChar(c)}";
            }
        }

        return null;
    }

    /// <summary>
    /// A program: a bare name looked up in PATH or an absolute path, of letters, digits and '._+-/' only, not
    /// starting with '-'.
    /// </summary>
    public static string? ToolPath(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return "the tool path is empty";
        }

        if (value[0] == '-')
        {
            return $"the tool path {ZfsName.Quote(value)} starts with '-'";
        }

        if (value.Length > 1024)
        {
            return "the tool path is longer than 1024 characters";
        }

        foreach (var c in value)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '+' or '-' or '/'))
            {
                return $"the tool path {ZfsName.Quote(value)} holds {ZfsName.DescribeChar(c)}; a tool path holds letters, digits and '._+-/'";
            }
        }

        if (value.Contains('/', StringComparison.Ordinal) && value[0] != '/')
        {
            return $"the tool path {ZfsName.Quote(value)} is relative; give a bare name or an absolute path";
        }

        return null;
    }

    /// <summary>A native ZFS property (<c>readonly</c>) or a user property (<c>module:name</c>).</summary>
    public static string? PropertyName(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return "the property name is empty";
        }

        if (value.Length > 256)
        {
            return $"the property name {ZfsName.Quote(value[..40])}… is longer than 256 characters";
        }

        if (!char.IsAsciiLetterLower(value[0]))
        {
            return $"the property name {ZfsName.Quote(value)} must start with a lowercase letter";
        }

        var user = value.Contains(':', StringComparison.Ordinal);
        foreach (var c in value)
        {
            var ok = char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_' || (user && c is ':' or '.' or '-' or '+');
            if (!ok)
            {
                return $"the property name {ZfsName.Quote(value)} holds {ZfsName.DescribeChar(c)}";
            }
        }

        return null;
    }

    /// <summary>A property value: anything printable up to ZFS's 8192 bytes; control characters are refused.</summary>
    public static string? PropertyValue(string? value)
    {
        if (value is null)
        {
            return "the property value is missing";
        }

        if (value.Length > MaxPropertyValueLength)
        {
            return $"the property value {ZfsName.Quote(value[..40])}… is longer than {MaxPropertyValueLength} characters";
        }

        foreach (var c in value)
        {
            if (char.IsControl(c))
            {
                return $"the property value {ZfsName.Quote(value)} holds the control character {ZfsName.DescribeChar(c)}";
            }
        }

        return null;
    }

    /// <summary>An mbuffer memory size such as <c>128M</c> or <c>1G</c>.</summary>
    public static string? BufferSize(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return "the buffer size is empty";
        }

        var digits = value[^1] is 'k' or 'K' or 'M' or 'G' ? value[..^1] : value;
        if (digits.Length is 0 or > 12 || digits[0] == '0' || !digits.All(char.IsAsciiDigit))
        {
            return $"the buffer size {ZfsName.Quote(value)} is not a number with an optional k, M or G suffix";
        }

        return null;
    }

    /// <summary>The largest bandwidth limit accepted: 1 TiB a second.</summary>
    public const long MaxBandwidthBytesPerSecond = 1L << 40;

    /// <summary>
    /// A bandwidth limit in bytes a second: a number with an optional <c>k</c>/<c>K</c>, <c>M</c> or <c>G</c> suffix
    /// (powers of 1024), such as <c>500k</c> or <c>20M</c>, at most 1 TiB a second.
    /// </summary>
    public static string? BandwidthLimit(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return "the bandwidth limit is empty";
        }

        var digits = value[^1] is 'k' or 'K' or 'M' or 'G' ? value[..^1] : value;
        if (digits.Length is 0 or > 12 || digits[0] == '0' || !digits.All(char.IsAsciiDigit))
        {
            return $"the bandwidth limit {ZfsName.Quote(value)} is not a number of bytes a second with an optional k, M or G suffix (such as 20M)";
        }

        var bytes = (decimal)long.Parse(digits, NumberStyles.None, CultureInfo.InvariantCulture) * Multiplier(value[^1]);
        return bytes > MaxBandwidthBytesPerSecond ? $"the bandwidth limit {ZfsName.Quote(value)} is above 1 TiB a second" : null;
    }

    /// <summary>A valid <see cref="BandwidthLimit"/> in bytes a second (what <c>mbuffer -r</c> and <c>pv -L</c> are given).</summary>
    public static long BandwidthBytesPerSecond(string value)
    {
        Require(BandwidthLimit(value));
        var digits = char.IsAsciiDigit(value[^1]) ? value : value[..^1];
        return long.Parse(digits, NumberStyles.None, CultureInfo.InvariantCulture) * Multiplier(value[^1]);
    }

    private static long Multiplier(char suffix) => suffix switch
    {
        'k' or 'K' => 1L << 10,
        'M' => 1L << 20,
        'G' => 1L << 30,
        _ => 1,
    };

    /// <summary>A host id as docs/CONTRACT.md defines it: <c>[a-z0-9][a-z0-9._-]{0,62}</c>.</summary>
    public static string? HostId(string? value)
    {
        if (string.IsNullOrEmpty(value) || value.Length > 63 || !(char.IsAsciiLetterLower(value[0]) || char.IsAsciiDigit(value[0])))
        {
            return $"the host id {ZfsName.Quote(value ?? "")} is not of the form [a-z0-9][a-z0-9._-]{{0,62}}";
        }

        foreach (var c in value)
        {
            if (!(char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '.' or '_' or '-'))
            {
                return $"the host id {ZfsName.Quote(value)} holds {ZfsName.DescribeChar(c)}";
            }
        }

        return null;
    }

    /// <summary>A receive resume token: <c>version-checksum-length-hex</c>, hex digits only.</summary>
    public static string? ResumeToken(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return "the resume token is empty";
        }

        var parts = value.Split('-');
        if (parts.Length != 4 || parts.Any(p => p.Length == 0 || !p.All(char.IsAsciiHexDigit)))
        {
            return "the resume token is not of the form version-checksum-length-hex";
        }

        return null;
    }

    /// <summary>Throws <see cref="UnsafeValueException"/> when <paramref name="error"/> is not null.</summary>
    public static void Require(string? error)
    {
        if (error is not null)
        {
            throw new UnsafeValueException(error);
        }
    }
}
