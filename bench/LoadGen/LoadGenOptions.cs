using System.Globalization;

namespace ZfsSync.LoadGen;

/// <summary>How hosts report: one impersonating connection setting each host's <c>user-id</c> (with <c>ReportsAs</c>), or one reporter user for all (no <c>ReportsAs</c>).</summary>
public enum ReportingMode
{
    ReportsAs,
    Shared,
}

/// <summary>The load generator's options (command line; the broker and database from the environment by default).</summary>
public sealed record LoadGenOptions
{
    public int Hosts { get; init; } = 10;

    /// <summary>Sync groups of two (a source and a target); default hosts / 2. Hosts beyond 2 × groups report but belong to no group.</summary>
    public int Groups { get; init; } = -1;

    public int Datasets { get; init; } = 4;
    public int Snapshots { get; init; } = 20;
    /// <summary>The steady load in all: half against the witness, half against the bare consumer (all of it with <see cref="SkipBare"/>).</summary>
    public int Seconds { get; init; } = 30;

    public double SteadySecondsPerConsumer => SkipBare ? Seconds : Seconds / 2.0;
    public double HeartbeatInterval { get; init; } = 5;
    public double ReportInterval { get; init; } = 15;

    /// <summary>Per minute, this percentage of the source datasets gets a new snapshot (and its host reports at once).</summary>
    public double NewSnapshotPercent { get; init; } = 100;

    /// <summary>Heartbeats published as fast as possible to measure the consumer's capacity.</summary>
    public int HeartbeatBurst { get; init; } = -1;

    /// <summary>After the load stops: how long the witness may take to answer every outstanding round trip.</summary>
    public int DrainSeconds { get; init; } = 60;

    public ReportingMode Reporting { get; init; } = ReportingMode.ReportsAs;
    public bool SkipBare { get; init; }

    /// <summary>Leave out stage 6: stopping the witness with SIGTERM and starting it again.</summary>
    public bool SkipRestart { get; init; }
    public bool Keep { get; init; }
    public string? WitnessDll { get; init; }
    public string? BrokerUri { get; init; }
    public string? ManagementUri { get; init; }
    public string? Postgres { get; init; }

    public int EffectiveGroups => Groups < 0 ? Hosts / 2 : Groups;
    public int EffectiveBurst => HeartbeatBurst < 0 ? Math.Max(1000, Hosts * 10) : HeartbeatBurst;

    public const string BrokerVariable = "ZFS_SYNC_TEST_RABBITMQ_URI";
    public const string ManagementVariable = "ZFS_SYNC_TEST_RABBITMQ_MANAGEMENT_URI";
    public const string PostgresVariable = "ZFS_SYNC_TEST_POSTGRES";

    public static string Help => $"""
        ZfsSync.LoadGen: a simulated fleet against a witness it starts (PostgreSQL), then the same messages against a
        bare MassTransit consumer on the same broker; prints each figure and the ratio witness / bare.

        Usage: dotnet ZfsSync.LoadGen.dll [options]

          --hosts N                 simulated hosts (default 10)
          --groups G                sync groups of two hosts, source and target (default hosts / 2; 2 × G <= hosts)
          --datasets D              datasets per host (default 4)
          --snapshots S             snapshots per dataset at the start (default 20)
          --seconds T               length of the steady load in all: half against the witness, half against the bare
                                    consumer (default 30)
          --heartbeat-interval SEC  each host's heartbeat period (default 5)
          --report-interval SEC     each host's full inventory period (default 15)
          --new-snapshot-percent P  per minute, P % of the source datasets get a new snapshot; the host reports at once (default 100)
          --heartbeat-burst N       heartbeats published at once to measure capacity (default max(1000, 10 × hosts); 0: none)
          --drain-seconds SEC       after the load: how long the witness may take to finish every round trip (default 60)
          --reporting MODE          reports-as (default): hosts have ReportsAs, one impersonating connection sets each
                                    host's user-id; shared: no ReportsAs, every host reports as one reporter user
          --skip-bare               measure the witness only
          --skip-restart            leave out the restart stage (the witness stopped with SIGTERM and started again)
          --keep                    keep the vhosts, users and database afterwards
          --witness PATH            ZfsSync.Witness.Worker.dll (default: the build next to this tool's sources)
          --broker-uri URI          AMQP URI of an administrator (default ${BrokerVariable})
          --management-uri URI      RabbitMQ management API (default ${ManagementVariable})
          --postgres CONNSTRING     PostgreSQL maintenance database (default ${PostgresVariable})
          -h, --help                this text

        Credentials belong in the environment, not on the command line: the defaults are what scripts/services.sh exports.
        Exit status: 0 every round trip completed; 1 the witness did not answer (one line says what is missing); 2 bad options.
        """;

    /// <summary>The options, or the error to print (exit 2); Help when help was asked for.</summary>
    public static (LoadGenOptions? Options, string? Error, bool Help) Parse(IReadOnlyList<string> args, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(environment);
        var o = new LoadGenOptions
        {
            BrokerUri = environment(BrokerVariable),
            ManagementUri = environment(ManagementVariable),
            Postgres = environment(PostgresVariable),
        };
        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            string Value()
            {
                if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                {
                    throw new FormatException($"{name} needs a value");
                }

                return args[++i];
            }

            try
            {
                o = name switch
                {
                    "-h" or "--help" => null,
                    "--hosts" => o with { Hosts = Int(name, Value(), 2, 100_000) },
                    "--groups" => o with { Groups = Int(name, Value(), 0, 50_000) },
                    "--datasets" => o with { Datasets = Int(name, Value(), 1, 1000) },
                    "--snapshots" => o with { Snapshots = Int(name, Value(), 1, 100_000) },
                    "--seconds" => o with { Seconds = Int(name, Value(), 2, 86_400) },
                    "--heartbeat-interval" => o with { HeartbeatInterval = Real(name, Value(), 0.1, 3600) },
                    "--report-interval" => o with { ReportInterval = Real(name, Value(), 0.5, 86_400) },
                    "--new-snapshot-percent" => o with { NewSnapshotPercent = Real(name, Value(), 0, 6000) },
                    "--heartbeat-burst" => o with { HeartbeatBurst = Int(name, Value(), 0, 10_000_000) },
                    "--drain-seconds" => o with { DrainSeconds = Int(name, Value(), 1, 3600) },
                    "--reporting" => o with { Reporting = Mode(Value()) },
                    "--skip-bare" => o with { SkipBare = true },
                    "--skip-restart" => o with { SkipRestart = true },
                    "--keep" => o with { Keep = true },
                    "--witness" => o with { WitnessDll = Value() },
                    "--broker-uri" => o with { BrokerUri = Value() },
                    "--management-uri" => o with { ManagementUri = Value() },
                    "--postgres" => o with { Postgres = Value() },
                    _ => throw new FormatException($"unknown option \"{name}\" (--help lists them)"),
                };
            }
            catch (FormatException e)
            {
                return (null, e.Message, false);
            }

            if (o is null)
            {
                return (null, null, true);
            }
        }

        var error = Validate(o);
        return error is null ? (o, null, false) : (null, error, false);
    }

    private static string? Validate(LoadGenOptions o)
    {
        if (o.EffectiveGroups * 2 > o.Hosts)
        {
            return $"--groups {o.EffectiveGroups} needs {o.EffectiveGroups * 2} hosts, there are {o.Hosts}";
        }

        if (o.EffectiveGroups == 0)
        {
            return "no sync group: every round trip needs one (--groups >= 1)";
        }

        if (string.IsNullOrEmpty(o.BrokerUri) || !Uri.TryCreate(o.BrokerUri, UriKind.Absolute, out var broker) || broker.Scheme != "amqp"
            || !broker.UserInfo.Contains(':', StringComparison.Ordinal))
        {
            return $"the broker: an amqp://user:password@host:port/ URI of an administrator is needed (--broker-uri or {BrokerVariable})";
        }

        if (string.IsNullOrEmpty(o.ManagementUri) || !Uri.TryCreate(o.ManagementUri, UriKind.Absolute, out var management) || management.Scheme is not ("http" or "https"))
        {
            return $"the management API: an http:// URI is needed (--management-uri or {ManagementVariable})";
        }

        if (string.IsNullOrEmpty(o.Postgres) || !o.Postgres.Contains("Host=", StringComparison.OrdinalIgnoreCase))
        {
            return $"PostgreSQL: an Npgsql connection string (Host=…;Username=…) is needed (--postgres or {PostgresVariable})";
        }

        return null;
    }

    private static int Int(string name, string value, int min, int max) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n
            : throw new FormatException($"{name}: \"{value}\" is not a whole number from {min} to {max}");

    private static double Real(string name, string value, double min, double max) =>
        double.TryParse(value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n
            : throw new FormatException($"{name}: \"{value}\" is not a number from {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}");

    private static ReportingMode Mode(string value) => value switch
    {
        "reports-as" => ReportingMode.ReportsAs,
        "shared" => ReportingMode.Shared,
        _ => throw new FormatException($"--reporting: \"{value}\" is neither reports-as nor shared"),
    };
}
