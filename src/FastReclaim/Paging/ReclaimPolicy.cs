
namespace FastReclaim;

/// <summary>When an address space frees page-table pages that a zap left empty.</summary>
public enum ReclaimPolicy
{
    /// <summary>Never free a table on zap; tables go only on unmap.</summary>
    None,
    /// <summary>
    /// Exactly Linux 6.18 with <c>CONFIG_PT_RECLAIM</c>: a PTE table is freed when its whole 2 MiB span lies
    /// inside the zapped range; upper levels stay until unmap.
    /// </summary>
    Linux,
    /// <summary>Also free PTE tables emptied by partial zaps, and PMD/PUD tables left empty.</summary>
    Eager,
}
