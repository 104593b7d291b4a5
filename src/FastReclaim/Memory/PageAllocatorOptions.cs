
namespace FastReclaim;

/// <summary>Settings of a <see cref="PageAllocator"/>; read once by its constructor.</summary>
public sealed class PageAllocatorOptions
{
    /// <summary>The default <see cref="ChunkBytes"/>: 2 MiB, so two pages hold the descriptors of the other 510.</summary>
    public const int DefaultChunkBytes = 2 * 1024 * 1024;

    /// <summary>
    /// The default <see cref="PoisonValue"/>: the Windows heap's freed-memory pattern. Bit 0 (Present) is clear, so a
    /// walker that reads a freed table sees "not present" rather than following a wild address.
    /// </summary>
    public const ulong DefaultPoisonValue = 0xFEEE_FEEE_FEEE_FEEE;

    /// <summary>
    /// Checked mode: freed pages are filled with <see cref="PoisonValue"/>, and a double free or a free of a pointer
    /// this allocator did not hand out throws <see cref="InvalidOperationException"/> with nothing changed.
    /// Costs a few atomic operations per call; meant for tests.
    /// </summary>
    public bool Poison { get; set; }

    /// <summary>The 8-byte pattern every entry of a freed page is filled with when <see cref="Poison"/> is on.</summary>
    public ulong PoisonValue { get; set; } = DefaultPoisonValue;

    /// <summary>
    /// Bytes per chunk: a power of two of at least 2 pages. Chunks are aligned to their size, and their first page(s)
    /// hold the descriptors of the others.
    /// </summary>
    public int ChunkBytes { get; set; } = DefaultChunkBytes;

    /// <summary>Upper bound on the bytes of chunks in use; past it <see cref="PageAllocator.Allocate"/> throws <see cref="OutOfMemoryException"/>. 0 = unbounded.</summary>
    public long MaxBytes { get; set; }

    /// <summary>How physical addresses relate to pointers; <see langword="null"/> = <see cref="FrameMapping.Identity"/>.</summary>
    public FrameMapping? FrameMapping { get; set; }

    /// <summary>
    /// 0 (the default): every chunk comes from its own aligned native allocation and <see cref="PageAllocator.Trim"/>
    /// returns whole free chunks to the OS. Greater than 0: one contiguous, <see cref="ChunkBytes"/>-aligned arena of
    /// this many bytes (a multiple of <see cref="ChunkBytes"/>) is reserved up front and chunks are carved from it, so
    /// a VMM can register the whole arena as one guest memory slot; it is released only by
    /// <see cref="PageAllocator.Dispose"/>.
    /// </summary>
    public long ArenaBytes { get; set; }
}
