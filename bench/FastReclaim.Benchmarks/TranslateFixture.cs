namespace FastReclaim.Benchmarks;

/// <summary>
/// What the translate suites look up: <see cref="Lookups"/> random page addresses (seeded, so every suite and run
/// reads the same ones) among a given number of contiguous mapped 4 KiB pages, in an <see cref="AddressSpace"/>
/// and in a <see cref="Dictionary{TKey, TValue}"/> from page address to physical address.
/// </summary>
internal sealed class TranslateFixture : IDisposable
{
    internal const int Lookups = 1 << 20;
    internal const ulong SpaceBase = 0x1000_0000_0000;
    private const ulong PhysicalBase = 0x40_0000_0000;
    private const int Seed = 42;

    internal TranslateFixture(int pages, bool intervalReclaim = false)
    {
        Allocator = new PageAllocator();
        Space = new AddressSpace(new AddressSpaceOptions { Allocator = Allocator, IntervalReclaim = intervalReclaim });
        Space.Map(SpaceBase, PhysicalBase, (ulong)pages * PageAllocator.PageSize, PageFlags.Writable);
        Dictionary = new Dictionary<ulong, ulong>(pages);
        for (int i = 0; i < pages; i++)
        {
            Dictionary.Add(SpaceBase + ((ulong)i * PageAllocator.PageSize), PhysicalOf(i));
        }

        var random = new Random(Seed);
        Addresses = [.. Enumerable.Range(0, Lookups).Select(_ => SpaceBase + ((ulong)random.Next(pages) * PageAllocator.PageSize))];
        Results = new ulong[Lookups];
        Reader = Space.Epoch.RegisterReader();
    }

    internal PageAllocator Allocator { get; }

    internal AddressSpace Space { get; }

    internal Dictionary<ulong, ulong> Dictionary { get; }

    internal ulong[] Addresses { get; }

    /// <summary>Room for one result per lookup.</summary>
    internal ulong[] Results { get; }

    /// <summary>An <see cref="EpochReader"/> of <see cref="Space"/>'s domain, for the thread that runs the benchmarks.</summary>
    internal EpochReader Reader { get; }

    /// <summary>The physical address page <paramref name="page"/> (counted from <see cref="SpaceBase"/>) maps to.</summary>
    internal static ulong PhysicalOf(int page) => PhysicalBase + ((ulong)page * PageAllocator.PageSize);

    public void Dispose()
    {
        Reader.Dispose();
        Space.Dispose();
        Allocator.Dispose();
    }
}
