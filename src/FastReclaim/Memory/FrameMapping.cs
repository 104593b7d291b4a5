
namespace FastReclaim;

/// <summary>
/// How the physical frame addresses stored in page-table entries relate to the process pointers of the pages
/// a <see cref="PageAllocator"/> hands out.
/// </summary>
/// <remarks>
/// The mapping is a constant offset: <c>physical = pointer - VirtualBase + PhysicalBase</c>.
/// <see cref="Identity"/> (the default) stores pointers as they are, which fits because a user-space pointer is at
/// most 47 bits wide. A VMM that registers the allocator's arena as guest memory uses <see cref="ArenaAt"/> (or
/// <see cref="Offset"/> when it knows the virtual base itself), so the tables can be walked by a vCPU.
/// </remarks>
public sealed class FrameMapping
{
    private FrameMapping(nint virtualBase, ulong physicalBase, bool relativeToArena)
    {
        VirtualBase = virtualBase;
        PhysicalBase = physicalBase;
        IsRelativeToArena = relativeToArena;
    }

    /// <summary>
    /// Every physical address is below this: 2^52, the reach of the 52-bit frame field of a page-table entry. A
    /// mapping that would put a page at or above it is refused (here for the base, by the allocator for its pages).
    /// </summary>
    public const ulong PhysicalLimit = 1UL << 52;

    /// <summary>Physical address = pointer.</summary>
    public static FrameMapping Identity { get; } = new(0, 0, relativeToArena: false);

    /// <summary>The process address that corresponds to <see cref="PhysicalBase"/>.</summary>
    /// <remarks>0 for a mapping made by <see cref="ArenaAt"/> until an allocator resolves it to its arena.</remarks>
    public nint VirtualBase { get; }

    /// <summary>The physical (for a VMM: guest-physical) address of <see cref="VirtualBase"/>.</summary>
    public ulong PhysicalBase { get; }

    /// <summary>True for a mapping made by <see cref="ArenaAt"/>, whose virtual base is the allocator's arena.</summary>
    public bool IsRelativeToArena { get; }

    /// <summary>Maps the process address <paramref name="virtualBase"/> to the physical address <paramref name="physicalBase"/>.</summary>
    /// <param name="virtualBase">A process address, 4 KiB-aligned.</param>
    /// <param name="physicalBase">The physical address it stands for, 4 KiB-aligned.</param>
    /// <exception cref="ArgumentException">
    /// Either base is not 4 KiB-aligned, or <paramref name="physicalBase"/> is not below <see cref="PhysicalLimit"/>.
    /// </exception>
    public static FrameMapping Offset(nint virtualBase, ulong physicalBase)
    {
        RequirePageAligned((ulong)virtualBase, nameof(virtualBase));
        RequirePhysicalBase(physicalBase);
        return new FrameMapping(virtualBase, physicalBase, relativeToArena: false);
    }

    /// <summary>
    /// Maps the first byte of the allocator's arena (<see cref="PageAllocatorOptions.ArenaBytes"/> must be set) to
    /// <paramref name="physicalBase"/>: the usual set-up for a VMM that registers the arena as one guest memory slot,
    /// since the arena's address is only known once the allocator has reserved it.
    /// </summary>
    /// <param name="physicalBase">The guest-physical address of the arena, 4 KiB-aligned.</param>
    /// <exception cref="ArgumentException">
    /// <paramref name="physicalBase"/> is not 4 KiB-aligned or not below <see cref="PhysicalLimit"/> (the allocator
    /// checks that the whole arena fits below it).
    /// </exception>
    public static FrameMapping ArenaAt(ulong physicalBase)
    {
        RequirePhysicalBase(physicalBase);
        return new FrameMapping(0, physicalBase, relativeToArena: true);
    }

    /// <summary>This mapping with its arena-relative virtual base resolved to <paramref name="arenaBase"/>.</summary>
    internal FrameMapping ResolveArena(nint arenaBase) =>
        IsRelativeToArena ? new FrameMapping(arenaBase, PhysicalBase, relativeToArena: false) : this;

    /// <summary>The amount added to a pointer to get its physical address (wrapping arithmetic).</summary>
    internal ulong PointerToPhysicalDelta => PhysicalBase - (ulong)VirtualBase;

    private static void RequirePhysicalBase(ulong physicalBase)
    {
        RequirePageAligned(physicalBase, nameof(physicalBase));
        if (physicalBase >= PhysicalLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(physicalBase), physicalBase,
                $"Physical base 0x{physicalBase:X} is not below the 52-bit frame field's limit 0x{PhysicalLimit:X}.");
        }
    }

    private static void RequirePageAligned(ulong address, string name)
    {
        if ((address & (PageAllocator.PageSize - 1)) != 0)
        {
            throw new ArgumentException($"0x{address:X} is not {PageAllocator.PageSize}-byte aligned.", name);
        }
    }
}
