namespace ZfsSync.Witness.Worker.Hosting;

public static class ClientTopologyHostingExtensions
{
    /// <summary><see cref="ClientTopologyMaintainer"/>; its options are <see cref="WitnessOptions.ClientTopology"/>, validated with the rest.</summary>
    public static IServiceCollection AddClientTopology(this IServiceCollection services)
    {
        services.AddSingleton<ClientTopologyMaintainer>();
        services.AddHostedService(sp => sp.GetRequiredService<ClientTopologyMaintainer>());
        return services;
    }
}

/// <summary>Client users become exchange and queue names: a conservative character set, each failure naming its key.</summary>
public static class ClientTopologyOptionsValidator
{
    public static List<string> Failures(ClientTopologyOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        if (options.RefreshInterval <= TimeSpan.Zero)
        {
            failures.Add("ClientTopology:RefreshInterval: must be positive");
        }

        Check(nameof(options.Reporters), options.Reporters, failures);
        Check(nameof(options.Executors), options.Executors, failures);
        Check(nameof(options.Operators), options.Operators, failures);
        return failures;
    }

    /// <summary>The top-level <c>Operators</c> list (who may decide), checked like the topology's users.</summary>
    public static List<string> OperatorFailures(List<string> operators)
    {
        ArgumentNullException.ThrowIfNull(operators);
        var failures = new List<string>();
        Check("Operators", operators, failures, "");
        return failures;
    }

    private static void Check(string key, List<string> users, List<string> failures, string section = "ClientTopology:")
    {
        for (var i = 0; i < users.Count; i++)
        {
            if (!IsValidUser(users[i]))
            {
                failures.Add($"{section}{key}:{i}: {Core.Names.ZfsName.Quote(users[i] ?? "")} is not a broker user name we accept ([A-Za-z0-9][A-Za-z0-9._@-]{{0,127}})");
            }
        }
    }

    internal static bool IsValidUser(string? user) =>
        user is { Length: > 0 and <= 128 } && char.IsAsciiLetterOrDigit(user[0])
        && user.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '@' or '-');
}
