namespace FastReclaim.Tests.Memory;

/// <summary>
/// Misuse of an allocator is refused with the state unchanged: disposing it under an address space, freeing a page
/// twice or into the wrong allocator (in unchecked mode too), and frame mappings that would put a page outside the
/// 52-bit frame field.
/// </summary>
public sealed class PageAllocatorMisuseTests
{
    private const ulong Base = 0x1000_0000_0000;
    private const int ArenaBytes = 2 * 1024 * 1024;

    [Fact]
    public void Disposing_An_Allocator_An_Address_Space_Still_Uses_Throws_And_The_Space_Keeps_Working()
    {
        var allocator = new PageAllocator();
        var space = new AddressSpace(new AddressSpaceOptions { Allocator = allocator });
        space.Map(Base, 0x5000, PageAllocator.PageSize, PageFlags.Writable);
        long allocated = allocator.AllocatedPages;

        var e = Assert.Throws<InvalidOperationException>(allocator.Dispose);
        Assert.Contains("address space", e.Message);

        Assert.True(space.TryTranslate(Base, out ulong pa, out _));
        Assert.Equal(0x5000UL, pa);
        Assert.Equal(allocated, allocator.AllocatedPages);
        space.Dispose();
        Assert.Equal(0, allocator.AllocatedPages);
        allocator.Dispose();
        Assert.Throws<ObjectDisposedException>(() => allocator.AllocatedPages);
        Assert.Throws<ObjectDisposedException>(() => new AddressSpace(new AddressSpaceOptions { Allocator = allocator }));
    }

    [Fact]
    public void Two_Spaces_On_One_Allocator_Hold_It_Until_Both_Are_Disposed()
    {
        var allocator = new PageAllocator();
        var first = new AddressSpace(new AddressSpaceOptions { Allocator = allocator });
        var second = new AddressSpace(new AddressSpaceOptions { Allocator = allocator });
        first.Dispose();
        first.Dispose();
        Assert.Throws<InvalidOperationException>(allocator.Dispose);
        second.Dispose();
        allocator.Dispose();
        allocator.Dispose();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_Double_Free_Throws_And_The_Page_Is_Not_Handed_Out_Twice(bool poison)
    {
        using var allocator = new PageAllocator(new PageAllocatorOptions { Poison = poison });
        nint page = allocator.Allocate();
        allocator.Free(page);

        var e = Assert.Throws<InvalidOperationException>(() => allocator.Free(page));
        Assert.Contains("double free", e.Message);

        nint[] pages = [.. Enumerable.Range(0, 64).Select(_ => allocator.Allocate())];
        Assert.Equal(pages.Length, pages.Distinct().Count());
        Assert.Equal(pages.Length, allocator.AllocatedPages);
        Array.ForEach(pages, allocator.Free);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_Page_Of_Another_Allocator_Is_Refused(bool poison)
    {
        using var mine = new PageAllocator(new PageAllocatorOptions { Poison = poison });
        using var other = new PageAllocator(new PageAllocatorOptions { Poison = poison });
        nint own = mine.Allocate();
        nint foreign = other.Allocate();

        var e = Assert.Throws<InvalidOperationException>(() => mine.Free(foreign));
        Assert.Contains("not a page handed out by this", e.Message);
        Assert.Equal((1L, 1L), (mine.AllocatedPages, other.AllocatedPages));

        other.Free(foreign);
        mine.Free(own);
        Assert.Equal((0L, 0L), (mine.AllocatedPages, other.AllocatedPages));
    }

    [Theory]
    [InlineData(1UL << 52)]
    [InlineData(ulong.MaxValue - 4095)]
    public void A_Physical_Base_At_Or_Above_The_Frame_Field_Is_Refused_Naming_It(ulong physicalBase)
    {
        var arena = Assert.Throws<ArgumentOutOfRangeException>(() => FrameMapping.ArenaAt(physicalBase));
        Assert.Equal("physicalBase", arena.ParamName);
        Assert.Contains($"0x{physicalBase:X}", arena.Message);
        var offset = Assert.Throws<ArgumentOutOfRangeException>(() => FrameMapping.Offset(0x1000, physicalBase));
        Assert.Equal("physicalBase", offset.ParamName);
    }

    [Fact]
    public void An_Arena_That_Would_End_Above_The_Frame_Field_Is_Refused()
    {
        const ulong LastFittingBase = (1UL << 52) - ArenaBytes;
        var e = Assert.Throws<ArgumentException>(() => new PageAllocator(new PageAllocatorOptions
        {
            ArenaBytes = ArenaBytes,
            FrameMapping = FrameMapping.ArenaAt(LastFittingBase + PageAllocator.PageSize),
        }));
        Assert.Contains("arena", e.Message);

        using var fits = new PageAllocator(new PageAllocatorOptions { ArenaBytes = ArenaBytes, FrameMapping = FrameMapping.ArenaAt(LastFittingBase) });
        nint page = fits.Allocate();
        Assert.True(fits.PhysicalOf(page) < FrameMapping.PhysicalLimit);
        fits.Free(page);
    }

    [Fact]
    public void An_Offset_Mapping_That_Puts_Chunks_Above_The_Frame_Field_Fails_Allocation_And_Space_Creation_Cleanly()
    {
        // Every process pointer above 4 KiB maps at or above 2^52 here.
        using var allocator = new PageAllocator(new PageAllocatorOptions { FrameMapping = FrameMapping.Offset(0, (1UL << 52) - PageAllocator.PageSize) });
        Assert.ThrowsAny<OutOfMemoryException>(() => allocator.Allocate());
        Assert.ThrowsAny<OutOfMemoryException>(() => new AddressSpace(new AddressSpaceOptions { Allocator = allocator }));
        Assert.Equal((0L, 0L), (allocator.AllocatedPages, allocator.ReservedBytes));
    }

    [Theory]
    [InlineData(0x0010_0000_0000_1001UL)]
    [InlineData(0x8000_0000_0000_1001UL)]
    public void A_Present_Poison_Beyond_The_Frame_Field_Is_Refused_By_The_Space_Naming_It(ulong poison)
    {
        using var allocator = new PageAllocator(new PageAllocatorOptions { Poison = true, PoisonValue = poison });
        var e = Assert.Throws<ArgumentException>(() => new AddressSpace(new AddressSpaceOptions { Allocator = allocator }));
        Assert.Contains($"0x{poison:X}", e.Message);
        Assert.Equal(0, allocator.AllocatedPages);

        using var fine = new PageAllocator(new PageAllocatorOptions { Poison = true, PoisonValue = poison & ~1UL });
        new AddressSpace(new AddressSpaceOptions { Allocator = fine }).Dispose();
    }
}
