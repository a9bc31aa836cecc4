namespace ZfsSync.ZfsEmulator;

/// <summary>
/// ZFS's name rules (<c>entity_namecheck</c> and <c>zfs_validate_name</c>), with the reason text <c>zfs</c> prints after
/// "cannot create 'NAME': ". Returns null for a valid name.
/// </summary>
public static class ZfsNames
{
    public const int MaxLength = 255;

    public enum Kind
    {
        Dataset,
        Snapshot,
        Bookmark,
    }

    public static string? Check(string name, Kind kind, bool modifying = true)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (kind != Kind.Snapshot && name.Contains('@', StringComparison.Ordinal))
        {
            return "snapshot delimiter '@' is not expected here";
        }

        if (kind == Kind.Snapshot && !name.Contains('@', StringComparison.Ordinal))
        {
            return "missing '@' delimiter in snapshot name";
        }

        if (kind != Kind.Bookmark && name.Contains('#', StringComparison.Ordinal))
        {
            return "bookmark delimiter '#' is not expected here";
        }

        if (kind == Kind.Bookmark && !name.Contains('#', StringComparison.Ordinal))
        {
            return "missing '#' delimiter in bookmark name";
        }

        if (modifying && name.Contains('%', StringComparison.Ordinal))
        {
            return "invalid character % in name";
        }

        if (name.Length > MaxLength)
        {
            return "name is too long";
        }

        if (name.StartsWith('/'))
        {
            return "leading slash in name";
        }

        var delimiters = 0;
        var componentStart = 0;
        for (var i = 0; i <= name.Length; i++)
        {
            var end = i == name.Length;
            var c = end ? '\0' : name[i];
            if (end || c is '/' or '@' or '#')
            {
                var component = name[componentStart..i];
                if (component.Length == 0)
                {
                    return end && i > 0 && name[i - 1] == '/' ? "trailing slash in name" : "empty component or misplaced '@' or '#' delimiter in name";
                }

                if (component is "." or "..")
                {
                    return "self reference, '.' is found in name";
                }

                if (c is '@' or '#')
                {
                    if (++delimiters > 1)
                    {
                        return "multiple '@' and/or '#' delimiters in name";
                    }
                }
                else if (c == '/' && delimiters > 0)
                {
                    return "invalid character '/' in name";
                }

                componentStart = i + 1;
                continue;
            }

            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':' or ' '))
            {
                return $"invalid character '{c}' in name";
            }
        }

        var poolEnd = name.IndexOfAny(['/', '@', '#']);
        var pool = poolEnd < 0 ? name : name[..poolEnd];
        if (!char.IsAsciiLetter(pool[0]))
        {
            return "pool doesn't begin with a letter";
        }

        if (pool is "mirror" or "raidz" or "draid" or "spare" or "log" || pool.StartsWith("raidz", StringComparison.Ordinal) || pool.StartsWith("draid", StringComparison.Ordinal))
        {
            return "name is reserved";
        }

        if (pool.Length >= 2 && pool[0] == 'c' && char.IsAsciiDigit(pool[1]))
        {
            return "reserved disk name";
        }

        return null;
    }

    public static string? Parent(string dataset)
    {
        var slash = dataset.LastIndexOf('/');
        return slash < 0 ? null : dataset[..slash];
    }

    public static string Pool(string name)
    {
        var end = name.IndexOfAny(['/', '@', '#']);
        return end < 0 ? name : name[..end];
    }
}
