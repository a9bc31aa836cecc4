using ZfsSync.TestInfrastructure;

namespace ZfsSync.Integration.Tests;

[CollectionDefinition(InfrastructureFixture.Collection)]
public sealed class InfrastructureCollection : ICollectionFixture<InfrastructureFixture>;
