using ZfsSync.TestInfrastructure;

namespace ZfsSync.Convergence.Tests;

/// <summary>
/// Three collections on the same servers (each world has its own vhost and database), so that xUnit runs them side by
/// side: a scenario mostly waits for processes and reports.
/// </summary>
public static class Collections
{
    public const string A = "convergence A";
    public const string B = "convergence B";
    public const string C = "convergence C";
}

[CollectionDefinition(Collections.A)]
public sealed class ConvergenceCollectionA : ICollectionFixture<InfrastructureFixture>;

[CollectionDefinition(Collections.B)]
public sealed class ConvergenceCollectionB : ICollectionFixture<InfrastructureFixture>;

[CollectionDefinition(Collections.C)]
public sealed class ConvergenceCollectionC : ICollectionFixture<InfrastructureFixture>;
