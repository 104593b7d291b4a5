
namespace FastReclaim;

/// <summary>A snapshot of an <see cref="AddressSpace"/>'s page tables.</summary>
/// <remarks>
/// Counters are read one by one without stopping writers, so a snapshot taken during concurrent changes may mix
/// moments. A table stops counting when it is unhooked, not when its grace period ends (as Linux's <c>VmPTE</c>).
/// </remarks>
/// <param name="PteTables">
/// Live PTE (level 1) tables, with those deposited for 2 MiB leaves under <see cref="ReclaimPolicy.Linux"/> (as the
/// kernel counts them in <c>VmPTE</c>).
/// </param>
/// <param name="PmdTables">Live PMD (level 2) tables.</param>
/// <param name="PudTables">Live PUD (level 3) tables.</param>
/// <param name="P4dTables">Live P4D (level 4) tables; always 0 with 4-level paging, where level 4 is the root.</param>
/// <param name="MappedPages">Leaf entries present (a 2 MiB or 1 GiB leaf counts once).</param>
/// <param name="MappedBytes">Bytes mapped by those leaves.</param>
/// <param name="ReclaimedTables">Tables unhooked by zaps and sweeps since the space was created.</param>
/// <param name="PendingTables">Unhooked tables still waiting for their grace period before they are freed.</param>
/// <param name="DepositedTables">
/// PTE tables kept, not hooked, for 2 MiB leaves (one per leaf under <see cref="ReclaimPolicy.Linux"/>, so a split
/// never allocates; 0 under the other policies); included in <paramref name="PteTables"/>.
/// </param>
public readonly record struct PageTableStats(
    long PteTables, long PmdTables, long PudTables, long P4dTables, long MappedPages, long MappedBytes,
    long ReclaimedTables, long PendingTables, long DepositedTables = 0)
{
    /// <summary>
    /// Bytes of PTE, PMD and PUD tables (the root and P4D tables excluded): the quantity Linux reports as
    /// <c>VmPTE</c> in <c>/proc/PID/status</c>.
    /// </summary>
    public long PageTableBytes => (PteTables + PmdTables + PudTables) * PageAllocator.PageSize;
}
