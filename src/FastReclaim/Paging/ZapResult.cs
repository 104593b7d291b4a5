
namespace FastReclaim;

/// <summary>What one <see cref="AddressSpace.Zap"/> did.</summary>
/// <param name="ZappedBytes">Bytes of mapped memory whose leaf entries were cleared (4 KiB, 2 MiB and 1 GiB leaves).</param>
/// <param name="ReclaimedTables">Page tables unhooked by the zap and retired to the epoch domain.</param>
public readonly record struct ZapResult(long ZappedBytes, int ReclaimedTables);
