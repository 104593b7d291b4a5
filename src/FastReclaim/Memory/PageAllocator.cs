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
/// Each chunk (<see cref="PageAllocatorOptions.ChunkBytes"/>, 2 MiB by default) keeps the 8-byte descriptors of its
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

    /// <summary>log2 of <see cref="PageSize"/>.</summary>
    internal const int PageShift = 12;

    /// <summary>page offset in chunk >> this = descriptor offset in chunk (each 4 KiB page has an 8-byte descriptor).</summary>
    private const int DescriptorShift = PageShift - 3;

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
    }

    /// <summary>How <see cref="PhysicalOf"/> and <see cref="VirtualOf"/> translate (arena-relative mappings resolved).</summary>
    public FrameMapping FrameMapping { get; }

    /// <summary>Bytes per chunk.</summary>
    public int ChunkBytes => _chunkBytes;

    /// <summary>True when freed pages are poisoned and double or foreign frees are detected.</summary>
    public bool Poison => _poison;

    /// <summary>The pattern freed pages are filled with in checked mode.</summary>
    public ulong PoisonValue => _poisonValue;

    /// <summary>First byte of the arena; 0 when the allocator is not in arena mode.</summary>
    public nint ArenaBase => _arenaBase;

    /// <summary>Size of the arena; 0 when the allocator is not in arena mode.</summary>
    public long ArenaBytes => _arenaBytes;

    /// <summary>Pages handed out and not yet freed. Exact when no Allocate or Free is running on another thread.</summary>
    public long AllocatedPages
    {
        get
        {
            lock (_lock)
            {
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

    /// <summary>Returns a zeroed, 4 KiB-aligned page whose descriptor is zeroed.</summary>
    /// <exception cref="OutOfMemoryException">(An <see cref="InsufficientMemoryException"/> when the limit is the allocator's own.) A new chunk would pass <see cref="PageAllocatorOptions.MaxBytes"/>, the arena is full, or the OS refused.</exception>
    /// <exception cref="ObjectDisposedException">The allocator has been disposed.</exception>
    public nint Allocate()
    {
        ThreadCache cache = t_lastCache is { } last && last.Owner == this ? last : CacheOfThisThread();
        int count = cache.Count;
        if (count == 0)
        {
            count = Refill(cache);
        }

        count--;
        nint page = cache.Pages[count];
        cache.Count = count;
        if (_poison)
        {
            MarkAllocated(page);
        }

        NativeMemory.Clear((void*)page, PageSize);
        DescriptorOf(page) = default;
        return page;
    }

    /// <summary>Gives a page back. In checked mode its entries are overwritten with <see cref="PoisonValue"/>.</summary>
    /// <param name="page">A page returned by <see cref="Allocate"/> of this allocator and not freed since.</param>
    /// <exception cref="InvalidOperationException">
    /// <paramref name="page"/> is not a page this allocator hands out, or (checked mode) it is not currently allocated.
    /// Nothing is changed.
    /// </exception>
    /// <exception cref="ObjectDisposedException">The allocator has been disposed.</exception>
    public void Free(nint page)
    {
        ThreadCache cache = t_lastCache is { } last && last.Owner == this ? last : CacheOfThisThread();
        nint offsetInChunk = page & _chunkMask;
        if ((offsetInChunk & (PageSize - 1)) != 0
            || offsetInChunk < _descriptorPages * PageSize
            || (ulong)(page - _firstValid) >= _validBytes)
        {
            throw ForeignPage(page);
        }

        if (_poison)
        {
            MarkFreedAndPoison(page);
        }

        int count = cache.Count;
        if (count == ThreadCache.Capacity)
        {
            count = Spill(cache);
        }

        cache.Pages[count] = page;
        cache.Count = count + 1;
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

    /// <summary>
    /// Returns to the OS every chunk whose pages are all free, after taking back the free pages cached by this thread
    /// and by threads that have exited. Pages cached by other live threads keep their chunks.
    /// </summary>
    /// <returns>Bytes returned to the OS (always 0 in arena mode, where the arena is held until <see cref="Dispose"/>).</returns>
    /// <exception cref="ObjectDisposedException">The allocator has been disposed.</exception>
    public long Trim()
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_threadCaches.Value is { } mine)
            {
                DrainToPool(mine);
            }

            DrainExitedThreads();
            if (_arenaBytes > 0)
            {
                return 0;
            }

            int usablePages = _pagesPerChunk - _descriptorPages;
            long released = 0;
            for (int slot = 0; slot < _chunkSlotsUsed; slot++)
            {
                if (_chunks[slot] is { } chunk && chunk.PoolCount == usablePages)
                {
                    _chunks[slot] = null;
                    _freeChunkSlots.Push(slot);
                    _chunksByBase?.TryRemove(chunk.BaseAddress, out _);
                    _poolPages -= usablePages;
                    _chunkBytesInUse -= _chunkBytes;
                    _reservedBytes -= _chunkBytes;
                    NativeMemory.AlignedFree((void*)chunk.BaseAddress);
                    released += _chunkBytes;
                }
            }

            return released;
        }
    }

    /// <summary>Releases all native memory. Pages handed out become invalid. Must not race with other calls.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            foreach (ThreadCache cache in _caches)
            {
                // Detaches every thread's cache, so the fast path's owner check sends later calls to the slow path, which throws.
                cache.Owner = null;
            }

            _caches.Clear();
            if (_arenaBytes > 0)
            {
                NativeMemory.AlignedFree((void*)_arenaBase);
            }
            else
            {
                foreach (PageChunk? chunk in _chunks)
                {
                    if (chunk is not null)
                    {
                        NativeMemory.AlignedFree((void*)chunk.BaseAddress);
                    }
                }
            }

            Array.Clear(_chunks);
            _chunksByBase?.Clear();
            _reservedBytes = 0;
        }

        _threadCaches.Dispose();
    }

    private static InvalidOperationException ForeignPage(nint page) =>
        new($"0x{page:X} is not a page handed out by this {nameof(PageAllocator)}.");

    private ThreadCache CacheOfThisThread()
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            ThreadCache? cache = _threadCaches.Value;
            if (cache is null)
            {
                cache = new ThreadCache(this);
                _caches.Add(cache);
                _threadCaches.Value = cache;
            }

            t_lastCache = cache;
            return cache;
        }
    }

    /// <summary>Fills an empty thread cache with a batch from the pool (growing by a chunk if needed); returns the new count.</summary>
    private int Refill(ThreadCache cache)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_poolPages == 0)
            {
                DrainExitedThreads();
            }

            if (_poolPages == 0)
            {
                AddChunk();
            }

            int taken = TakeFromPool(cache.Pages.AsSpan(0, ThreadCache.TransferBatch));
            _pagesOutsidePool += taken;
            cache.Count = taken;
            return taken;
        }
    }

    /// <summary>Moves the oldest (coldest) batch of a full thread cache to the pool; returns the new count.</summary>
    private int Spill(ThreadCache cache)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            Span<nint> pages = cache.Pages;
            foreach (nint page in pages[..ThreadCache.TransferBatch])
            {
                ReturnToPool(page);
            }

            int kept = ThreadCache.Capacity - ThreadCache.TransferBatch;
            pages.Slice(ThreadCache.TransferBatch, kept).CopyTo(pages);
            _pagesOutsidePool -= ThreadCache.TransferBatch;
            cache.Count = kept;
            return kept;
        }
    }

    /// <summary>Moves every page of <paramref name="cache"/> to the pool. Caller holds the lock and owns the cache (its thread, or the thread has exited).</summary>
    private void DrainToPool(ThreadCache cache)
    {
        foreach (nint page in cache.Pages.AsSpan(0, cache.Count))
        {
            ReturnToPool(page);
        }

        _pagesOutsidePool -= cache.Count;
        cache.Count = 0;
    }

    /// <summary>Takes back the caches of threads that have exited (nothing can touch them any more). Caller holds the lock.</summary>
    private void DrainExitedThreads()
    {
        for (int i = _caches.Count - 1; i >= 0; i--)
        {
            ThreadCache cache = _caches[i];
            if (!cache.Thread.IsAlive)
            {
                DrainToPool(cache);
                cache.Owner = null;
                _caches.RemoveAt(i);
            }
        }
    }

    /// <summary>Caller holds the lock.</summary>
    private void ReturnToPool(nint page)
    {
        PageChunk chunk = ChunkOf(page);
        chunk.ReturnPage((int)((page & _chunkMask) >> PageShift));
        _poolPages++;
        _poolHint = Math.Min(_poolHint, chunk.Slot);
    }

    /// <summary>Caller holds the lock. Takes from the lowest chunks first, so higher chunks drain and can be trimmed.</summary>
    private int TakeFromPool(Span<nint> into)
    {
        int taken = 0;
        while (taken < into.Length && _poolPages - taken > 0)
        {
            // Invariant: no chunk below _poolHint has pages in the pool.
            if (_chunks[_poolHint] is { PoolCount: > 0 } chunk)
            {
                taken += chunk.TakePages(into[taken..]);
            }
            else
            {
                _poolHint++;
            }
        }

        _poolPages -= taken;
        return taken;
    }

    /// <summary>Adds a chunk's pages to the pool. Caller holds the lock.</summary>
    private void AddChunk()
    {
        if (_maxBytes != 0 && _chunkBytesInUse + _chunkBytes > _maxBytes)
        {
            throw new InsufficientMemoryException(
                $"{nameof(PageAllocator)}: another {_chunkBytes}-byte chunk would pass {nameof(PageAllocatorOptions.MaxBytes)} = {_maxBytes}.");
        }

        int slot;
        nint chunkBase;
        if (_arenaBytes > 0)
        {
            if (_chunkSlotsUsed == _chunks.Length)
            {
                throw new InsufficientMemoryException($"{nameof(PageAllocator)}: the {_arenaBytes}-byte arena is full.");
            }

            slot = _chunkSlotsUsed++;
            chunkBase = _arenaBase + (nint)((long)slot * _chunkBytes);
        }
        else
        {
            chunkBase = (nint)NativeMemory.AlignedAlloc((nuint)_chunkBytes, (nuint)_chunkBytes);
            _reservedBytes += _chunkBytes;
            if (!_freeChunkSlots.TryPop(out slot))
            {
                if (_chunkSlotsUsed == _chunks.Length)
                {
                    Array.Resize(ref _chunks, Math.Max(4, _chunks.Length * 2));
                }

                slot = _chunkSlotsUsed++;
            }
        }

        // The header lives in the descriptor slot of the chunk's first page, which is never handed out.
        *(int*)chunkBase = slot;
        var chunk = new PageChunk(chunkBase, slot, _pagesPerChunk, _descriptorPages, trackAllocated: _poison);
        _chunks[slot] = chunk;
        _chunksByBase?.TryAdd(chunkBase, chunk);
        _chunkBytesInUse += _chunkBytes;
        _poolPages += chunk.PoolCount;
        _poolHint = Math.Min(_poolHint, slot);
    }

    /// <summary>The chunk of a page known to be ours. Caller holds the lock.</summary>
    private PageChunk ChunkOf(nint page) => _chunks[*(int*)(page & ~_chunkMask)]!;

    private void MarkAllocated(nint page)
    {
        PageChunk chunk = _chunksByBase![page & ~_chunkMask];
        int index = (int)((page & _chunkMask) >> PageShift);
        Interlocked.Or(ref chunk.AllocatedBits![index / 64], 1UL << (index % 64));
    }

    private void MarkFreedAndPoison(nint page)
    {
        if (!_chunksByBase!.TryGetValue(page & ~_chunkMask, out PageChunk? chunk))
        {
            throw ForeignPage(page);
        }

        int index = (int)((page & _chunkMask) >> PageShift);
        ulong bit = 1UL << (index % 64);

        // Atomic test-and-clear: of two racing frees of one page exactly one sees the bit set; the loser changes nothing.
        if ((Interlocked.And(ref chunk.AllocatedBits![index / 64], ~bit) & bit) == 0)
        {
            throw new InvalidOperationException($"Page 0x{page:X} is not allocated: a double free, or a free of a page never handed out.");
        }

        new Span<ulong>((void*)page, EntriesPerPage).Fill(_poisonValue);
    }
}
