
namespace FastReclaim;

/// <summary>Size of the leaf pages a mapping is built from.</summary>
public enum LeafSize
{
    /// <summary>4 KiB pages, leaves in PTE tables.</summary>
    Size4K,
    /// <summary>2 MiB pages, leaves in PMD tables (PS bit set).</summary>
    Size2M,
    /// <summary>1 GiB pages, leaves in PUD tables (PS bit set).</summary>
    Size1G,
}
