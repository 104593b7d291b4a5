
namespace FastReclaim;

/// <summary>
/// The TLB maintenance an embedder owes the CPUs that walk an <see cref="AddressSpace"/>'s tables (a vCPU, an
/// emulated CPU), set as <see cref="AddressSpaceOptions.TlbMaintenance"/>. The space calls it where the architecture
/// needs a TLB step before it may go on: between the two writes of an Arm64 break-before-make, and after it has
/// unhooked tables and before any of them can be freed and reused (the bug class of the <c>CONFIG_PT_RECLAIM</c>
/// thread: a table freed without the architecture's TLB step is a use-after-free by the page walker).
/// </summary>
/// <remarks>
/// <para>
/// Both calls must be synchronous: when one returns, no CPU that walks the tables may still use a translation or a
/// cached table entry it is told to drop (the embedder's shootdown has completed on every CPU). Software readers
/// (<see cref="AddressSpace.TryTranslate(ulong, out ulong, out PageFlags)"/>) need nothing: the epoch domain covers them.
/// Neither call may call back into a writer of the same space (<see cref="AddressSpace.Map"/>,
/// <see cref="AddressSpace.Zap"/>, ...), nor <see cref="EpochDomain.Synchronize"/>, <see cref="EpochDomain.Barrier"/> or
/// <see cref="EpochDomain.Dispose"/> of its domain (the calling writer is inside a guard); translating is allowed.
/// Neither should throw: an exception propagates out of the writing call, whose change is then made, and the tables
/// go on to be freed after their grace period.
/// </para>
/// <para>
/// Leaves cleared by <see cref="AddressSpace.Zap"/>, <see cref="AddressSpace.Unmap(ulong, ulong)"/> or
/// <see cref="AddressSpace.Protect"/> are not reported: their frames are the embedder's, who must invalidate the
/// translations before reusing a frame, as on any architecture. <see cref="AddressSpace.Dispose"/> frees the tables
/// with no call: the CPUs must be stopped (or switched to other tables) first.
/// </para>
/// </remarks>
public interface ITlbMaintenance
{
    /// <summary>
    /// Break-before-make (Arm64 only; the Arm ARM requires it when a valid entry changes between a block and a
    /// table): the entry that maps [<paramref name="va"/>, <paramref name="va"/> + <paramref name="length"/>) has
    /// just been made invalid, and its replacement (the table of a split, the block of a collapse, the same frames
    /// and permissions) is written when this returns. Invalidate that range on every CPU: <c>DSB ISHST</c>, then
    /// <c>TLBI VAE1IS</c> for each page of it (or one <c>TLBI VMALLE1IS</c> / <c>ASIDE1IS</c>), <c>DSB ISH</c>, and
    /// <c>ISB</c> on the CPU that continues.
    /// </summary>
    /// <remarks>
    /// Called by the writer with the lock of the table that holds the entry (and, for a collapse, of the table being
    /// replaced) held: a CPU that walks the range meanwhile takes a translation fault, and a concurrent writer of
    /// that table waits. A <see cref="AddressSpace.TryTranslate(ulong, out ulong, out PageFlags)"/> meanwhile reports
    /// the range not mapped, as the hardware would.
    /// </remarks>
    /// <param name="space">The space whose entry changes.</param>
    /// <param name="va">The first address the entry maps (aligned to <paramref name="length"/>).</param>
    /// <param name="length">The bytes it maps: 2 MiB or 1 GiB.</param>
    void InvalidateRange(AddressSpace space, ulong va, ulong length);

    /// <summary>
    /// Tables have been unhooked (a zap, unmap, sweep or map reclaimed them, or a collapse replaced a PTE table by a
    /// block) and will be freed once their grace period ends, which cannot happen before this returns. Invalidate
    /// every cached translation and table entry of the space on every CPU: x86-64, <c>INVLPG</c> of any address
    /// (it drops all paging-structure caches of the PCID) or a CR3 reload; Arm64, <c>DSB ISHST</c>,
    /// <c>TLBI VMALLE1IS</c> (or <c>ASIDE1IS</c> for the space's ASID), <c>DSB ISH</c>, <c>ISB</c>; RISC-V,
    /// <c>SFENCE.VMA x0, asid</c> on every hart (the address form does not drop non-leaf entries), through the SBI
    /// remote fence for the other harts.
    /// </summary>
    /// <remarks>
    /// Called once per writing call that unhooked at least one table, by that writer, after it has released every
    /// table lock and before it leaves its epoch guard (which is what keeps the tables from being freed), so no lock
    /// of the space is held. A call made while another writer of the same space unhooks tables may report those too;
    /// an extra invalidation is harmless.
    /// </remarks>
    /// <param name="space">The space whose tables were unhooked.</param>
    void InvalidateTables(AddressSpace space);
}
