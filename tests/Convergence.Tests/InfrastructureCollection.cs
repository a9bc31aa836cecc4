using ZfsSync.TestInfrastructure;

namespace ZfsSync.Convergence.Tests;

[CollectionDefinition(InfrastructureFixture.Collection)]
public sealed class InfrastructureCollection : ICollectionFixture<InfrastructureFixture>;
