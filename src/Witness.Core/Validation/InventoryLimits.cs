namespace ZfsSync.Witness.Core.Validation;

/// <summary>What one inventory report may hold (docs/CONTRACT.md, "Limits"); larger reports are rejected, not truncated.</summary>
public sealed record InventoryLimits
{
    /// <summary>8 MiB: the reporter splits larger reports by dataset.</summary>
    public long MaxMessageBytes { get; init; } = 8L * 1024 * 1024;

    public int MaxDatasets { get; init; } = 20_000;
    public int MaxSnapshots { get; init; } = 2_000_000;
    public int MaxParts { get; init; } = 1_000;
    public int MaxRoots { get; init; } = 1_000;

    /// <summary>A receive resume token is a few hundred hex digits; anything far longer is not one.</summary>
    public int MaxResumeTokenLength { get; init; } = 64 * 1024;
}
