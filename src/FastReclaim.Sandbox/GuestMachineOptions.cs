namespace FastReclaim.Sandbox;

/// <summary>Settings of a <see cref="GuestMachine"/>; read once by its constructor.</summary>
public sealed class GuestMachineOptions
{
    /// <summary>The default <see cref="ArenaBytes"/>: 32 MiB of tables and 4 KiB frames.</summary>
    public const long DefaultArenaBytes = 32L << 20;

    /// <summary>The default <see cref="LargeMemoryBytes"/>: 1 GiB, room for one 1 GiB page (committed only where touched).</summary>
    public const long DefaultLargeMemoryBytes = 1L << 30;

    /// <summary>When the address space frees the page tables a zap empties; default <see cref="ReclaimPolicy.Eager"/>.</summary>
    public ReclaimPolicy Policy { get; set; } = ReclaimPolicy.Eager;

    /// <summary>
    /// Checked allocator: freed pages (tables the epoch domain released) are filled with
    /// <see cref="GuestMachine.TrapValue"/>, so a guest walk through a freed table reads the trap frame and reports it.
    /// </summary>
    public bool Poison { get; set; }

    /// <summary>Bytes of the allocator arena registered as guest memory: page tables and 4 KiB data frames. A multiple of 2 MiB.</summary>
    public long ArenaBytes { get; set; } = DefaultArenaBytes;

    /// <summary>Bytes of the sparse slot at <see cref="GuestMachine.LargeMemoryPhysicalBase"/> that 2 MiB and 1 GiB leaves map. A multiple of 1 GiB.</summary>
    public long LargeMemoryBytes { get; set; } = DefaultLargeMemoryBytes;

    /// <summary>The epoch domain the address space retires tables to; <see langword="null"/> = the machine makes its own.</summary>
    public EpochDomain? Epoch { get; set; }

#if FASTRECLAIM_FAULT_INJECTION
    /// <summary>Test builds only: the expedite the vCPU registers does nothing (no kick), to show the tests catch it.</summary>
    internal bool BrokenKick { get; set; }
#endif
}
