namespace ZfsSync.Reporter.Tests.Support;

/// <summary>Every wait in these tests is bounded: a hang fails the test instead of the run.</summary>
public static class Bounded
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(2);

    /// <summary>A token cancelled after <paramref name="timeout"/> (default two minutes).</summary>
    public static CancellationToken Token(TimeSpan? timeout = null)
    {
#pragma warning disable CA2000 // The source must outlive this call; its timer is released when it fires.
        var source = new CancellationTokenSource(timeout ?? DefaultTimeout);
#pragma warning restore CA2000
        return source.Token;
    }

    /// <summary>Polls <paramref name="condition"/> until it holds or <paramref name="timeout"/> passes.</summary>
    public static Task<bool> Until(Func<bool> condition, TimeSpan timeout, TimeSpan? every = null) =>
        ZfsSync.TestInfrastructure.Poll.HoldsAsync(() => Task.FromResult(condition()), timeout, every ?? TimeSpan.FromMilliseconds(100));
}
