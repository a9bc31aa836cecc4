using Microsoft.Extensions.Configuration;
using ZfsSync.Client;

namespace ZfsSync.Cli;

/// <summary>What the CLI runs with, apart from its arguments: environment variables, standard input, whether stdout is a terminal, the home directory.</summary>
public sealed record CliEnvironment
{
    public IReadOnlyDictionary<string, string> Variables { get; init; } = new Dictionary<string, string>();
    public TextReader Input { get; init; } = TextReader.Null;
    public TextWriter Output { get; init; } = TextWriter.Null;
    public TextWriter Error { get; init; } = TextWriter.Null;

    /// <summary>Stdout is a terminal: tables and colour; otherwise plain text.</summary>
    public bool Terminal { get; init; }

    /// <summary>Stops <c>watch</c> (Ctrl-C).</summary>
    public CancellationToken Cancellation { get; init; }

    public static CliEnvironment FromProcess(CancellationToken cancellation) => new()
    {
        Variables = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .ToDictionary(e => (string)e.Key, e => (string?)e.Value ?? "", StringComparer.Ordinal),
        Input = Console.In,
        Output = Console.Out,
        Error = Console.Error,
        Terminal = !Console.IsOutputRedirected && !Console.IsErrorRedirected && Environment.GetEnvironmentVariable("TERM") is not (null or "dumb"),
        Cancellation = cancellation,
    };
}

/// <summary>A failure that ends the command with <see cref="ExitCode"/> and one line on stderr.</summary>
public sealed class CliException(int exitCode, string message) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>The exit codes (docs/CLI.md).</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    public const int OutOfSync = 1;
    public const int Usage = 2;
    public const int Conflicts = 3;
    public const int Unreachable = 4;
    public const int Rejected = 5;
}

/// <summary>Flags that override the configuration file and environment.</summary>
public sealed record ConnectionFlags(string? ConfigFile, string? Broker, string? User, string? WitnessUser, bool PasswordStdin, double? TimeoutSeconds);

/// <summary>
/// The broker connection, from (lowest first) <c>~/.config/zfssync/cli.yaml</c> or the file named by
/// <c>ZFS_SYNC_CONFIG</c> or <c>--config</c>, then <c>ZFS_SYNC_RabbitMq__*</c> environment variables, then flags. The
/// password comes only from <c>RabbitMq:PasswordFile</c> (a file nobody but its owner may read), the environment
/// (<c>ZFS_SYNC_RabbitMq__Password</c>) or <c>--password-stdin</c>; never from a flag, and a configuration file that
/// holds one must be private too.
/// </summary>
public static class CliSettings
{
    public const string ConfigVariable = "ZFS_SYNC_CONFIG";
    private const string Prefix = "ZFS_SYNC_";

    public static BrokerConnectionOptions Load(ConnectionFlags flags, CliEnvironment environment)
    {
        ArgumentNullException.ThrowIfNull(flags);
        ArgumentNullException.ThrowIfNull(environment);
        var file = flags.ConfigFile ?? environment.Variables.GetValueOrDefault(ConfigVariable);
        var explicitFile = !string.IsNullOrEmpty(file);
        if (!explicitFile)
        {
            var home = environment.Variables.GetValueOrDefault("XDG_CONFIG_HOME") is { Length: > 0 } xdg
                ? xdg
                : Path.Combine(environment.Variables.GetValueOrDefault("HOME") ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config");
            file = Path.Combine(home, "zfssync", "cli.yaml");
        }

        var builder = new ConfigurationBuilder();
        if (File.Exists(file))
        {
            builder.AddYamlFile(Path.GetFullPath(file), optional: false, reloadOnChange: false);
        }
        else if (explicitFile)
        {
            throw new CliException(ExitCodes.Usage, $"the configuration file {file} does not exist");
        }

        builder.AddInMemoryCollection(environment.Variables
            .Where(v => v.Key.StartsWith(Prefix, StringComparison.Ordinal) && v.Key != ConfigVariable)
            .Select(v => new KeyValuePair<string, string?>(v.Key[Prefix.Length..].Replace("__", ":", StringComparison.Ordinal), v.Value)));
        IConfigurationRoot configuration;
        try
        {
            configuration = builder.Build();
        }
        catch (Exception e) when (e is FormatException or InvalidDataException or YamlDotNet.Core.YamlException)
        {
            throw new CliException(ExitCodes.Usage, $"the configuration file {file} cannot be read: {e.Message}");
        }

        var options = new BrokerConnectionOptions();
        try
        {
            configuration.GetSection(BrokerConnectionOptions.SectionName).Bind(options);
        }
        catch (InvalidOperationException e)
        {
            throw new CliException(ExitCodes.Usage, $"{file}: {e.Message}");
        }

        var fileHoldsPassword = File.Exists(file) && !string.IsNullOrEmpty(new ConfigurationBuilder().AddYamlFile(Path.GetFullPath(file)).Build()["RabbitMq:Password"]);
        if (fileHoldsPassword)
        {
            CheckPrivate(file!, "the configuration file holds RabbitMq:Password, so it");
        }

        options.Uri = flags.Broker ?? options.Uri;
        options.User = flags.User ?? options.User;
        options.WitnessUser = flags.WitnessUser ?? options.WitnessUser;
        if (flags.TimeoutSeconds is { } seconds)
        {
            if (seconds is <= 0 or > 600)
            {
                throw new CliException(ExitCodes.Usage, "--timeout must be between 0 and 600 seconds");
            }

            options.RequestTimeout = TimeSpan.FromSeconds(seconds);
            options.SendTimeout = TimeSpan.FromSeconds(seconds);
        }

        if (flags.PasswordStdin)
        {
            options.Password = environment.Input.ReadLine()?.TrimEnd('\r', '\n');
            if (string.IsNullOrEmpty(options.Password))
            {
                throw new CliException(ExitCodes.Usage, "--password-stdin: standard input held no password");
            }
        }
        else if (string.IsNullOrEmpty(options.Password) && !string.IsNullOrEmpty(options.PasswordFile))
        {
            CheckPrivate(options.PasswordFile, "RabbitMq:PasswordFile");
        }

        var errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new CliException(ExitCodes.Usage, $"bad configuration ({(File.Exists(file) ? file : "no configuration file")}, ZFS_SYNC_ environment, flags): {string.Join("; ", errors)}");
        }

        return options;
    }

    /// <summary>A secret file must be readable by its owner only (no group or other permission bits).</summary>
    private static void CheckPrivate(string path, string what)
    {
        if (OperatingSystem.IsWindows() || !File.Exists(path))
        {
            return;
        }

        var mode = File.GetUnixFileMode(path);
        const UnixFileMode open = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
            | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
        if ((mode & open) != 0)
        {
            throw new CliException(ExitCodes.Usage, $"{what} {path} may be read by others (mode {Convert.ToString((int)mode, 8)}); chmod 600 it");
        }
    }
}
