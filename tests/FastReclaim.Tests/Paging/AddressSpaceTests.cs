using FastReclaim.Paging;
using FastReclaim.Tests.Reclaim;

namespace FastReclaim.Tests.Paging;

public sealed unsafe class AddressSpaceTests
{
    private const ulong Page = PageAllocator.PageSize;
    private const ulong Span2M = 2UL << 20;
    private const ulong Span1G = 1UL << 30;
    private const ulong Span512G = 512UL << 30;
    private const ulong Base = 0x1000_0000_0000;
    private const PageFlags Rw = PageFlags.Present | PageFlags.Writable;
    private const long TableBytes = PageAllocator.PageSize;

    [Theory]
    [InlineData(LeafSize.Size4K, Page)]
    [InlineData(LeafSize.Size2M, Span2M)]
    [InlineData(LeafSize.Size1G, Span1G)]
    public void Map_Then_TryTranslate_Returns_The_Physical_Address_And_Flags_At_Every_Offset(LeafSize size, ulong span)
    {
        using var f = new SpaceFixture();
        const PageFlags flags = PageFlags.Writable | PageFlags.User | PageFlags.NoExecute;
        ulong pa = 0x40_0000_0000;
        f.Space.Map(Base, pa, 2 * span, flags, size);

        foreach (ulong offset in (ulong[])[0, 0x123, span - 1, span, (2 * span) - 8])
        {
            Assert.True(f.Space.TryTranslate(Base + offset, out ulong translated, out PageFlags got));
            Assert.Equal(pa + offset, translated);
            Assert.Equal(flags | PageFlags.Present, got);
        }

        Assert.False(f.Space.TryTranslate(Base + (2 * span), out ulong none, out PageFlags noFlags));
        Assert.Equal((0UL, PageFlags.None), (none, noFlags));
        Assert.Equal((2L, (long)(2 * span)), (f.Space.Stats.MappedPages, f.Space.Stats.MappedBytes));
    }

    [Fact]
    public void Tables_Are_The_Hardware_Format_A_Cpu_Walks_From_RootPhysical()
    {
        using var f = new SpaceFixture();
        ulong va = Base + (3 * Span1G) + (5 * Span2M) + (7 * Page);
        f.Space.Map(va, 0xABC_D000, Page, PageFlags.Writable | PageFlags.User);

        // A software CPU walk: CR3 -> PML4 -> PDPT -> PD -> PT, 9 bits per level, frame in bits 12..51.
        ulong table = f.Space.RootPhysical;
        for (int shift = 39; shift >= 21; shift -= 9)
        {
            ulong entry = ((ulong*)f.Allocator.VirtualOf(table))[(va >> shift) & 511];
            Assert.Equal(0x7UL, entry & 0x7);             // present, writable, user on every table entry
            Assert.Equal(0UL, entry & 0x80);              // not a large page
            table = entry & 0x000F_FFFF_FFFF_F000;
        }

        ulong leaf = ((ulong*)f.Allocator.VirtualOf(table))[(va >> PageAllocator.PageShift) & 511];
        Assert.Equal(0xABC_D000UL | 0x7, leaf);
    }

    [Fact]
    public void Huge_Leaves_Set_The_PS_Bit_In_The_PMD_And_PUD_Entries()
    {
        using var f = new SpaceFixture();
        f.Space.Map(Base, 0x8000_0000, Span1G, Rw, LeafSize.Size1G);
        f.Space.Map(Base + Span1G, 0x4000_0000, Span2M, Rw, LeafSize.Size2M);
        ulong pml4e = ((ulong*)f.Allocator.VirtualOf(f.Space.RootPhysical))[(Base >> 39) & 511];
        ulong* pdpt = (ulong*)f.Allocator.VirtualOf(pml4e & 0x000F_FFFF_FFFF_F000);
        Assert.Equal(0x8000_0000UL | 0x80 | 0x3, pdpt[0]);
        ulong* pd = (ulong*)f.Allocator.VirtualOf(pdpt[1] & 0x000F_FFFF_FFFF_F000);
        Assert.Equal(0x4000_0000UL | 0x80 | 0x3, pd[0]);

        // The PTE table is the 2 MiB leaf's deposit (the Linux policy's), not a hooked table.
        Assert.Equal((1L, 1L, 1L, 1L), (f.Space.Stats.PteTables, f.Space.Stats.DepositedTables, f.Space.Stats.PmdTables, f.Space.Stats.PudTables));
    }

    [Fact]
    public void PageTableBytes_Counts_Pte_Pmd_And_Pud_Tables_But_Not_The_Root()
    {
        using var f = new SpaceFixture();
        f.Space.Map(Base, 0, Page, Rw);
        f.Space.Map(Base + Span2M, 0, Page, Rw);
        f.Space.Map(Base + Span1G, 0, Page, Rw);
        PageTableStats s = f.Space.Stats;
        Assert.Equal((3L, 2L, 1L, 0L), (s.PteTables, s.PmdTables, s.PudTables, s.P4dTables));
        Assert.Equal(6 * TableBytes, s.PageTableBytes);
    }

    [Fact]
    public void Five_Level_Space_Maps_57_Bit_Addresses_And_Counts_P4d_Tables_Apart()
    {
        using var f = new SpaceFixture(levels: 5);
        ulong high = 0x00F0_0000_0000_0000;
        f.Space.Map(high, 0x1000, Page, Rw);
        Assert.True(f.Space.TryTranslate(high, out ulong pa, out _));
        Assert.Equal(0x1000UL, pa);
        PageTableStats s = f.Space.Stats;
        Assert.Equal((1L, 1L, 1L, 1L), (s.PteTables, s.PmdTables, s.PudTables, s.P4dTables));
        Assert.Equal(3 * TableBytes, s.PageTableBytes);
        using var fourLevels = new SpaceFixture(levels: 4);
        Assert.Throws<ArgumentException>(() => fourLevels.Space.Map(high, 0, Page, Rw));
    }

    [Fact]
    public void Upper_Half_Addresses_Map_And_Unmap_Like_Lower_Half_Ones()
    {
        using var f = new SpaceFixture();
        ulong kernel = 0xFFFF_8000_0000_0000;
        ulong top = 0xFFFF_FFFF_FFFF_F000;
        f.Space.Map(kernel, 0x5000, Page, Rw);
        f.Space.Map(top, 0x6000, Page, Rw);
        Assert.True(f.Space.TryTranslate(top + 0xFFF, out ulong pa, out _));
        Assert.Equal(0x6FFFUL, pa);
        f.Space.Unmap(kernel, 0 - kernel);
        Assert.False(f.Space.TryTranslate(kernel, out _, out _));
        Assert.Equal(0, f.Space.Stats.PageTableBytes);
    }

    [Fact]
    public void Linux_Zap_Frees_A_Pte_Table_Only_When_The_Zap_Covers_Its_Whole_Span()
    {
        using var f = new SpaceFixture(ReclaimPolicy.Linux);
        f.Space.Map(Base, 0, 3 * Span2M, Rw);
        long before = f.Space.Stats.PteTables;

        ZapResult half = f.Space.Zap(Base + (Span2M / 2), Span2M);          // two half tables
        Assert.Equal(((long)Span2M, 0), (half.ZappedBytes, half.ReclaimedTables));
        Assert.Equal(before, f.Space.Stats.PteTables);

        f.Space.Zap(Base + Page, Span2M - Page);                            // the rest of table 0, not its span
        Assert.Equal(before, f.Space.Stats.PteTables);

        ZapResult whole = f.Space.Zap(Base, 2 * Span2M);
        Assert.Equal(2, whole.ReclaimedTables);
        Assert.Equal(before - 2, f.Space.Stats.PteTables);
        Assert.Equal(1L, f.Space.Stats.PmdTables);                          // upper levels stay until unmap
        Assert.Equal(2L, f.Space.Stats.ReclaimedTables);
    }

    [Fact]
    public void Eager_Zap_Also_Frees_Tables_Emptied_By_Partial_Zaps_And_Empty_Upper_Tables()
    {
        using var f = new SpaceFixture(ReclaimPolicy.Eager);
        f.Space.Map(Base + Page, 0, Page, Rw);
        f.Space.Map(Base + Span1G, 0, Page, Rw);
        ZapResult r = f.Space.Zap(Base + Page, Page);
        Assert.Equal(2, r.ReclaimedTables);                                 // the PTE table and its PMD table
        Assert.Equal((1L, 1L, 1L), (f.Space.Stats.PteTables, f.Space.Stats.PmdTables, f.Space.Stats.PudTables));
    }

    [Fact]
    public void None_Policy_Never_Frees_On_Zap_But_Sweep_Reclaims_Empty_Pte_Tables()
    {
        using var f = new SpaceFixture(ReclaimPolicy.None);
        f.Space.Map(Base, 0, 4 * Span2M, Rw);
        f.Space.Map(Base + (8 * Span2M), 0, Page, Rw);
        Assert.Equal(0, f.Space.Zap(Base, 4 * Span2M).ReclaimedTables);
        Assert.Equal(5L, f.Space.Stats.PteTables);

        SweepResult sweep = f.Space.Sweep();
        Assert.Equal((5L, 4L), (sweep.ScannedTables, sweep.ReclaimedTables));
        Assert.Equal(1L, f.Space.Stats.PteTables);
        Assert.True(f.Space.TryTranslate(Base + (8 * Span2M), out _, out _));
    }

    [Fact]
    public void Reclaimed_Tables_Are_Freed_Only_After_A_Grace_Period_And_Poisoned_Then()
    {
        using var epoch = new EpochDomain();
        using var allocator = new PageAllocator(new PageAllocatorOptions { Poison = true });
        using (var space = new AddressSpace(new AddressSpaceOptions { Allocator = allocator, Epoch = epoch }))
        {
            space.Map(Base, 0, Page, Rw);
            long live = allocator.AllocatedPages;
            using (ReaderThread.HoldingGuard(epoch))
            {
                space.Zap(Base, Span2M);
                epoch.Collect();
                Assert.Equal(1L, space.Stats.PendingTables);
                Assert.Equal(live, allocator.AllocatedPages);               // still held for the reader
            }

            epoch.Barrier();
            Assert.Equal((0L, live - 1), (space.Stats.PendingTables, allocator.AllocatedPages));
        }

        Assert.Equal(0, allocator.AllocatedPages);
    }

    [Fact]
    public void Unmap_Frees_Tables_Whose_Span_Lies_Inside_The_Range_Only()
    {
        using var f = new SpaceFixture();
        f.Space.Map(Base, 0, 3 * Span2M, Rw);
        f.Space.Unmap(Base + Page, (2 * Span2M) - Page);                   // table 1 whole, table 0 not
        Assert.Equal(2L, f.Space.Stats.PteTables);
        Assert.True(f.Space.TryTranslate(Base, out _, out _));
        Assert.False(f.Space.TryTranslate(Base + Page, out _, out _));
        Assert.True(f.Space.TryTranslate(Base + (2 * Span2M), out _, out _));
    }

    [Fact]
    public void Unmap_With_Floor_And_Ceiling_Frees_Tables_Shared_With_No_Remaining_Mapping()
    {
        using var f = new SpaceFixture();
        f.Space.Map(Base + Page, 0, Page, Rw);
        f.Space.Map(Base + Span1G + Span2M, 0, Page, Rw);

        // The neighbours end at Base and start at Base + 2 GiB: every table of the first mapping goes...
        f.Space.Unmap(Base + Page, Page, Base, Base + (2 * Span1G));
        Assert.Equal((1L, 1L, 1L), (f.Space.Stats.PteTables, f.Space.Stats.PmdTables, f.Space.Stats.PudTables));

        // ...while a neighbour inside the PMD span keeps the PMD table (and the PUD table above it).
        f.Space.Unmap(Base + Span1G + Span2M, Page, Base + Span1G + Page, 0);
        Assert.Equal((0L, 1L, 1L), (f.Space.Stats.PteTables, f.Space.Stats.PmdTables, f.Space.Stats.PudTables));
        f.Space.Unmap(Base, Span512G, 0, 0);
        Assert.Equal(0, f.Space.Stats.PageTableBytes);
    }

    [Fact]
    public void Unmap_Never_Frees_A_Table_That_Still_Holds_A_Mapping_Even_With_A_Wrong_Floor()
    {
        using var f = new SpaceFixture();
        f.Space.Map(Base, 0, 2 * Page, Rw);
        f.Space.Unmap(Base + Page, Page, 0, 0);                              // claims nothing else is mapped
        Assert.True(f.Space.TryTranslate(Base, out _, out _));
        Assert.Equal(1L, f.Space.Stats.PteTables);
    }

    [Fact]
    public void Map_Of_A_Huge_Leaf_Replaces_Empty_Tables_Left_By_Zaps()
    {
        using var f = new SpaceFixture(ReclaimPolicy.None);
        f.Space.Map(Base, 0, Page, Rw);
        f.Space.Map(Base + Span2M, 0, Page, Rw);
        f.Space.Zap(Base, 2 * Span2M);
        f.Space.Map(Base, 0x4000_0000, Span1G, Rw, LeafSize.Size1G);
        Assert.True(f.Space.TryTranslate(Base + Span2M + 5, out ulong pa, out _));
        Assert.Equal(0x4000_0000UL + Span2M + 5, pa);
        Assert.Equal((0L, 0L, 1L), (f.Space.Stats.PteTables, f.Space.Stats.PmdTables, f.Space.Stats.PudTables));
    }

    [Fact]
    public void Protect_Changes_Flags_And_Keeps_Addresses()
    {
        using var f = new SpaceFixture();
        f.Space.Map(Base, 0x7000, 2 * Page, Rw);
        f.Space.Map(Base + Span2M, 0x20_0000, Span2M, Rw, LeafSize.Size2M);
        f.Space.Protect(Base, 4 * Span2M, PageFlags.NoExecute);
        Assert.True(f.Space.TryTranslate(Base + Page, out ulong pa, out PageFlags flags));
        Assert.Equal((0x8000UL, PageFlags.Present | PageFlags.NoExecute), (pa, flags));
        Assert.True(f.Space.TryTranslate(Base + Span2M + 1, out pa, out flags));
        Assert.Equal((0x20_0001UL, PageFlags.Present | PageFlags.NoExecute), (pa, flags));
    }

    [Fact]
    public void TranslateMany_Matches_TryTranslate_And_Counts_The_Mapped()
    {
        using var f = new SpaceFixture();
        f.Space.Map(Base, 0x10_0000, 4 * Page, Rw);
        ulong[] vas = [Base, Base + 0x1234, Base + (4 * Page), 0x8000_0000_0000_0000, Base + (3 * Page)];
        var pas = new ulong[vas.Length];
        Assert.Equal(3, f.Space.TranslateMany(vas, pas));
        Assert.Equal([0x10_0000UL, 0x10_1234, 0, 0, 0x10_3000], pas);
        Assert.Throws<ArgumentException>(() => f.Space.TranslateMany(vas, new ulong[2]));
    }

    [Theory]
    [InlineData(4, 48)]
    [InlineData(5, 57)]
    public void Non_Canonical_Addresses_Are_Not_Mapped_Even_When_Their_Low_Bits_Are(int levels, int addressBits)
    {
        using var f = new SpaceFixture(levels: levels);
        using EpochReader reader = f.Space.Epoch.RegisterReader();
        ulong half = 1UL << (addressBits - 1);
        ulong[] edges = [Page, half - Page, unchecked(0 - half), ulong.MaxValue - Page + 1];
        for (int i = 0; i < edges.Length; i++)
        {
            f.Space.Map(edges[i], (ulong)(i + 1) * Page, Page, Rw);
        }

        // The edge pages of both canonical halves translate on every path...
        var vas = new List<ulong>(edges);
        var expected = new List<ulong>(edges.Select((_, i) => (ulong)(i + 1) * Page));

        // ...and no address that differs from one of them in a bit at or above addressBits - 1 does (every such
        // bit equals the sign bit in a canonical address), nor do the two ends of the non-canonical hole.
        foreach (ulong edge in edges)
        {
            for (int bit = addressBits - 1; bit < 64; bit++)
            {
                vas.Add(edge ^ (1UL << bit));
                expected.Add(0);
            }
        }

        vas.AddRange([half, unchecked(0 - half - 1)]);
        expected.AddRange([0, 0]);
        for (int i = 0; i < vas.Count; i++)
        {
            bool mapped = expected[i] != 0;
            Assert.Equal((mapped, expected[i]), (f.Space.TryTranslate(vas[i], out ulong pa, out PageFlags flags), pa));
            Assert.Equal(mapped ? Rw : PageFlags.None, flags);
            Assert.Equal((mapped, expected[i]), (f.Space.TryTranslate(reader, vas[i], out pa, out _), pa));
        }

        var pas = new ulong[vas.Count];
        Assert.Equal(edges.Length, f.Space.TranslateMany([.. vas], pas));
        Assert.Equal(expected, pas);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(5)]
    public void TryTranslate_With_A_Reader_Handle_Agrees_With_The_Guarded_Walk_For_Every_Leaf_Size(int levels)
    {
        using var f = new SpaceFixture(levels: levels);
        using EpochReader reader = f.Space.Epoch.RegisterReader();
        f.Space.Map(Base, 0x40_0000_0000, 2 * Page, Rw);
        f.Space.Map(Base + Span1G, 0x80_0000_0000, Span2M, Rw | PageFlags.User, LeafSize.Size2M);
        f.Space.Map(Base + Span512G, 0xC0_0000_0000, Span1G, Rw | PageFlags.NoExecute, LeafSize.Size1G);
        foreach (ulong va in (ulong[])[Base, Base + Page + 0x10, Base + (2 * Page), Base + Span1G + Span2M - 1,
                     Base + Span1G + Span2M, Base + Span512G + 0x1234_5678, Base + Span512G + Span1G, 0x8000_0000_0000_0000])
        {
            bool guarded = f.Space.TryTranslate(va, out ulong pa, out PageFlags flags);
            Assert.Equal((guarded, pa, flags), (f.Space.TryTranslate(reader, va, out ulong readerPa, out PageFlags readerFlags), readerPa, readerFlags));
            Assert.False(reader.IsEntered);
        }
    }

    [Fact]
    public void TryTranslate_With_A_Bad_Reader_Handle_Throws_And_Leaves_The_Handle_As_It_Was()
    {
        using var f = new SpaceFixture();
        f.Space.Map(Base, 0x5000, Page, Rw);
        Assert.Equal("reader", Assert.Throws<ArgumentNullException>(() => f.Space.TryTranslate(null!, Base, out _, out _)).ParamName);

        using var otherDomain = new EpochDomain();
        using EpochReader foreign = otherDomain.RegisterReader();
        Assert.Equal("reader", Assert.Throws<ArgumentException>(() => f.Space.TryTranslate(foreign, Base, out _, out _)).ParamName);
        Assert.False(foreign.IsEntered);

        using EpochReader reader = f.Space.Epoch.RegisterReader();
        reader.Enter();
        Assert.Throws<InvalidOperationException>(() => f.Space.TryTranslate(reader, Base, out _, out _));
        Assert.True(reader.IsEntered);
        reader.Exit();

        reader.Dispose();
        Assert.Throws<ObjectDisposedException>(() => f.Space.TryTranslate(reader, Base, out _, out _));
        Assert.True(f.Space.TryTranslate(Base, out ulong pa, out _));
        Assert.Equal(0x5000UL, pa);
    }

    [Fact]
    public void Epoch_Is_The_Domain_From_The_Options_Or_The_Space_Own()
    {
        using var domain = new EpochDomain();
        using (var shared = new AddressSpace(new AddressSpaceOptions { Epoch = domain }))
        {
            Assert.Same(domain, shared.Epoch);
        }

        using var own = new AddressSpace();
        Assert.NotSame(domain, own.Epoch);
        using EpochReader reader = own.Epoch.RegisterReader();
        Assert.False(own.TryTranslate(reader, Base, out _, out _));
    }

    [Fact]
    public void Zap_Of_An_Empty_64_TiB_Range_Visits_Only_Present_Entries()
    {
        using var f = new SpaceFixture();
        f.Space.Map(Base + (40UL << 40), 0, Page, Rw);                       // one page far inside the range
        ZapResult r = f.Space.Zap(0, 1UL << 46);
        Assert.Equal(((long)Page, 1), (r.ZappedBytes, r.ReclaimedTables));
    }

    public static TheoryData<string, Action<AddressSpace>, string> BadInputs => new()
    {
        { "unaligned va", s => s.Map(Base + 1, 0, Page, Rw), "0x100000000001" },
        { "unaligned length", s => s.Map(Base, 0, Page + 8, Rw), "0x1008" },
        { "zero length", s => s.Map(Base, 0, 0, Rw), "length" },
        { "non-canonical", s => s.Map(0x0000_8000_0000_0000, 0, Page, Rw), "0x800000000000" },
        { "crosses the canonical hole", s => s.Zap(0x7FFF_FFFF_F000, 2 * Page), "0x7FFFFFFFF000" },
        { "overflowing", s => s.Unmap(0xFFFF_FFFF_FFFF_F000, 2 * Page), "0xFFFFFFFFFFFFF000" },
        { "pa beyond the frame field", s => s.Map(Base, 1UL << 52, Page, Rw), "0x10000000000000" },
        { "pa range beyond the frame field", s => s.Map(Base, (1UL << 52) - Page, 2 * Page, Rw), "0xFFFFFFFFFF000" },
        { "unaligned pa for a 2 MiB leaf", s => s.Map(Base, Page, Span2M, Rw, LeafSize.Size2M), "0x1000" },
        { "flags outside PageFlags", s => s.Map(Base, 0, Page, (PageFlags)(1UL << 9)), "0x200" },
        { "overlap with a mapping", s => s.Map(Base + Span2M - Page, 0, 2 * Page, Rw), "0x1000001FF000" },
        { "floor above va", s => s.Unmap(Base, Page, Base + Page, 0), "0x100000001000" },
        { "ceiling below the end", s => s.Unmap(Base, 2 * Page, 0, Base + Page), "0x100000001000" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void Bad_Input_Throws_Naming_The_Value_And_Leaves_The_Space_Unchanged(string what, Action<AddressSpace> call, string named)
    {
        using var f = new SpaceFixture();
        f.Space.Map(Base + Span2M, 0x1000, Page, Rw);
        f.Space.Map(Base + (4 * Span2M), 0x40_0000, Span2M, Rw, LeafSize.Size2M);
        PageTableStats before = f.Space.Stats;
        long pages = f.Allocator.AllocatedPages;

        ArgumentException e = Assert.ThrowsAny<ArgumentException>(() => call(f.Space));
        Assert.Contains(named, e.Message, StringComparison.Ordinal);
        Assert.Equal(before, f.Space.Stats);
        Assert.Equal(pages, f.Allocator.AllocatedPages);
        Assert.True(f.Space.TryTranslate(Base + Span2M, out ulong pa, out _), what);
        Assert.Equal(0x1000UL, pa);
        Assert.True(f.Space.TryTranslate(Base + (4 * Span2M) + Page, out pa, out _), what);
        Assert.Equal(0x40_1000UL, pa);
    }

    [Fact]
    public void Dispose_Gives_Every_Table_Back_Including_Retired_Ones()
    {
        var allocator = new PageAllocator(new PageAllocatorOptions { Poison = true });
        var space = new AddressSpace(new AddressSpaceOptions { Allocator = allocator, Policy = ReclaimPolicy.Eager });
        space.Map(Base, 0, 64 * Span2M, Rw);
        space.Map(Base + (7 * Span512G), 0, Span1G, Rw, LeafSize.Size1G);
        space.Zap(Base, 32 * Span2M);
        space.Dispose();
        space.Dispose();
        Assert.Equal(0, allocator.AllocatedPages);
        Assert.Throws<ObjectDisposedException>(() => space.TryTranslate(Base, out _, out _));
        Assert.Throws<ObjectDisposedException>(() => space.TranslateMany([Base], new ulong[1]));
        using (var domain = new EpochDomain())
        using (var other = new AddressSpace(new AddressSpaceOptions { Allocator = allocator, Epoch = domain }))
        using (EpochReader reader = domain.RegisterReader())
        {
            other.Dispose();
            Assert.Throws<ObjectDisposedException>(() => other.TryTranslate(reader, Base, out _, out _));
            Assert.False(reader.IsEntered);
        }

        allocator.Dispose();
    }

    [Fact]
    public void Tables_At_The_Top_Of_Physical_Space_Translate_And_Their_References_Keep_Bits_52_To_63_Clear()
    {
        // The walk takes a table reference's frame as entry & ~0xFFF (AddressSpace.Translate.cs, TableFrameMask),
        // which is exact only while no table reference has a bit above 51 set. Put every table's frame just below
        // 2^52 (bits 22..51 set) and give every leaf NX, so a walk that kept a high bit or lost one cannot pass.
        const long arenaBytes = 4L << 20;
        const ulong physicalBase = (1UL << 52) - arenaBytes;
        using var allocator = new PageAllocator(new PageAllocatorOptions
        {
            ArenaBytes = arenaBytes,
            FrameMapping = FrameMapping.ArenaAt(physicalBase),
        });
        using var space = new AddressSpace(new AddressSpaceOptions { Allocator = allocator });
        using EpochReader reader = space.Epoch.RegisterReader();
        (ulong Va, ulong Pa, ulong Size, LeafSize Leaf)[] leaves =
        [
            (0x7000_0000_0000, 0x000F_FFFF_FFFF_F000, 4096, LeafSize.Size4K),
            (0x7000_0020_0000, 0x000F_FFFF_FFE0_0000, 2UL << 20, LeafSize.Size2M),
            (0x7001_0000_0000, 0x000F_FFFF_C000_0000, 1UL << 30, LeafSize.Size1G),
        ];
        foreach (var (va, pa, size, leaf) in leaves)
        {
            space.Map(va, pa, size, PageFlags.Writable | PageFlags.NoExecute, leaf);
        }

        foreach (var (va, pa, size, _) in leaves)
        {
            ulong offset = size - 8;
            ulong[] pas = new ulong[1];
            Assert.True(space.TryTranslate(va + offset, out ulong found, out PageFlags flags));
            Assert.Equal((pa + offset, PageFlags.Present | PageFlags.Writable | PageFlags.NoExecute), (found, flags));
            Assert.True(space.TryTranslate(reader, va + offset, out found, out _));
            Assert.Equal(pa + offset, found);
            Assert.Equal(1, space.TranslateMany([va + offset], pas));
            Assert.Equal(pa + offset, pas[0]);
        }

        // Every table reference (present, not a leaf) holds a frame below 2^52 and exactly the table flags.
        int references = CountTableReferences(allocator, space.RootPhysical, space.Levels);
        Assert.Equal(1 + 1 + 1, references); // PML4 -> PDPT, PDPT -> PD (4K and 2M leaves), PD -> PT (4K leaf)
    }

    /// <summary>Walks every table under <paramref name="tablePhysical"/>; asserts each table reference's format and counts them.</summary>
    private static int CountTableReferences(PageAllocator allocator, ulong tablePhysical, int level)
    {
        var table = (ulong*)allocator.VirtualOf(tablePhysical);
        int references = 0;
        for (int i = 0; i < PageTableGeometry.EntriesPerTable; i++)
        {
            ulong entry = table[i];
            if ((entry & PageTableGeometry.PresentBit) == 0 || level == PageTableGeometry.PteLevel || (entry & X64Format.PageSizeBit) != 0)
            {
                continue;
            }

            Assert.Equal(0UL, entry >> 52);
            Assert.Equal(X64Format.TableEntryFlags, entry & (PageAllocator.PageSize - 1));
            references += 1 + CountTableReferences(allocator, entry & X64Format.FrameMask, level - 1);
        }

        return references;
    }
}
