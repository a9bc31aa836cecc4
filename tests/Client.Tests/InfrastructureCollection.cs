using ZfsSync.TestInfrastructure;

namespace ZfsSync.Client.Tests;

[CollectionDefinition(InfrastructureFixture.Collection)]
public sealed class InfrastructureCollection : ICollectionFixture<InfrastructureFixture>;
