using FastReclaim.Memory;

namespace FastReclaim;

// The shared pool behind the thread caches: refill, spill, draining exited threads. Everything here runs under _lock.
public sealed partial class PageAllocator
{
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
}
