using ZfsSync.TestInfrastructure;

namespace ZfsSync.Witness.Worker.Tests;

[CollectionDefinition(InfrastructureFixture.Collection)]
public sealed class InfrastructureCollection : ICollectionFixture<InfrastructureFixture>;
