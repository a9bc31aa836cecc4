namespace ZfsSync.TestInfrastructure;

/// <summary>Bounded polling for state that changes in another process or thread (a database row, a queue depth).</summary>
public static class Poll
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Checks <paramref name="condition"/> every <paramref name="every"/> (50 ms) until it holds or
    /// <paramref name="timeout"/> (30 s) passes; true when it held.
    /// </summary>
    public static async Task<bool> HoldsAsync(Func<Task<bool>> condition, TimeSpan? timeout = null, TimeSpan? every = null)
    {
        ArgumentNullException.ThrowIfNull(condition);
        using var deadline = new CancellationTokenSource(timeout ?? DefaultTimeout);
        while (!await condition())
        {
            try
            {
                await Task.Delay(every ?? TimeSpan.FromMilliseconds(50), deadline.Token);
            }
            catch (OperationCanceledException)
            {
                return await condition();
            }
        }

        return true;
    }

    /// <summary>As <see cref="HoldsAsync"/>, failing with a <see cref="TimeoutException"/> that names <paramref name="what"/>.</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null, TimeSpan? every = null)
    {
        if (!await HoldsAsync(condition, timeout, every))
        {
            throw new TimeoutException($"gave up after {(timeout ?? DefaultTimeout).TotalSeconds:0.#} s waiting for {what}");
        }
    }
}
