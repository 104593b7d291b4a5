
namespace FastReclaim.Diagnostics;

/// <summary>What the meter reads from an epoch domain when a listener collects.</summary>
/// <param name="GlobalEpoch">The domain's global epoch.</param>
/// <param name="PendingItems">Retired items not freed yet.</param>
/// <param name="FreedItems">Items freed since the domain was created (monotonic).</param>
/// <param name="Stalls">Readers reported for stalling the epoch past the deadline (monotonic).</param>
internal readonly record struct EpochReading(long GlobalEpoch, long PendingItems, long FreedItems, long Stalls);

/// <summary>An epoch domain as the meter sees it; implemented by the domain, read only under the registry lock.</summary>
internal interface IEpochMetricsSource
{
    EpochReading ReadMetrics();
}

/// <summary>What the meter reads from an address space when a listener collects, in the meter's own terms.</summary>
/// <param name="Policy">The space's reclaim policy as the <c>policy</c> tag spells it.</param>
/// <param name="PteBytes">Bytes of live PTE (level 1) tables.</param>
/// <param name="PmdBytes">Bytes of live PMD (level 2) tables.</param>
/// <param name="PudBytes">Bytes of live PUD (level 3) tables.</param>
/// <param name="P4dBytes">Bytes of live P4D (level 4) tables; 0 with 4-level paging, where level 4 is the root.</param>
/// <param name="PendingBytes">Bytes of tables unhooked and retired, waiting for their grace period.</param>
/// <param name="ReclaimedTables">Tables unhooked since the space was created (monotonic).</param>
/// <param name="AllocatedTables">Tables hooked into the space since it was created, root excluded (monotonic).</param>
internal readonly record struct PageTableReading(
    string Policy, long PteBytes, long PmdBytes, long PudBytes, long P4dBytes, long PendingBytes, long ReclaimedTables,
    long AllocatedTables);

/// <summary>An address space as the meter sees it; implemented by the space, read only under the registry lock.</summary>
internal interface IPageTableMetricsSource
{
    PageTableReading ReadMetrics();
}
