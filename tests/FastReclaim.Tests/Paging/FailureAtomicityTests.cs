namespace FastReclaim.Tests.Paging;

/// <summary>
/// Every public operation either completes or throws with the space as it was: these reproduce issue 15's
/// failures of the paging side (a Map out of memory, a disposed dependency, a bad frame mapping, a Dispose that
/// must give every table back).
/// </summary>
public sealed class FailureAtomicityTests
{
    private const ulong Page = PageAllocator.PageSize;
    private const ulong Span1G = 1UL << 30;
    private const ulong Base = 0x1000_0000_0000;
    private const int ChunkBytes = 64 * 1024;
    private const long MaxBytes = 8 * ChunkBytes;

    /// <summary>An allocator with a small limit and an address space on it; <see cref="LeaveFree"/> fixes how many pages remain.</summary>
    private sealed class Tight : IDisposable
    {
        private readonly List<nint> _held = [];

        internal Tight(int levels = 4)
        {
            Allocator = new PageAllocator(new PageAllocatorOptions { Poison = true, ChunkBytes = ChunkBytes, MaxBytes = MaxBytes });
            Space = new AddressSpace(new AddressSpaceOptions { Levels = levels, Allocator = Allocator });
        }

        internal PageAllocator Allocator { get; }

        internal AddressSpace Space { get; }

        /// <summary>Takes every free page, then gives <paramref name="pages"/> of them back.</summary>
        internal void LeaveFree(int pages)
        {
            while (true)
            {
                try
                {
                    _held.Add(Allocator.Allocate());
                }
                catch (OutOfMemoryException)
                {
                    break;
                }
            }

            Assert.True(_held.Count >= pages, $"only {_held.Count} pages were free");
            for (int i = 0; i < pages; i++)
            {
                Allocator.Free(_held[^1]);
                _held.RemoveAt(_held.Count - 1);
            }
        }

        internal void ReleaseHeld()
        {
            _held.ForEach(Allocator.Free);
            _held.Clear();
        }

        public void Dispose()
        {
            ReleaseHeld();
            Space.Dispose();
            Assert.Equal(0, Allocator.AllocatedPages);
            Allocator.Dispose();
        }
    }

    private static (PageTableStats Stats, long Allocated, int Translating) Observe(Tight t, ulong va, int pages)
    {
        int translating = 0;
        for (int i = 0; i < pages; i++)
        {
            translating += t.Space.TryTranslate(va + ((ulong)i * Page), out _, out _) ? 1 : 0;
        }

        return (t.Space.Stats, t.Allocator.AllocatedPages, translating);
    }

    [Fact]
    public void Map_That_Runs_Out_Of_Tables_Changes_Nothing_And_A_Retry_After_Memory_Is_Freed_Succeeds()
    {
        // The case: 506 pages mapped, then a Map of 2048 pages (4 PTE tables) when only 2 tables fit.
        using var t = new Tight();
        t.Space.Map(Base - (506 * Page), 0x10_0000, 506 * Page, PageFlags.Writable);
        const ulong Va = Base + (8 * Span1G);
        t.LeaveFree(2);
        var before = Observe(t, Va, 2048);

        Assert.ThrowsAny<OutOfMemoryException>(() => t.Space.Map(Va, 0x4000_0000, 2048 * Page, PageFlags.Writable));

        Assert.Equal(before, Observe(t, Va, 2048));
        Assert.Equal(506, before.Stats.MappedPages);
        Assert.Equal(0, before.Translating);

        t.ReleaseHeld();
        t.Space.Map(Va, 0x4000_0000, 2048 * Page, PageFlags.Writable);
        Assert.Equal(2048, Observe(t, Va, 2048).Translating);
        Assert.Equal(506 + 2048, t.Space.Stats.MappedPages);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(5)]
    public void Map_Needing_Pud_Pmd_And_Pte_Tables_With_One_Free_Page_Leaves_No_Table_Behind(int levels)
    {
        using var t = new Tight(levels);
        t.LeaveFree(1);
        var before = Observe(t, Base, 1);

        Assert.ThrowsAny<OutOfMemoryException>(() => t.Space.Map(Base, 0x1000, Page, PageFlags.None));

        Assert.Equal(before, Observe(t, Base, 1));
        Assert.Equal(0, t.Space.Stats.PageTableBytes);
    }

    [Theory]
    [InlineData(4, 5)]
    [InlineData(5, 6)]
    public void Map_Reserves_Exactly_The_Tables_It_Needs(int levels, int tablesNeeded)
    {
        // Four pages across a 1 GiB boundary in an empty space: a PUD table (and a P4D table with 5 levels), two PMD
        // tables and two PTE tables. One page fewer than that fails and changes nothing; exactly that many succeeds.
        const ulong Va = Base + Span1G - (2 * Page);
        using var t = new Tight(levels);
        t.LeaveFree(tablesNeeded - 1);
        var before = Observe(t, Va, 4);
        Assert.ThrowsAny<OutOfMemoryException>(() => t.Space.Map(Va, 0x20_0000, 4 * Page, PageFlags.Writable));
        Assert.Equal(before, Observe(t, Va, 4));

        t.ReleaseHeld();
        t.LeaveFree(tablesNeeded);
        t.Space.Map(Va, 0x20_0000, 4 * Page, PageFlags.Writable);
        Assert.Equal(4, Observe(t, Va, 4).Translating);
        Assert.Equal(tablesNeeded * (long)Page, t.Space.Stats.PageTableBytes + (levels == 5 ? (long)Page : 0));
        Assert.ThrowsAny<OutOfMemoryException>(() => t.Allocator.Allocate());
    }

    [Fact]
    public void Members_Read_After_Dispose_Throw_And_A_Second_Dispose_Does_Nothing()
    {
        using var allocator = new PageAllocator(new PageAllocatorOptions { Poison = true });
        var space = new AddressSpace(new AddressSpaceOptions { Allocator = allocator });
        space.Map(Base, 0x1000, 16 * Page, PageFlags.Writable);
        space.Dispose();
        Assert.Equal(0, allocator.AllocatedPages);

        Assert.Throws<ObjectDisposedException>(() => space.Stats);
        Assert.Throws<ObjectDisposedException>(() => space.RootPhysical);
        Assert.Throws<ObjectDisposedException>(() => space.Epoch);
        Assert.Throws<ObjectDisposedException>(() => space.TryTranslate(Base, out _, out _));
        Assert.Throws<ObjectDisposedException>(() => space.Map(Base + (64 * Page), 0x1000, Page, PageFlags.None));

        nint probe = allocator.Allocate();
        space.Dispose();
        Assert.Equal(1, allocator.AllocatedPages);
        allocator.Free(probe);
    }

    [Fact]
    public void A_Throwing_User_Callback_On_The_Shared_Domain_Neither_Fails_Zap_Nor_Dispose_Nor_Keeps_A_Table()
    {
        // The case: a user's callback that throws, queued in the domain the space shares (CollectThreshold 1).
        // Zap and Dispose complete, every table goes back, and the callback's exception is the domain's to report.
        using var allocator = new PageAllocator(new PageAllocatorOptions { Poison = true });
        using var domain = new EpochDomain(new EpochOptions { CollectThreshold = 1 });
        var space = new AddressSpace(new AddressSpaceOptions { Allocator = allocator, Epoch = domain });
        space.Map(Base, 0x1000, 64 * 512 * Page, PageFlags.Writable);
        space.Map(Base + (2 * Span1G), 0x1000, 16 * Page, PageFlags.Writable);
        domain.Retire(1, static _ => throw new InvalidOperationException("user callback failed"));

        Assert.Equal(64, space.Zap(Base, 64 * 512 * Page).ReclaimedTables);
        space.Map(Base, 0x1000, Page, PageFlags.Writable);
        space.Dispose();
        space.Dispose();

        Assert.Equal(0, allocator.AllocatedPages);
        var e = Assert.Throws<AggregateException>(domain.Barrier);
        Assert.Equal("user callback failed", Assert.Single(e.InnerExceptions).Message);
    }

    [Fact]
    public void Disposing_The_Shared_Domain_Under_A_Space_Throws_Naming_It_And_Changes_Nothing()
    {
        using var allocator = new PageAllocator(new PageAllocatorOptions { Poison = true });
        var domain = new EpochDomain();
        var space = new AddressSpace(new AddressSpaceOptions { Allocator = allocator, Epoch = domain });
        space.Map(Base, 0x1000, 4 * Page, PageFlags.Writable);
        space.Zap(Base, 4 * Page);

        var e = Assert.Throws<InvalidOperationException>(domain.Dispose);
        Assert.Contains(space.ToString(), e.Message);
        Assert.Equal(0, space.Stats.MappedPages);
        space.Map(Base, 0x2000, Page, PageFlags.Writable);

        space.Dispose();
        Assert.Equal(0, allocator.AllocatedPages);
        domain.Dispose();
        Assert.Throws<ObjectDisposedException>(() => new AddressSpace(new AddressSpaceOptions { Allocator = allocator, Epoch = domain }));
        Assert.Equal(0, allocator.AllocatedPages);
    }
}
