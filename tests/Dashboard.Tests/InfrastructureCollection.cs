using ZfsSync.TestInfrastructure;

namespace ZfsSync.Dashboard.Tests;

[CollectionDefinition(InfrastructureFixture.Collection)]
public sealed class InfrastructureCollection : ICollectionFixture<InfrastructureFixture>;
