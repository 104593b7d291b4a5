
namespace FastReclaim;

/// <summary>
/// Bits of an x86-64 paging-structure entry (Intel SDM vol. 3, §4.5, tables 4-15 to 4-20).
/// The values are the hardware bit positions, so an entry built from them can be walked by a real CPU.
/// </summary>
[Flags]
#pragma warning disable CA1711 // "Flags" is the hardware name of these bits.
public enum PageFlags : ulong
#pragma warning restore CA1711
{
    /// <summary>No bits set: a not-present entry.</summary>
    None = 0,
    /// <summary>P (bit 0): the entry maps a page or references a table.</summary>
    Present = 1,
    /// <summary>R/W (bit 1): writes allowed.</summary>
    Writable = 2,
    /// <summary>U/S (bit 2): user-mode accesses allowed.</summary>
    User = 4,
    /// <summary>PWT (bit 3): page-level write-through.</summary>
    WriteThrough = 8,
    /// <summary>PCD (bit 4): page-level cache disable.</summary>
    CacheDisable = 16,
    /// <summary>A (bit 5): set by the CPU when the entry is used for translation.</summary>
    Accessed = 32,
    /// <summary>D (bit 6): set by the CPU on a write through a leaf entry.</summary>
    Dirty = 64,
    /// <summary>G (bit 8): global translation, kept across CR3 writes when CR4.PGE is set.</summary>
    Global = 256,
    /// <summary>XD (bit 63): instruction fetches not allowed (needs IA32_EFER.NXE).</summary>
    NoExecute = 1UL << 63,
}
