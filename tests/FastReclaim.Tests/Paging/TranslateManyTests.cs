using System.Runtime.InteropServices;

namespace FastReclaim.Tests.Paging;

/// <summary>
/// <see cref="AddressSpace.TranslateMany"/> against <see cref="AddressSpace.TryTranslate(ulong, out ulong, out PageFlags)"/>
/// as the reference, at batch lengths around the pipeline's width, on both of its paths: the plain loop (few PTE
/// tables) and the software pipeline (more PTE tables than <see cref="AddressSpace.CacheResidentPteTables"/>).
/// </summary>
public sealed unsafe class TranslateManyTests
{
    private const ulong Page = PageAllocator.PageSize;
    private const ulong Span2M = 2UL << 20;
    private const ulong Span1G = 1UL << 30;
    private const PageFlags Rw = PageFlags.Present | PageFlags.Writable;

    /// <summary>Marks the output entries past the batch, which TranslateMany must leave alone.</summary>
    private const ulong Untouched = 0xDEAD_BEEF;

    public static TheoryData<int, bool, int> Cases()
    {
        var data = new TheoryData<int, bool, int>();
        foreach (int levels in (int[])[4, 5])
        {
            foreach (bool manyTables in (bool[])[false, true])
            {
                foreach (int length in (int[])[0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 1000])
                {
                    data.Add(levels, manyTables, length);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void TranslateMany_Equals_TryTranslate_For_Mixed_Batches(int levels, bool manyTables, int length)
    {
        using var allocator = new PageAllocator(new PageAllocatorOptions { Poison = true });
        using var space = new AddressSpace(new AddressSpaceOptions { Levels = levels, Allocator = allocator });
        ulong[] candidates = MapMixedSpace(space, levels, manyTables ? (int)AddressSpace.CacheResidentPteTables + 44 : 3);
        Assert.Equal(manyTables, space.Stats.PteTables > AddressSpace.CacheResidentPteTables);

        var random = new Random(length + (levels * 7919) + (manyTables ? 1 : 0));
        ulong[] vas = [.. Enumerable.Range(0, length).Select(_ => candidates[random.Next(candidates.Length)] + (ulong)random.Next((int)Page))];
        var pas = new ulong[length + 3];
        Array.Fill(pas, Untouched);

        int mapped = space.TranslateMany(vas, pas);

        Assert.Equal(AssertEachMatchesTryTranslate(space, vas, pas, $"{levels} levels"), mapped);
        Assert.Equal([Untouched, Untouched, Untouched], pas[length..]);
        if (length >= 100)
        {
            // The mix really is mixed: both hits and misses, so the batch went through both ends of the walk.
            Assert.InRange(mapped, 1, length - 1);
        }
    }

    public static TheoryData<PageTableFormat, int, bool> FormatCases()
    {
        var data = new TheoryData<PageTableFormat, int, bool>();
        foreach ((PageTableFormat format, int levels) in (ReadOnlySpan<(PageTableFormat, int)>)[
            (PageTableFormat.X64, 4), (PageTableFormat.X64, 5), (PageTableFormat.Arm64, 3), (PageTableFormat.Arm64, 4),
            (PageTableFormat.Arm64, 5), (PageTableFormat.RiscV64, 3), (PageTableFormat.RiscV64, 4), (PageTableFormat.RiscV64, 5)])
        {
            data.Add(format, levels, false);
            data.Add(format, levels, true);
        }

        return data;
    }

    /// <summary>
    /// The software pipeline and its cache of PMD tables (<c>PmdTableCache</c>: 16 entries, GiB regions direct-mapped by
    /// <c>va &gt;&gt; 30</c>) in every format and depth, with and without interval reclamation: a batch that moves between
    /// GiB regions that share a cache way (8, 24, 40 and 56 GiB), regions whose walk ends above the PMD table (a 1 GiB
    /// leaf, an absent PUD entry, addresses outside the format's range, which are never cached) and regions of 2 MiB
    /// leaves, against <see cref="AddressSpace.TryTranslate(ulong, out ulong, out PageFlags)"/>.
    /// </summary>
    [Theory]
    [MemberData(nameof(FormatCases))]
    public void The_Pipelined_Batch_Equals_TryTranslate_In_Every_Format_Across_Colliding_Regions(PageTableFormat format, int levels, bool intervalReclaim)
    {
        using var allocator = new PageAllocator(new PageAllocatorOptions { Poison = true });
        using var space = new AddressSpace(new AddressSpaceOptions { Format = format, Levels = levels, Allocator = allocator, IntervalReclaim = intervalReclaim });

        // Everything below 2^38, which every format and depth translates (Sv39's lower half).
        const ulong gib = Span1G;
        var candidates = new List<ulong>();
        ulong physical = 0x10_0000;
        for (int t = 0; t < (int)AddressSpace.CacheResidentPteTables + 44; t++)
        {
            ulong va = (8 * gib) + ((ulong)t * Span2M) + ((ulong)(t % 512) * Page);
            space.Map(va, physical, Page, Rw);
            physical += Page;
            candidates.AddRange([va, va + Page]);
        }

        foreach (ulong region in (ulong[])[24, 40, 56])
        {
            ulong va = (region * gib) + (5 * Span2M) + (7 * Page);
            space.Map(va, physical, 2 * Page, Rw);
            physical += 2 * Page;
            candidates.AddRange([va, va + Page, va + (2 * Page), va + Span2M]);
        }

        space.Map(100 * gib, 0x4000_0000, 2 * Span2M, Rw, LeafSize.Size2M);
        space.Map(101 * gib, 0x8000_0000, gib, Rw, LeafSize.Size1G);
        candidates.AddRange([100 * gib, (100 * gib) + Span2M + (3 * Page), (100 * gib) + (2 * Span2M), 101 * gib, (101 * gib) + (777 * Page)]);
        candidates.AddRange([150 * gib, 1UL << 38, 1UL << 47, 1UL << 62, ulong.MaxValue & ~(Page - 1)]);
        Assert.True(space.Stats.PteTables > AddressSpace.CacheResidentPteTables);

        var random = new Random(levels + (intervalReclaim ? 100 : 0) + ((int)format * 1000));
        ulong[] vas = [.. Enumerable.Range(0, 2000).Select(_ => candidates[random.Next(candidates.Count)] + (ulong)random.Next((int)Page))];
        var pas = new ulong[vas.Length];
        int mapped = space.TranslateMany(vas, pas);

        Assert.Equal(AssertEachMatchesTryTranslate(space, vas, pas, $"{format}, {levels} levels"), mapped);
        Assert.InRange(mapped, 1, vas.Length - 1);
    }

    /// <summary>
    /// The PMD-table cache's safety argument under churn: a writer maps a page in each of four GiB regions and unmaps
    /// the regions whole, over and over, so their PMD tables are unhooked, retired and freed (poisoned) after their grace
    /// periods and new ones hooked in their place, while a reader translates long pipelined batches over those pages.
    /// Every result must be 0 or the page's frame: a batch that read a freed PMD table through its cache reads the
    /// poison as a table reference and returns the trap page. Fails with the cache kept across batches (a thread-static
    /// cache, tried by hand: 1.0–1.9 million poisoned reads in each of 3 runs of a second).
    /// </summary>
    [Fact]
    public void A_Batch_Never_Reads_A_Freed_Pmd_Table_While_Its_Region_Is_Emptied_And_Refilled()
    {
        nint trap = (nint)NativeMemory.AlignedAlloc((nuint)Page, (nuint)Page);
        try
        {
            ulong poison = (ulong)trap | (ulong)PageFlags.Present;
            new Span<ulong>((void*)trap, (int)(Page / sizeof(ulong))).Fill(poison);
            using var allocator = new PageAllocator(new PageAllocatorOptions { Poison = true, PoisonValue = poison });
            using var epoch = new EpochDomain(new EpochOptions { CollectThreshold = 1 });
            using var space = new AddressSpace(new AddressSpaceOptions { Allocator = allocator, Epoch = epoch });

            // Ballast elsewhere keeps the batches on the pipeline (more PTE tables than the caches hold).
            for (long t = 0; t <= AddressSpace.CacheResidentPteTables; t++)
            {
                space.Map((64 * Span1G) + ((ulong)t * Span2M), 0x10_0000, Page, Rw);
            }

            ulong[] regions = [8 * Span1G, 9 * Span1G, 24 * Span1G, 40 * Span1G];
            static ulong FrameOf(ulong va) => 0x100_0000_0000 + va;
            ulong[] pages = [.. regions.SelectMany(r => (ulong[])[r + (3 * Span2M) + (5 * Page), r + (200 * Span2M) + (9 * Page)])];

            long ballastPmdTables = space.Stats.PmdTables;
            long poisoned = 0, wrong = 0, hits = 0, churns = 0, pmdTablesLeft = 0;
            Exception? failure = null;
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(1));

            // An exception ends both threads and the test, instead of the process.
            void Guarded(Action body)
            {
                try
                {
                    body();
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref failure, e, null);
                    stop.Cancel();
                }
            }

            var writer = new Thread(() => Guarded(() =>
            {
                while (!stop.IsCancellationRequested)
                {
                    foreach (ulong va in pages)
                    {
                        space.Map(va, FrameOf(va), Page, Rw);
                    }

                    foreach (ulong region in regions)
                    {
                        space.Unmap(region, Span1G);
                    }

                    // Unmap frees what free_pgd_range would: the regions' PMD tables go with their last page.
                    pmdTablesLeft += space.Stats.PmdTables - ballastPmdTables;
                    churns++;
                }
            }));
            var reader = new Thread(() => Guarded(() =>
            {
                var random = new Random(5);
                ulong[] batch = new ulong[256];
                ulong[] results = new ulong[batch.Length];
                while (!stop.IsCancellationRequested)
                {
                    for (int i = 0; i < batch.Length; i++)
                    {
                        batch[i] = pages[random.Next(pages.Length)];
                    }

                    space.TranslateMany(batch, results);
                    for (int i = 0; i < batch.Length; i++)
                    {
                        if (results[i] == 0)
                        {
                            continue;
                        }

                        hits++;
                        if ((results[i] & ~(Page - 1)) == (ulong)trap)
                        {
                            poisoned++;
                        }
                        else if (results[i] != FrameOf(batch[i]))
                        {
                            wrong++;
                        }
                    }
                }
            }));
            writer.Start();
            reader.Start();
            writer.Join();
            reader.Join();

            Assert.Null(failure);
            Assert.Equal((0L, 0L), (poisoned, wrong));
            Assert.True(churns > 100 && hits > 1000, $"{churns} churns, {hits} hits: the test did not exercise the churn");
            Assert.Equal(0, pmdTablesLeft);
            Assert.True(epoch.Stats.Freed > 4 * churns, $"{epoch.Stats.Freed} tables freed in {churns} churns: the unhooked tables were not freed");
        }
        finally
        {
            NativeMemory.AlignedFree((void*)trap);
        }
    }

    /// <summary>Asserts that each of <paramref name="pas"/> is what TryTranslate gives its address; returns how many TryTranslate maps.</summary>
    private static int AssertEachMatchesTryTranslate(AddressSpace space, ulong[] vas, ulong[] pas, string label)
    {
        int mapped = 0;
        for (int i = 0; i < vas.Length; i++)
        {
            mapped += space.TryTranslate(vas[i], out ulong pa, out _) ? 1 : 0;
            Assert.True(pa == pas[i], $"{label}: vas[{i}] = 0x{vas[i]:X}: TranslateMany gave 0x{pas[i]:X}, TryTranslate 0x{pa:X}");
        }

        return mapped;
    }

    /// <summary>
    /// Maps, in the lower and the upper canonical half, <paramref name="pteTables"/> PTE tables with one 4 KiB page
    /// each (every other page of a table is a hole), 2 MiB leaves and a 1 GiB leaf; returns page addresses that hit
    /// each kind of leaf and each kind of miss (hole in a PTE table, absent PMD, PUD and top-level entries,
    /// non-canonical).
    /// </summary>
    private static ulong[] MapMixedSpace(AddressSpace space, int levels, int pteTables)
    {
        ulong half = 1UL << ((levels == 5 ? 57 : 48) - 1);
        ulong low = 0x1000_0000_0000 & (half - 1);
        ulong high = unchecked(0 - half) + (half / 2);
        var candidates = new List<ulong>();
        for (int t = 0; t < pteTables; t++)
        {
            ulong va = low + ((ulong)t * Span2M) + ((ulong)(t % 512) * Page);
            space.Map(va, 0x10_0000 + ((ulong)t * Page), Page, Rw | PageFlags.User);
            candidates.Add(va);
            candidates.Add(va + Page);                                       // hole in a present PTE table
        }

        ulong large = low + Span1G;
        space.Map(large, 0x4000_0000, 4 * Span2M, Rw, LeafSize.Size2M);
        space.Map(large + Span1G, 0x8000_0000, Span1G, Rw | PageFlags.NoExecute, LeafSize.Size1G);
        space.Map(high, 0x2_0000_0000, 2 * Page, Rw);
        candidates.AddRange([large, large + Span2M + (17 * Page), large + (3 * Span2M) + (511 * Page)]);
        candidates.AddRange([large + Span1G, large + Span1G + (12345 * Page)]);
        candidates.AddRange([high, high + Page, high + (2 * Page)]);
        candidates.Add(large + (4 * Span2M));                                // absent PMD entry
        candidates.Add(large + (2 * Span1G));                                // absent PUD entry
        candidates.Add(low + (half / 4));                                    // absent top-level entry
        candidates.AddRange([half, unchecked(0 - half - Page), low ^ (1UL << 62)]);   // non-canonical
        return [.. candidates];
    }
}
