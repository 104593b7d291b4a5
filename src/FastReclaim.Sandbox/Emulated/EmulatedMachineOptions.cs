namespace FastReclaim.Sandbox;

/// <summary>Settings of an <see cref="EmulatedMachine"/>; read once by its constructor.</summary>
public sealed class EmulatedMachineOptions
{
    /// <summary>The default <see cref="ArenaBytes"/>: 32 MiB of tables and 4 KiB frames.</summary>
    public const long DefaultArenaBytes = 32L << 20;

    /// <summary>The default <see cref="LargeMemoryBytes"/>: 1 GiB, room for one 1 GiB leaf (committed only where touched).</summary>
    public const long DefaultLargeMemoryBytes = 1L << 30;

    /// <summary>The table format, which picks the CPU: <see cref="PageTableFormat.Arm64"/> (AArch64) or <see cref="PageTableFormat.RiscV64"/> (RISC-V 64).</summary>
    public PageTableFormat Format { get; set; } = PageTableFormat.Arm64;

    /// <summary>Paging levels: AArch64 3 or 4 (39- or 48-bit addresses); RISC-V 3, 4 or 5 (Sv39, Sv48, Sv57).</summary>
    public int Levels { get; set; } = 4;

    /// <summary>When the address space frees the page tables a zap empties; default <see cref="ReclaimPolicy.Eager"/>.</summary>
    public ReclaimPolicy Policy { get; set; } = ReclaimPolicy.Eager;

    /// <summary>
    /// Checked allocator: freed pages (tables the epoch domain released) are filled with
    /// <see cref="EmulatedMachine.TrapValue"/>, so a guest walk through a freed table reads the trap region and the
    /// read says so (<see cref="EmulatedAccessResult.TrapFrameRead"/>).
    /// </summary>
    public bool Poison { get; set; }

    /// <summary>Bytes of the allocator arena the guest sees at <see cref="EmulatedMachine.ArenaPhysicalBase"/>: page tables and 4 KiB frames. A multiple of 2 MiB.</summary>
    public long ArenaBytes { get; set; } = DefaultArenaBytes;

    /// <summary>Bytes of the sparse memory at <see cref="EmulatedMachine.LargeMemoryPhysicalBase"/> that 2 MiB and 1 GiB leaves map. A multiple of 1 GiB.</summary>
    public long LargeMemoryBytes { get; set; } = DefaultLargeMemoryBytes;

    /// <summary>The epoch domain the address space retires tables to; <see langword="null"/> = the machine makes its own.</summary>
    public EpochDomain? Epoch { get; set; }
}
