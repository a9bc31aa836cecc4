using ZfsSync.TestInfrastructure;

namespace ZfsSync.Cli.Tests;

[CollectionDefinition(InfrastructureFixture.Collection)]
public sealed class InfrastructureCollection : ICollectionFixture<InfrastructureFixture>;
