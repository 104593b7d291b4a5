namespace FastReclaim.Tests.Paging.Formats;

/// <summary>
/// The Arm64 and RISC-V formats, checked by walking the tables the engine builds with the independent walkers of
/// this folder (written from the architecture manuals, sharing no decoding with the library).
/// </summary>
public sealed class FormatTests
{
    private const ulong Page = PageAllocator.PageSize;
    private const ulong Span2M = 2UL << 20;
    private const ulong Span1G = 1UL << 30;

    /// <summary>Below 2^38: an address every format translates at every level (Arm64 39-bit TTBR0, Sv39's lower half).</summary>
    private const ulong Base = 0x20_0000_0000;
    private const ulong Frame = 0x40_0000_0000;
    private const PageFlags Rw = PageFlags.Writable | PageFlags.User;

    /// <summary>The engine's level of the tables whose entries map 2 MiB (Arm64 level 2, RISC-V level 1).</summary>
    private const int PmdLevel = 2;

    /// <summary>What Translate reports beside the flags mapped: both formats set the access flag on every leaf.</summary>
    private const PageFlags AlwaysSet = PageFlags.Present | PageFlags.Accessed;

    public static TheoryData<PageTableFormat, int> Formats => new()
    {
        { PageTableFormat.Arm64, 3 },
        { PageTableFormat.Arm64, 4 },
        { PageTableFormat.Arm64, 5 },
        { PageTableFormat.RiscV64, 3 },
        { PageTableFormat.RiscV64, 4 },
        { PageTableFormat.RiscV64, 5 },
    };

    private static void AssertLeaf(HardwareWalker walker, ulong va, ulong pa, ulong leafBytes, PageFlags flags)
    {
        HardwareLeaf? leaf = walker.Translate(va);
        Assert.True(leaf.HasValue, $"0x{va:X} does not translate");
        HardwareLeaf l = leaf.Value;
        Assert.Equal((pa, leafBytes), (l.Physical, l.LeafBytes));
        Assert.True(l.Readable && l.Accessed, $"0x{va:X}: a leaf is readable and has its access flag");
        Assert.Equal((flags & PageFlags.Writable) != 0, l.Writable);
        Assert.Equal((flags & PageFlags.User) != 0, l.User);
        Assert.Equal((flags & PageFlags.NoExecute) == 0, l.Executable);
        Assert.Equal((flags & PageFlags.Global) != 0, l.Global);
        Assert.Equal((flags & PageFlags.Dirty) != 0, l.Dirty);
    }

    private static void AssertTranslates(AddressSpace space, ulong va, ulong pa, PageFlags flags)
    {
        Assert.True(space.TryTranslate(va, out ulong found, out PageFlags foundFlags), $"0x{va:X} is not mapped");
        Assert.Equal((pa, flags | AlwaysSet), (found, foundFlags));
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void Every_Page_And_Leaf_Decodes_To_Its_Frame_With_Its_Permissions(PageTableFormat format, int levels)
    {
        using var f = new SpaceFixture(levels: levels, format: format);
        var walker = new HardwareWalker(f.Space, f.Allocator);

        // 700 pages across a PTE table boundary, three read-only no-exec 2 MiB leaves, a writable global 1 GiB leaf.
        const int Pages = 700;
        ulong pagesVa = Base + Span2M - (188 * Page);
        f.Space.Map(pagesVa, Frame, Pages * Page, Rw);
        ulong blocksVa = Base + (64 * Span2M);
        ulong blocksPa = Frame + Span1G;
        const PageFlags ReadOnlyNoExec = PageFlags.NoExecute | PageFlags.Dirty;
        f.Space.Map(blocksVa, blocksPa, 3 * Span2M, ReadOnlyNoExec, LeafSize.Size2M);
        ulong gigaVa = Base + (2 * Span1G);
        ulong gigaPa = Frame + (4 * Span1G);
        const PageFlags WritableGlobal = PageFlags.Writable | PageFlags.Global;
        f.Space.Map(gigaVa, gigaPa, Span1G, WritableGlobal, LeafSize.Size1G);

        for (ulong i = 0; i < Pages; i++)
        {
            AssertLeaf(walker, pagesVa + (i * Page) + 0x123, Frame + (i * Page) + 0x123, Page, Rw);
            AssertTranslates(f.Space, pagesVa + (i * Page) + 0x123, Frame + (i * Page) + 0x123, Rw);
        }

        for (ulong offset = 0; offset < 3 * Span2M; offset += Page)
        {
            AssertLeaf(walker, blocksVa + offset + 8, blocksPa + offset + 8, Span2M, ReadOnlyNoExec);
            AssertTranslates(f.Space, blocksVa + offset + 8, blocksPa + offset + 8, ReadOnlyNoExec);
        }

        for (ulong offset = 0; offset < Span1G; offset += Span2M + (5 * Page))
        {
            AssertLeaf(walker, gigaVa + offset, gigaPa + offset, Span1G, WritableGlobal);
            AssertTranslates(f.Space, gigaVa + offset, gigaPa + offset, WritableGlobal);
        }

        foreach (ulong hole in new[] { pagesVa - Page, pagesVa + (Pages * Page), blocksVa + (3 * Span2M), gigaVa - 1, gigaVa + Span1G })
        {
            Assert.Null(walker.Translate(hole));
            Assert.False(f.Space.TryTranslate(hole, out _, out _));
        }
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void A_Wholly_Zapped_Pte_Table_Is_Unhooked_Under_Linux_And_A_Half_Zapped_One_Stays(PageTableFormat format, int levels)
    {
        using var f = new SpaceFixture(ReclaimPolicy.Linux, levels, format: format);
        var walker = new HardwareWalker(f.Space, f.Allocator);
        f.Space.Map(Base, Frame, (2 * Span2M) + Page, Rw);
        Assert.Equal(3, f.Space.Stats.PteTables);
        ulong secondTable = walker.EntryAt(Base + Span2M, PmdLevel) ?? 0;
        Assert.NotEqual(0UL, walker.EntryAt(Base, PmdLevel) ?? 0);

        ZapResult whole = f.Space.Zap(Base, Span2M);
        ZapResult half = f.Space.Zap(Base + Span2M, Span2M / 2);

        Assert.Equal((1, 0), (whole.ReclaimedTables, half.ReclaimedTables));
        Assert.Equal(2, f.Space.Stats.PteTables);
        Assert.Equal(0UL, walker.EntryAt(Base, PmdLevel)); // the PMD entry is invalid: the table is unhooked
        Assert.Equal(secondTable, walker.EntryAt(Base + Span2M, PmdLevel)); // still the same table
        for (ulong offset = 0; offset < 2 * Span2M; offset += Page)
        {
            bool mapped = offset >= Span2M + (Span2M / 2);
            Assert.Equal(mapped, walker.Translate(Base + offset).HasValue);
        }

        long before = f.Allocator.AllocatedPages;
        f.Space.Epoch.Barrier();
        Assert.Equal(before - 1, f.Allocator.AllocatedPages); // the unhooked table, freed after its grace period
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void Splits_Of_A_Gigabyte_Leaf_Keep_Every_Frame_And_Apply_The_New_Permission(PageTableFormat format, int levels)
    {
        using var f = new SpaceFixture(ReclaimPolicy.Linux, levels, format: format);
        var walker = new HardwareWalker(f.Space, f.Allocator);
        f.Space.Map(Base, Frame, Span1G, Rw, LeafSize.Size1G);
        ulong target = (5 * Span2M) + (7 * Page);
        ulong zapped = (9 * Span2M) + (3 * Page);

        f.Space.Protect(Base + target, Page, PageFlags.NoExecute);
        f.Space.Zap(Base + zapped, Page);

        for (ulong offset = 0; offset < Span1G; offset += Page)
        {
            ulong span = offset / Span2M;
            if (offset == zapped)
            {
                Assert.Null(walker.Translate(Base + offset));
                continue;
            }

            ulong leafBytes = span is 5 or 9 ? Page : Span2M;
            AssertLeaf(walker, Base + offset, Frame + offset, leafBytes, offset == target ? PageFlags.NoExecute : Rw);
        }
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void Collapse_Makes_One_Block_Of_The_Same_Frames_And_Leaves_A_Broken_Run_Alone(PageTableFormat format, int levels)
    {
        using var f = new SpaceFixture(ReclaimPolicy.Linux, levels, format: format);
        var walker = new HardwareWalker(f.Space, f.Allocator);
        const PageFlags Flags = PageFlags.Writable | PageFlags.Dirty;
        f.Space.Map(Base, Frame + Span2M, Span2M, Flags);
        f.Space.Map(Base + Span2M, Frame + (4 * Span2M), Span2M - Page, Flags);
        f.Space.Map(Base + (2 * Span2M) - Page, Frame + (8 * Span2M), Page, Flags); // the last frame is out of the run

        Assert.Equal(1, f.Space.Collapse(Base, 2 * Span2M));

        for (ulong offset = 0; offset < 2 * Span2M; offset += Page)
        {
            bool collapsed = offset < Span2M;
            ulong pa = collapsed ? Frame + Span2M + offset : offset == (2 * Span2M) - Page ? Frame + (8 * Span2M) : Frame + (4 * Span2M) + offset - Span2M;
            AssertLeaf(walker, Base + offset + 0x10, pa + 0x10, collapsed ? Span2M : Page, Flags);
            AssertTranslates(f.Space, Base + offset + 0x10, pa + 0x10, Flags);
        }
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void Every_Flag_Combination_Decodes_To_The_Hardware_Bits_The_Mapping_Documents(PageTableFormat format, int levels)
    {
        using var f = new SpaceFixture(levels: levels, format: format);
        var walker = new HardwareWalker(f.Space, f.Allocator);
        PageFlags[] bits = [PageFlags.Writable, PageFlags.User, PageFlags.WriteThrough, PageFlags.CacheDisable,
            PageFlags.Accessed, PageFlags.Dirty, PageFlags.Global, PageFlags.NoExecute];
        for (int mask = 0; mask < 1 << bits.Length; mask++)
        {
            PageFlags flags = PageFlags.None;
            for (int b = 0; b < bits.Length; b++)
            {
                flags |= (mask & (1 << b)) != 0 ? bits[b] : PageFlags.None;
            }

            ulong va = Base + ((ulong)mask * Page);
            ulong pa = Frame + ((ulong)mask * Page);
            PageFlags memoryType = flags & (PageFlags.WriteThrough | PageFlags.CacheDisable);
            if (format == PageTableFormat.RiscV64 && memoryType != PageFlags.None)
            {
                // No memory-type bits in a RISC-V PTE: refused, nothing mapped.
                var e = Assert.Throws<ArgumentException>(() => f.Space.Map(va, pa, Page, flags));
                Assert.Contains(memoryType.ToString(), e.Message, StringComparison.Ordinal);
                Assert.Null(walker.Translate(va));
                continue;
            }

            f.Space.Map(va, pa, Page, flags);
            AssertLeaf(walker, va, pa, Page, flags);
            AssertTranslates(f.Space, va, pa, flags & ~PageFlags.Accessed);
            if (format == PageTableFormat.Arm64)
            {
                Arm64Translation a = walker.Arm64.Translate(va)!.Value;
                byte attribute = (byte)(AddressSpace.Arm64Mair >> (8 * a.AttrIndex));
                byte expected = memoryType switch
                {
                    PageFlags.None => 0xFF, // Normal, inner and outer write-back
                    PageFlags.WriteThrough => 0xBB, // Normal, write-through
                    PageFlags.CacheDisable => 0x44, // Normal, non-cacheable (x86-64 UC-)
                    _ => 0x00, // Device-nGnRnE (x86-64 UC)
                };
                Assert.Equal(expected, attribute);
                Assert.Equal(levels == 5 ? 0 : 3, a.Shareability); // inner shareable (with LPA2: TCR_EL1.SH0's)
                Assert.False(a.Dbm);
                Assert.Equal(a.UserExecuteNever, a.PrivilegedExecuteNever);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void Protect_Rewrites_The_Permissions_The_Walker_Sees(PageTableFormat format, int levels)
    {
        using var f = new SpaceFixture(levels: levels, format: format);
        var walker = new HardwareWalker(f.Space, f.Allocator);
        f.Space.Map(Base, Frame, 4 * Span2M, Rw, LeafSize.Size2M);
        f.Space.Map(Base + (4 * Span2M), Frame + (4 * Span2M), 16 * Page, Rw);

        f.Space.Protect(Base, (4 * Span2M) + (16 * Page), PageFlags.NoExecute);

        for (ulong offset = 0; offset < (4 * Span2M) + (16 * Page); offset += Page)
        {
            AssertLeaf(walker, Base + offset, Frame + offset, offset < 4 * Span2M ? Span2M : Page, PageFlags.NoExecute);
        }
    }

    [Theory]
    [InlineData(PageTableFormat.X64, 3)]
    [InlineData(PageTableFormat.X64, 6)]
    [InlineData(PageTableFormat.Arm64, 2)]
    [InlineData(PageTableFormat.Arm64, 6)]
    [InlineData(PageTableFormat.RiscV64, 0)]
    [InlineData(PageTableFormat.RiscV64, 6)]
    [InlineData((PageTableFormat)7, 4)]
    public void A_Level_Count_The_Format_Does_Not_Have_Is_Refused_With_Nothing_Allocated(PageTableFormat format, int levels)
    {
        using var allocator = new PageAllocator(new PageAllocatorOptions { Poison = true });
        using var epoch = new EpochDomain();

        var e = Assert.Throws<ArgumentOutOfRangeException>(
            () => new AddressSpace(new AddressSpaceOptions { Format = format, Levels = levels, Allocator = allocator, Epoch = epoch }));

        Assert.Contains(Enum.IsDefined(format) ? $"not {levels}" : $"format {format}", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, allocator.AllocatedPages);
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void Bad_Input_Is_Refused_With_The_Space_Unchanged(PageTableFormat format, int levels)
    {
        using var f = new SpaceFixture(levels: levels, format: format);
        var walker = new HardwareWalker(f.Space, f.Allocator);
        f.Space.Map(Base, Frame, 4 * Page, Rw);
        PageTableStats stats = f.Space.Stats;
        long pages = f.Allocator.AllocatedPages;
        int bits = format == PageTableFormat.Arm64 ? levels switch { 3 => 39, 4 => 48, _ => 52 } : 12 + (9 * levels);
        ulong beyond = format == PageTableFormat.Arm64 ? 1UL << bits : 1UL << (bits - 1); // first address the format does not translate

        var refusals = new List<(Action Call, string Value)>
        {
            (() => f.Space.Map(beyond, Frame, Page, Rw), $"0x{beyond:X}"),
            (() => f.Space.Map(beyond - Page, Frame, 2 * Page, Rw), "0x2000"),
            (() => f.Space.Zap(beyond, Page), $"0x{beyond:X}"),
            (() => f.Space.Map(Base + Page, Frame, Page, Rw), $"0x{Base + Page:X}"), // already mapped
        };
        if (format == PageTableFormat.Arm64)
        {
            refusals.Add((() => f.Space.Map(0xFFFF_FFFF_FFE0_0000, Frame, Page, Rw), "0xFFFFFFFFFFE00000")); // TTBR1's half
        }

        if (format == PageTableFormat.Arm64 && levels < 5)
        {
            refusals.Add((() => f.Space.Map(Base + Span2M, 1UL << 48, Page, Rw), "0x1000000000000")); // 48-bit output addresses
        }

        if (format == PageTableFormat.RiscV64)
        {
            refusals.Add((() => f.Space.Map(Base + Span2M, Frame, Page, PageFlags.CacheDisable), "CacheDisable"));
            refusals.Add((() => f.Space.Protect(Base, 4 * Page, PageFlags.WriteThrough), "WriteThrough"));
        }

        foreach ((Action call, string value) in refusals)
        {
            var e = Assert.ThrowsAny<ArgumentException>(call);
            Assert.Contains(value, e.Message, StringComparison.Ordinal);
            Assert.Equal(stats, f.Space.Stats);
            Assert.Equal(pages, f.Allocator.AllocatedPages);
            for (ulong i = 0; i < 4; i++)
            {
                AssertLeaf(walker, Base + (i * Page), Frame + (i * Page), Page, Rw);
            }
        }
    }

    [Theory]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void RiscV_Upper_Half_Addresses_Translate_Through_The_Top_Root_Entries(int levels)
    {
        using var f = new SpaceFixture(levels: levels, format: PageTableFormat.RiscV64);
        var walker = new HardwareWalker(f.Space, f.Allocator);
        ulong lowestUpper = (ulong)-(1L << (12 + (9 * levels) - 1));
        f.Space.Map(lowestUpper, Frame, 3 * Page, Rw);
        f.Space.Map(ulong.MaxValue - Span2M + 1, Frame + Span2M, Span2M, Rw, LeafSize.Size2M);

        AssertLeaf(walker, lowestUpper + (2 * Page) + 5, Frame + (2 * Page) + 5, Page, Rw);
        AssertLeaf(walker, ulong.MaxValue, Frame + (2 * Span2M) - 1, Span2M, Rw);
        Assert.Null(walker.Translate(lowestUpper - Page));
        Assert.Throws<ArgumentException>(() => f.Space.Map(lowestUpper - Page, Frame, Page, Rw));
    }

    [Fact]
    public void Arm64_Lpa2_Holds_52_Bit_Output_Addresses_In_Bits_9_And_8()
    {
        using var f = new SpaceFixture(levels: 5, format: PageTableFormat.Arm64);
        var walker = new HardwareWalker(f.Space, f.Allocator);
        const ulong High = 0x000D_0000_1234_5000; // OA[51:50] = 11
        ulong topVa = (1UL << 52) - Span2M;
        f.Space.Map(Base, High, 2 * Page, Rw);
        f.Space.Map(topVa, 0x000E_0000_0000_0000, Span2M, Rw, LeafSize.Size2M);

        AssertLeaf(walker, Base + Page + 7, High + Page + 7, Page, Rw);
        AssertLeaf(walker, topVa + 0x1234, 0x000E_0000_0000_1234, Span2M, Rw);
        AssertTranslates(f.Space, Base + Page + 7, High + Page + 7, Rw);
        Assert.Equal(3UL, (walker.EntryAt(Base, 1)!.Value >> 8) & 3);
    }

    [Theory]
    [InlineData(PageTableFormat.Arm64)]
    [InlineData(PageTableFormat.RiscV64)]
    public void The_Same_Operations_Give_The_Same_Translations_And_Table_Counts_As_X64(PageTableFormat format)
    {
        using var x64 = new SpaceFixture(ReclaimPolicy.Linux);
        using var other = new SpaceFixture(ReclaimPolicy.Linux, format: format);
        var walker = new HardwareWalker(other.Space, other.Allocator);
        const ulong Window = 32 * Span2M;
        var random = new Random(18);
        for (int step = 0; step < 300; step++)
        {
            ulong va = Base + ((ulong)random.Next((int)(Window / Page)) * Page);
            ulong length = Math.Min((ulong)random.Next(1, 1200) * Page, Base + Window - va);
            int op = random.Next(6);
            Action<AddressSpace> apply = op switch
            {
                0 => s => s.Map(va, Frame + (va - Base), length, Rw),
                1 => s => s.Map(va & ~(Span2M - 1), Frame + ((va - Base) & ~(Span2M - 1)), Span2M, Rw, LeafSize.Size2M),
                2 => s => s.Zap(va, length),
                3 => s => s.Protect(va, length, PageFlags.NoExecute),
                4 => s => s.Unmap(va, length),
                _ => s => s.Collapse(va & ~(Span2M - 1), Span2M),
            };
            bool x64Refused = Refuses(apply, x64.Space);
            Assert.Equal(x64Refused, Refuses(apply, other.Space));
            Assert.Equal(x64.Space.Stats, other.Space.Stats);
        }

        for (ulong offset = 0; offset < Window; offset += Page)
        {
            bool mapped = x64.Space.TryTranslate(Base + offset, out ulong pa, out PageFlags flags);
            Assert.Equal(mapped, other.Space.TryTranslate(Base + offset, out ulong otherPa, out PageFlags otherFlags));
            HardwareLeaf? leaf = walker.Translate(Base + offset);
            Assert.Equal(mapped, leaf.HasValue);
            if (mapped)
            {
                Assert.Equal(pa, otherPa);
                Assert.Equal(pa, leaf!.Value.Physical);
                Assert.Equal(flags | PageFlags.Accessed, otherFlags);
                Assert.Equal((flags & PageFlags.NoExecute) == 0, leaf.Value.Executable);
            }
        }
    }

    private static bool Refuses(Action<AddressSpace> apply, AddressSpace space)
    {
        try
        {
            apply(space);
            return false;
        }
        catch (ArgumentException)
        {
            return true;
        }
    }
}
