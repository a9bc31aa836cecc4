namespace ZfsSync.TestInfrastructure;

/// <summary>Bounded polling for state that changes in another process or thread (a database row, a queue depth).</summary>
public static class Poll
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Checks <paramref name="condition"/> every <paramref name="every"/> (50 ms) until it holds; fails naming <paramref name="what"/> after the timeout.</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null, TimeSpan? every = null)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var limit = timeout ?? DefaultTimeout;
        var pause = every ?? TimeSpan.FromMilliseconds(50);
        using var cts = new CancellationTokenSource(limit);
        while (!await condition())
        {
            try
            {
                await Task.Delay(pause, cts.Token);
            }
            catch (OperationCanceledException)
            {
                if (await condition())
                {
                    return;
                }

                throw new TimeoutException($"gave up after {limit.TotalSeconds:0.#} s waiting for {what}");
            }
        }
    }
}
