using System.Runtime.InteropServices;

namespace FastReclaim;

// Allocate and Free: the lock-free fast path through the calling thread's cache.
public sealed unsafe partial class PageAllocator
{
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
}
