using ZfsSync.TestInfrastructure;

namespace ZfsSync.Executor.Tests;

[CollectionDefinition(InfrastructureFixture.Collection)]
public sealed class InfrastructureCollection : ICollectionFixture<InfrastructureFixture>;
