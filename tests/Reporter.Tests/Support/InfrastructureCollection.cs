using ZfsSync.TestInfrastructure;

namespace ZfsSync.Reporter.Tests.Support;

[CollectionDefinition(InfrastructureFixture.Collection)]
public sealed class InfrastructureCollection : ICollectionFixture<InfrastructureFixture>;
