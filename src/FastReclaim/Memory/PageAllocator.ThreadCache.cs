
namespace FastReclaim;

public sealed partial class PageAllocator
{
    /// <summary>
    /// One thread's stack of free pages for one allocator. Only its thread pushes and pops; other threads read
    /// <see cref="Count"/> (racily, for <see cref="AllocatedPages"/>) and, under the allocator lock, drain it once
    /// the thread has exited.
    /// </summary>
    private sealed class ThreadCache(PageAllocator owner)
    {
        /// <summary>
        /// Pages a thread keeps. 64 pages (256 KiB) absorb the allocate/free bursts of building or zapping one
        /// PTE table's neighbourhood without touching the lock, while bounding what idle threads hold.
        /// </summary>
        public const int Capacity = 64;

        /// <summary>Pages moved per refill or spill: half the capacity, so alternating allocate/free never thrashes the lock.</summary>
        public const int TransferBatch = Capacity / 2;

        public readonly nint[] Pages = new nint[Capacity];

        public readonly Thread Thread = Thread.CurrentThread;

        /// <summary>Set to null when the allocator is disposed or the thread's pages are taken back.</summary>
        public PageAllocator? Owner = owner;

        public int Count;
    }
}
