using System.Runtime.InteropServices;
using FastReclaim.Memory;

namespace FastReclaim;

// Allocate and Free: the lock-free fast path through the calling thread's cache.
public sealed unsafe partial class PageAllocator
{
    /// <summary>Returns a zeroed, 4 KiB-aligned page whose descriptor is zeroed.</summary>
    /// <exception cref="OutOfMemoryException">(An <see cref="InsufficientMemoryException"/> when the limit is the allocator's own.) A new chunk would pass <see cref="PageAllocatorOptions.MaxBytes"/>, the arena is full, or the OS refused.</exception>
    /// <exception cref="ObjectDisposedException">The allocator has been disposed.</exception>
    public nint Allocate()
    {
#if FASTRECLAIM_FAULT_INJECTION
        InjectFailure();
#endif
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
    /// <paramref name="page"/> is not a page this allocator hands out, or it is not currently allocated (a double
    /// free). Nothing is changed. Checked mode detects every such free. Unchecked mode detects a misaligned pointer, a
    /// page of another allocator and a second free of a page (one load of the chunk header and one of the page's
    /// descriptor); a pointer into memory that no allocator handed out, or two threads freeing one page at once, may
    /// go unnoticed there (or fault, if the pointer's chunk is not mapped).
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
        else
        {
            MarkFreed(page);
        }

        int count = cache.Count;
        if (count == ThreadCache.Capacity)
        {
            count = Spill(cache);
        }

        cache.Pages[count] = page;
        cache.Count = count + 1;
    }

    /// <summary>Unchecked mode's cheap checks: the chunk is this allocator's, and the page was not freed since it was handed out.</summary>
    private void MarkFreed(nint page)
    {
        if (((int*)(page & ~_chunkMask))[1] != _tag)
        {
            throw ForeignPage(page);
        }

        // The owner's word is never PageDescriptor.Freed while the page is handed out (Allocate zeroes it), so a page
        // that carries it was freed already. Only the page's owner writes the word, so the test and the store need no atomics.
        ref PageDescriptor descriptor = ref DescriptorOf(page);
        if (descriptor.OwnerWord == PageDescriptor.Freed)
        {
            throw NotAllocated(page);
        }

        descriptor.OwnerWord = PageDescriptor.Freed;
    }

    private static InvalidOperationException ForeignPage(nint page) =>
        new($"0x{page:X} is not a page handed out by this {nameof(PageAllocator)}.");

    private static InvalidOperationException NotAllocated(nint page) =>
        new($"Page 0x{page:X} is not allocated: a double free, or a free of a page never handed out.");

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
