using System.Runtime.InteropServices;
using FastReclaim.Memory;

namespace FastReclaim;

// Chunks (or arena slots): adding one, trimming free ones back to the OS, releasing everything on Dispose.
public sealed unsafe partial class PageAllocator
{
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

    /// <summary>
    /// Releases all native memory. Pages handed out become invalid. Must not race with other calls; a second call
    /// does nothing.
    /// </summary>
    /// <exception cref="InvalidOperationException">
    /// An <see cref="AddressSpace"/> still uses this allocator (dispose the space first); nothing is released.
    /// </exception>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            if (_users > 0)
            {
                throw new InvalidOperationException(
                    $"This {nameof(PageAllocator)} still holds the page tables of {_users} address space(s): dispose them first.");
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
            if (!FitsPhysically(chunkBase, _chunkBytes))
            {
                // An Offset mapping near the top of the frame field: this chunk's pages would have no valid frame address.
                NativeMemory.AlignedFree((void*)chunkBase);
                throw new InsufficientMemoryException(
                    $"{nameof(PageAllocator)}: {nameof(FrameMapping)} puts the chunk at 0x{chunkBase:X} at physical 0x{PhysicalOf(chunkBase):X}, not below 0x{FrameMapping.PhysicalLimit:X}.");
            }

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

        // The header lives in the descriptor slot of the chunk's first page, which is never handed out: the slot, and
        // the allocator's tag for unchecked-mode Free.
        *(int*)chunkBase = slot;
        ((int*)chunkBase)[1] = _tag;
        var chunk = new PageChunk(chunkBase, slot, _pagesPerChunk, _descriptorPages, trackAllocated: _poison);
        _chunks[slot] = chunk;
        _chunksByBase?.TryAdd(chunkBase, chunk);
        _chunkBytesInUse += _chunkBytes;
        _poolPages += chunk.PoolCount;
        _poolHint = Math.Min(_poolHint, slot);
    }

    /// <summary>The chunk of a page known to be ours. Caller holds the lock.</summary>
    private PageChunk ChunkOf(nint page) => _chunks[*(int*)(page & ~_chunkMask)]!;
}
