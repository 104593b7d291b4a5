namespace FastReclaim.Tests.Paging;

/// <summary>
/// An address space over a checked (poisoning) allocator the test can inspect; disposing it checks that the space
/// gave every table back.
/// </summary>
internal sealed class SpaceFixture : IDisposable
{
    /// <param name="policy">The space's reclaim policy.</param>
    /// <param name="levels">Paging levels.</param>
    /// <param name="maxBytes">The allocator's limit (0 = none); a limited allocator uses 64 KiB chunks, so the limit is fine-grained.</param>
    /// <param name="format">The entries' hardware format.</param>
    internal SpaceFixture(ReclaimPolicy policy = ReclaimPolicy.Linux, int levels = 4, long maxBytes = 0, PageTableFormat format = PageTableFormat.X64)
    {
        Allocator = new PageAllocator(new PageAllocatorOptions
        {
            Poison = true,
            MaxBytes = maxBytes,
            ChunkBytes = maxBytes == 0 ? PageAllocatorOptions.DefaultChunkBytes : 64 * 1024,
        });
        Space = new AddressSpace(new AddressSpaceOptions { Policy = policy, Levels = levels, Allocator = Allocator, Format = format });
    }

    internal PageAllocator Allocator { get; }

    internal AddressSpace Space { get; }

    public void Dispose()
    {
        Space.Dispose();
        Assert.Equal(0, Allocator.AllocatedPages);
        Allocator.Dispose();
    }
}
