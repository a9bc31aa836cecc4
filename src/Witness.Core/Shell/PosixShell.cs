using System.Text;

namespace ZfsSync.Witness.Core.Shell;

/// <summary>
/// POSIX shell quoting. A word is quoted once for every shell it crosses: inside single quotes nothing is special
/// except the closing quote, which is written as <c>'\''</c>. Words made only of characters no shell treats
/// specially are left bare so that rendered commands stay readable.
/// </summary>
public static class PosixShell
{
    /// <summary>Quotes <paramref name="value"/> for one POSIX shell. NUL cannot be passed in an argv and is refused.</summary>
    public static string Quote(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.Contains('\0', StringComparison.Ordinal))
        {
            throw new UnsafeValueException("a value holds a NUL character, which no command line can carry");
        }

        if (value.Length > 0 && IsBare(value))
        {
            return value;
        }

        var sb = new StringBuilder(value.Length + 8).Append('\'');
        foreach (var c in value)
        {
            if (c == '\'')
            {
                sb.Append("'\\''");
            }
            else
            {
                sb.Append(c);
            }
        }

        return sb.Append('\'').ToString();
    }

    /// <summary>Always single-quotes, even a bare word (for tests of the quoting itself).</summary>
    public static string QuoteAlways(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.Contains('\0', StringComparison.Ordinal))
        {
            throw new UnsafeValueException("a value holds a NUL character, which no command line can carry");
        }

        return "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
    }

    /// <summary>A simple command: every word quoted for one shell, joined by spaces.</summary>
    public static string Command(IReadOnlyList<string> argv)
    {
        ArgumentNullException.ThrowIfNull(argv);
        if (argv.Count == 0)
        {
            throw new ArgumentException("a command needs at least one word", nameof(argv));
        }

        var sb = new StringBuilder();
        for (var i = 0; i < argv.Count; i++)
        {
            if (i > 0)
            {
                sb.Append(' ');
            }

            // The first word must not look like an assignment (a=b) or start with '~': quote it unless plainly bare.
            var word = argv[i];
            sb.Append(i == 0 && word.Contains('=', StringComparison.Ordinal) ? QuoteAlways(word) : Quote(word));
        }

        return sb.ToString();
    }

    /// <summary>
    /// A pipeline whose exit status is non-zero when any stage fails, in plain POSIX <c>sh</c> (dash has no
    /// <c>pipefail</c>): each stage writes its own status to descriptor 3, which a command substitution collects,
    /// while the last stage's output goes to the original standard output through descriptor 4. The stages run with
    /// 3 and 4 closed so that nothing they start can hold the substitution open. The pipeline succeeds only when every
    /// stage reported status 0. The whole pipeline is a subshell, so it can be joined with <c>&amp;&amp;</c>.
    /// </summary>
    public static string Pipeline(IReadOnlyList<string> stages)
    {
        ArgumentNullException.ThrowIfNull(stages);
        if (stages.Count == 0)
        {
            throw new ArgumentException("a pipeline needs at least one stage", nameof(stages));
        }

        if (stages.Count == 1)
        {
            return stages[0];
        }

        var sb = new StringBuilder("( exec 4>&1; s=$( { ");
        for (var i = 0; i < stages.Count; i++)
        {
            if (i > 0)
            {
                sb.Append(" | ");
            }

            sb.Append("{ ").Append(stages[i]).Append(" 3>&- 4>&-; echo $? >&3; }");
        }

        // Every stage must have reported, and reported 0: a stage that vanished without a status fails the pipeline too.
        sb.Append(" >&4; } 3>&1 ); n=0; for c in $s; do [ \"$c\" = 0 ] || exit 1; n=$((n+1)); done; [ $n = ")
            .Append(stages.Count.ToString(System.Globalization.CultureInfo.InvariantCulture))
            .Append(" ] )");
        return sb.ToString();
    }

    /// <summary>Steps joined so that the first failing step stops the rest.</summary>
    public static string Sequence(IReadOnlyList<string> steps)
    {
        ArgumentNullException.ThrowIfNull(steps);
        return string.Join(" && ", steps);
    }

    /// <summary>Characters that no POSIX shell gives a meaning inside a word (first-word rules aside).</summary>
    private static bool IsBare(string value)
    {
        if (value[0] is '~' or '#' or '=')
        {
            return false;
        }

        foreach (var c in value)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.' or '/' or ':' or ',' or '@' or '%' or '+' or '='))
            {
                return false;
            }
        }

        return true;
    }
}

/// <summary>A value that cannot be rendered safely into a command; the message says which and why.</summary>
public sealed class UnsafeValueException : Exception
{
    public UnsafeValueException()
    {
    }

    public UnsafeValueException(string message)
        : base(message)
    {
    }

    public UnsafeValueException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
