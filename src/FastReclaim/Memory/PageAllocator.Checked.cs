using FastReclaim.Memory;

namespace FastReclaim;

// Checked mode (PageAllocatorOptions.Poison): allocation bits that catch double and foreign frees, and poisoning of freed pages.
public sealed unsafe partial class PageAllocator
{
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
            throw NotAllocated(page);
        }

        new Span<ulong>((void*)page, EntriesPerPage).Fill(_poisonValue);
    }
}
