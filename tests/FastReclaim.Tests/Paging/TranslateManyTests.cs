namespace FastReclaim.Tests.Paging;

/// <summary>
/// <see cref="AddressSpace.TranslateMany"/> against <see cref="AddressSpace.TryTranslate(ulong, out ulong, out PageFlags)"/>
/// as the reference, at batch lengths around the pipeline's width, on both of its paths: the plain loop (few PTE
/// tables) and the software pipeline (more PTE tables than <see cref="AddressSpace.CacheResidentPteTables"/>).
/// </summary>
public sealed class TranslateManyTests
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

        int expectedMapped = 0;
        for (int i = 0; i < length; i++)
        {
            bool hit = space.TryTranslate(vas[i], out ulong pa, out _);
            expectedMapped += hit ? 1 : 0;
            Assert.True(pa == pas[i], $"vas[{i}] = 0x{vas[i]:X}: TranslateMany gave 0x{pas[i]:X}, TryTranslate 0x{pa:X}");
        }

        Assert.Equal(expectedMapped, mapped);
        Assert.Equal([Untouched, Untouched, Untouched], pas[length..]);
        if (length >= 100)
        {
            // The mix really is mixed: both hits and misses, so the batch went through both ends of the walk.
            Assert.InRange(mapped, 1, length - 1);
        }
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
