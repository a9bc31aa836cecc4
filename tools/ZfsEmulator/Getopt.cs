namespace ZfsSync.ZfsEmulator;

/// <summary>A failed emulated command: <see cref="Exception.Message"/> is what it prints on stderr.</summary>
public sealed class ZfsException : Exception
{
    public ZfsException()
    {
    }

    public ZfsException(string message)
        : base(message)
    {
    }

    public ZfsException(string message, int exitCode)
        : base(message) => ExitCode = exitCode;

    public ZfsException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public int ExitCode { get; } = 1;
}

/// <summary>POSIX getopt as <c>zfs</c> uses it: clustered flags (<c>-nvP</c>), option arguments attached or separate, options end at the first operand.</summary>
public static class Getopt
{
    public static (List<(char Option, string? Argument)> Options, List<string> Operands) Parse(IReadOnlyList<string> args, int start, string spec)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(spec);
        var options = new List<(char, string?)>();
        var i = start;
        for (; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg == "--")
            {
                i++;
                break;
            }

            if (arg.Length < 2 || arg[0] != '-')
            {
                break;
            }

            for (var k = 1; k < arg.Length; k++)
            {
                var c = arg[k];
                var at = spec.IndexOf(c, StringComparison.Ordinal);
                if (at < 0 || c == ':')
                {
                    throw new ZfsException($"invalid option '{c}'\nusage: see zfs(8)", 2);
                }

                if (at + 1 < spec.Length && spec[at + 1] == ':')
                {
                    string value;
                    if (k + 1 < arg.Length)
                    {
                        value = arg[(k + 1)..];
                    }
                    else if (i + 1 < args.Count)
                    {
                        value = args[++i];
                    }
                    else
                    {
                        throw new ZfsException($"missing argument for '{c}' option\nusage: see zfs(8)", 2);
                    }

                    options.Add((c, value));
                    break;
                }

                options.Add((c, null));
            }
        }

        return (options, [.. args.Skip(i)]);
    }
}
