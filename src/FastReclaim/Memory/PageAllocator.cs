using System.Collections.Concurrent;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FastReclaim.Memory;

namespace FastReclaim;

/// <summary>
/// Hands out zeroed 4 KiB pages carved from size-aligned chunks of native memory, for page tables.
/// </summary>
/// <remarks>
/// <para>
/// Each chunk (<see cref="PageAllocatorOptions.ChunkBytes"/>, 2 MiB by default) keeps the 16-byte descriptors of its
/// pages in its own first page(s), so a page's descriptor is found by masking its address. Free pages are reused;
/// <see cref="Trim"/> returns chunks whose pages are all free to the OS.
/// </para>
/// <para>
/// <see cref="Allocate"/> and <see cref="Free"/> are thread-safe. Each thread keeps a small stack of free pages of its
/// own, so the common case takes no lock and no atomic instruction; the stack is refilled from, or spilled to, a
/// shared pool under a lock a batch of pages at a time. <see cref="Dispose"/> must not race with other calls.
/// </para>
/// </remarks>
public sealed unsafe partial class PageAllocator : IDisposable
{
    /// <summary>Bytes per page.</summary>
    public const int PageSize = 4096;

    /// <summary>8-byte entries per page (a page table's 512 entries).</summary>
    internal const int EntriesPerPage = PageSize / sizeof(ulong);

    /// <summary>log2 of <see cref="PageSize"/>: an address shifted right by it is its page number.</summary>
    public const int PageShift = 12;

    /// <summary>page offset in chunk >> this = descriptor offset in chunk (each 4 KiB page has a 16-byte descriptor).</summary>
    private const int DescriptorShift = PageShift - PageDescriptor.SizeShift;

    private readonly bool _poison;
    private readonly ulong _poisonValue;
    private readonly int _chunkBytes;
    private readonly nint _chunkMask;
    private readonly int _pagesPerChunk;
    private readonly int _descriptorPages;
    private readonly long _maxBytes;
    private readonly ulong _pointerToPhysical;
    private readonly nint _arenaBase;
    private readonly long _arenaBytes;

    /// <summary>Pages outside [_firstValid, _firstValid + _validBytes) are foreign; the whole address space when there is no arena.</summary>
    private readonly nint _firstValid;
    private readonly ulong _validBytes;

    private readonly Lock _lock = new();
    private readonly ThreadLocal<ThreadCache?> _threadCaches = new();

    /// <summary>Checked mode only: chunk base -> chunk, read lock-free to tell a foreign pointer from one of ours.</summary>
    private readonly ConcurrentDictionary<nint, PageChunk>? _chunksByBase;

    // Everything below is guarded by _lock.
    private readonly List<ThreadCache> _caches = [];
    private readonly Stack<int> _freeChunkSlots = new();
    private PageChunk?[] _chunks = [];
    private int _chunkSlotsUsed;
    private int _poolHint;
    private long _poolPages;
    private long _pagesOutsidePool;
    private long _chunkBytesInUse;
    private long _reservedBytes;
    private bool _disposed;

    /// <summary>Owners that hold this allocator (address spaces, see <see cref="AddUser"/>); Dispose refuses while any remain.</summary>
    private int _users;

    /// <summary>Allocators created so far; the source of <see cref="_tag"/>.</summary>
    private static int s_allocators;

    /// <summary>This allocator's stamp in every chunk header: unchecked-mode Free tells another allocator's page by it.</summary>
    private readonly int _tag = Interlocked.Increment(ref s_allocators);

    /// <summary>The last cache this thread used, checked before the (slower) per-allocator <see cref="ThreadLocal{T}"/>.</summary>
    [ThreadStatic]
    private static ThreadCache? t_lastCache;

    /// <summary>Creates an allocator; it reserves no memory until the first <see cref="Allocate"/> (or, in arena mode, reserves the arena now).</summary>
    /// <param name="options">Settings; <see langword="null"/> = defaults.</param>
    /// <exception cref="ArgumentException">A setting is out of range; the message names it.</exception>
    public PageAllocator(PageAllocatorOptions? options = null)
    {
        options ??= new PageAllocatorOptions();
        int chunkBytes = options.ChunkBytes;
        if (chunkBytes < 2 * PageSize || !BitOperations.IsPow2(chunkBytes))
        {
            throw new ArgumentOutOfRangeException(nameof(options), chunkBytes,
                $"{nameof(PageAllocatorOptions.ChunkBytes)} must be a power of two of at least {2 * PageSize} bytes.");
        }

        if (options.MaxBytes < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxBytes,
                $"{nameof(PageAllocatorOptions.MaxBytes)} must be 0 (unbounded) or positive.");
        }

        if (options.ArenaBytes < 0 || options.ArenaBytes % chunkBytes != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.ArenaBytes,
                $"{nameof(PageAllocatorOptions.ArenaBytes)} must be 0 or a positive multiple of {nameof(PageAllocatorOptions.ChunkBytes)} ({chunkBytes}).");
        }

        FrameMapping mapping = options.FrameMapping ?? FrameMapping.Identity;
        if (mapping.IsRelativeToArena && options.ArenaBytes == 0)
        {
            throw new ArgumentException(
                $"{nameof(FrameMapping)}.{nameof(FrameMapping.ArenaAt)} needs {nameof(PageAllocatorOptions.ArenaBytes)} > 0.", nameof(options));
        }

        _poison = options.Poison;
        _poisonValue = options.PoisonValue;
        _chunkBytes = chunkBytes;
        _chunkMask = chunkBytes - 1;
        _pagesPerChunk = chunkBytes / PageSize;
        _descriptorPages = (_pagesPerChunk * PageDescriptor.SizeInBytes + PageSize - 1) / PageSize;
        _maxBytes = options.MaxBytes;
        _chunksByBase = _poison ? new ConcurrentDictionary<nint, PageChunk>() : null;

        _firstValid = 0;
        _validBytes = ulong.MaxValue;
        if (options.ArenaBytes > 0)
        {
            _arenaBytes = options.ArenaBytes;
            _arenaBase = (nint)NativeMemory.AlignedAlloc((nuint)_arenaBytes, (nuint)chunkBytes);
            _reservedBytes = _arenaBytes;
            _firstValid = _arenaBase;
            _validBytes = (ulong)_arenaBytes;
            _chunks = new PageChunk?[_arenaBytes / chunkBytes];
            mapping = mapping.ResolveArena(_arenaBase);
        }

        FrameMapping = mapping;
        _pointerToPhysical = mapping.PointerToPhysicalDelta;
        if (_arenaBytes > 0 && !FitsPhysically(_arenaBase, _arenaBytes))
        {
            NativeMemory.AlignedFree((void*)_arenaBase);
            throw new ArgumentException(
                $"{nameof(FrameMapping)} puts the {_arenaBytes}-byte arena at physical 0x{PhysicalOf(_arenaBase):X}, which does not end below 0x{FrameMapping.PhysicalLimit:X}.",
                nameof(options));
        }
    }

    /// <summary>True when <paramref name="bytes"/> from <paramref name="start"/> map to physical addresses below <see cref="FrameMapping.PhysicalLimit"/>.</summary>
    private bool FitsPhysically(nint start, long bytes) =>
        PhysicalOf(start) < FrameMapping.PhysicalLimit && (ulong)bytes <= FrameMapping.PhysicalLimit - PhysicalOf(start);

    /// <summary>
    /// Registers an owner that keeps using this allocator's pages (an <see cref="AddressSpace"/>): until it calls
    /// <see cref="RemoveUser"/>, <see cref="Dispose"/> throws instead of freeing the memory under it.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The allocator has been disposed.</exception>
    internal void AddUser()
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _users++;
        }
    }

    /// <summary>Undoes one <see cref="AddUser"/>.</summary>
    internal void RemoveUser()
    {
        lock (_lock)
        {
            _users--;
        }
    }

    /// <summary>How <see cref="PhysicalOf"/> and <see cref="VirtualOf"/> translate (arena-relative mappings resolved).</summary>
    public FrameMapping FrameMapping { get; }

    /// <summary>Bytes per chunk.</summary>
    public int ChunkBytes => _chunkBytes;

    /// <summary>True when freed pages are poisoned and every double or foreign free is detected (checked mode).</summary>
    public bool Poison => _poison;

    /// <summary>The pattern freed pages are filled with in checked mode.</summary>
    public ulong PoisonValue => _poisonValue;

    /// <summary>First byte of the arena; 0 when the allocator is not in arena mode.</summary>
    public nint ArenaBase => _arenaBase;

    /// <summary>Size of the arena; 0 when the allocator is not in arena mode.</summary>
    public long ArenaBytes => _arenaBytes;

    /// <summary>Pages handed out and not yet freed. Exact when no Allocate or Free is running on another thread.</summary>
    /// <exception cref="ObjectDisposedException">The allocator has been disposed.</exception>
    public long AllocatedPages
    {
        get
        {
            lock (_lock)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                long cached = 0;
                foreach (ThreadCache cache in _caches)
                {
                    // A racing owner may be changing Count; an int read is atomic, so the sum is at worst slightly stale.
                    cached += Volatile.Read(ref cache.Count);
                }

                return _pagesOutsidePool - cached;
            }
        }
    }

    /// <summary>Bytes of native memory held: chunks in use (or the whole arena in arena mode).</summary>
    public long ReservedBytes
    {
        get
        {
            lock (_lock)
            {
                return _reservedBytes;
            }
        }
    }

    /// <summary>The physical address (as stored in page-table entries) of <paramref name="page"/>.</summary>
    /// <remarks>Pure arithmetic per <see cref="FrameMapping"/>; it does not check that the page is allocated.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong PhysicalOf(nint page) => (ulong)page + _pointerToPhysical;

    /// <summary>The pointer of the page at physical address <paramref name="physical"/> (inverse of <see cref="PhysicalOf"/>).</summary>
    /// <remarks>Pure arithmetic per <see cref="FrameMapping"/>; it does not check that the page is allocated.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public nint VirtualOf(ulong physical) => (nint)(physical - _pointerToPhysical);

    /// <summary>The descriptor of <paramref name="page"/>, found by masking its address (O(1), no lock).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ref PageDescriptor DescriptorOf(nint page) =>
        ref Unsafe.AsRef<PageDescriptor>((void*)((page & ~_chunkMask) + ((page & _chunkMask) >> DescriptorShift)));
}
