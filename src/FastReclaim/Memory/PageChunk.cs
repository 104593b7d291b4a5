using System.Numerics;

namespace FastReclaim.Memory;

/// <summary>
/// Book-keeping for one chunk of a <see cref="PageAllocator"/>: which of its pages sit in the allocator's shared pool
/// and, in checked mode, which are handed out to callers. The chunk's memory itself holds only the page descriptors.
/// </summary>
internal sealed class PageChunk
{
    private const int BitsPerWord = 64;

    public PageChunk(nint baseAddress, int slot, int pagesPerChunk, int firstUsablePage, bool trackAllocated)
    {
        BaseAddress = baseAddress;
        Slot = slot;
        int words = (pagesPerChunk + BitsPerWord - 1) / BitsPerWord;
        PoolBits = new ulong[words];
        AllocatedBits = trackAllocated ? new ulong[words] : null;
        for (int page = firstUsablePage; page < pagesPerChunk; page++)
        {
            PoolBits[page / BitsPerWord] |= 1UL << (page % BitsPerWord);
        }

        PoolCount = pagesPerChunk - firstUsablePage;
    }

    /// <summary>The chunk's first byte; aligned to the chunk size.</summary>
    public nint BaseAddress { get; }

    /// <summary>Index of this chunk in the allocator's chunk table (also stored in the chunk's header slot).</summary>
    public int Slot { get; }

    /// <summary>Bit i set: page i is in the shared pool. Guarded by the allocator's lock.</summary>
    public ulong[] PoolBits { get; }

    /// <summary>Pages of this chunk in the shared pool. Guarded by the allocator's lock.</summary>
    public int PoolCount { get; set; }

    /// <summary>
    /// Checked mode only: bit i set while page i is handed out to a caller. Flipped with <see cref="Interlocked"/>
    /// by Allocate and Free outside the lock, so of two racing frees of one page exactly one sees the bit set.
    /// </summary>
    public ulong[]? AllocatedBits { get; }

    /// <summary>Moves up to <paramref name="into"/>.Length pages from the pool into <paramref name="into"/>; returns how many.</summary>
    public int TakePages(Span<nint> into)
    {
        int taken = 0;
        for (int word = 0; word < PoolBits.Length && taken < into.Length; word++)
        {
            ulong bits = PoolBits[word];
            while (bits != 0 && taken < into.Length)
            {
                int bit = BitOperations.TrailingZeroCount(bits);
                bits &= bits - 1;
                into[taken++] = BaseAddress + (nint)(((long)word * BitsPerWord + bit) * PageAllocator.PageSize);
            }

            PoolBits[word] = bits;
        }

        PoolCount -= taken;
        return taken;
    }

    /// <summary>Puts page number <paramref name="pageIndex"/> of this chunk back into the pool.</summary>
    public void ReturnPage(int pageIndex)
    {
        PoolBits[pageIndex / BitsPerWord] |= 1UL << (pageIndex % BitsPerWord);
        PoolCount++;
    }
}
