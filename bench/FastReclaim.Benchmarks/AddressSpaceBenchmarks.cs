using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;

namespace FastReclaim.Benchmarks;

/// <summary>
/// Virtual-to-physical lookups, random access over <see cref="Pages"/> mapped 4 KiB pages (contiguous), per lookup.
/// Each invocation looks up the same <see cref="Lookups"/> (1 Mi) precomputed random addresses, so with 1 Mi pages
/// the lookups touch the whole structure (cache misses), and with 1 Ki pages it stays in cache. Baseline: a
/// <see cref="Dictionary{TKey, TValue}"/> from page address to physical address, the obvious managed map.
/// <see cref="BareWalk"/> is the radix walk of the same tables with no epoch guard and no checks, unrolled like the
/// library's (not safe against reclaim: the floor for <see cref="TryTranslate"/>, <see cref="TryTranslateReader"/>
/// and <see cref="TranslateMany"/>).
/// The plain methods sum their results, so independent lookups overlap (the CPU keeps several misses in flight:
/// a throughput measure, and the fewer instructions a lookup takes, the more of them overlap). The
/// <c>Dependent</c> methods make each address depend on the previous lookup's result (a carry that is always 0
/// but that the JIT cannot fold), so lookups cannot overlap: a latency measure. Every method reads the same
/// addresses in the same order from the same structures.
/// </summary>
[MemoryDiagnoser]
public unsafe class AddressSpaceBenchmarks
{
    private const int Lookups = TranslateFixture.Lookups;
    private const ulong FrameMask = 0x000F_FFFF_FFFF_F000;
    private const ulong Present = 1;
    private const ulong PresentOrLeaf = Present | (1UL << 7);
    private const int Pml4Shift = 39;
    private const int PdptShift = 30;
    private const int PdShift = 21;
    private const int PageShift = PageAllocator.PageShift;
    private const ulong PageOffsetMask = (1UL << PageShift) - 1;
    private const ulong TableFrameMask = ~PageOffsetMask;
    private const ulong IndexMask = 511;

    /// <summary>Physical addresses are below 2^52, so <c>pa &gt;&gt; 63</c> is 0: a carry the JIT cannot fold.</summary>
    private const int CarryShift = 63;

    private TranslateFixture _fixture = null!;
    private AddressSpace _space = null!;
    private PageAllocator _allocator = null!;
    private Dictionary<ulong, ulong> _dictionary = null!;
    private ConcurrentDictionary<ulong, ulong> _concurrent = null!;
    private ulong[] _addresses = [];
    private ulong[] _results = [];
    private EpochReader _reader = null!;

    [Params(1024, 1024 * 1024)]
    public int Pages { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _fixture = new TranslateFixture(Pages);
        _allocator = _fixture.Allocator;
        _space = _fixture.Space;
        _dictionary = _fixture.Dictionary;
        _concurrent = new ConcurrentDictionary<ulong, ulong>(_dictionary);
        _addresses = _fixture.Addresses;
        _results = _fixture.Results;
        _reader = _fixture.Reader;
    }

    [GlobalCleanup]
    public void Cleanup() => _fixture.Dispose();

    [Benchmark(Baseline = true, OperationsPerInvoke = Lookups)]
    public ulong Dictionary()
    {
        ulong sum = 0;
        foreach (ulong va in _addresses)
        {
            sum += _dictionary.TryGetValue(va, out ulong pa) ? pa : 0;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Lookups)]
    public ulong ConcurrentDictionary()
    {
        ulong sum = 0;
        foreach (ulong va in _addresses)
        {
            sum += _concurrent.TryGetValue(va, out ulong pa) ? pa : 0;
        }

        return sum;
    }

    /// <summary>One epoch guard per lookup (enter + leave included).</summary>
    [Benchmark(OperationsPerInvoke = Lookups)]
    public ulong TryTranslate()
    {
        ulong sum = 0;
        foreach (ulong va in _addresses)
        {
            sum += _space.TryTranslate(va, out ulong pa, out _) ? pa : 0;
        }

        return sum;
    }

    /// <summary>
    /// <see cref="TryTranslate"/> with the thread's <see cref="EpochReader"/> handle instead of the thread-static
    /// guard: the handle is entered and left around every lookup.
    /// </summary>
    [Benchmark(OperationsPerInvoke = Lookups)]
    public ulong TryTranslateReader()
    {
        ulong sum = 0;
        EpochReader reader = _reader;
        foreach (ulong va in _addresses)
        {
            sum += _space.TryTranslate(reader, va, out ulong pa, out _) ? pa : 0;
        }

        return sum;
    }

    /// <summary>The whole batch under one guard.</summary>
    [Benchmark(OperationsPerInvoke = Lookups)]
    public int TranslateMany() => _space.TranslateMany(_addresses, _results);

    /// <summary>The same walk from <see cref="AddressSpace.RootPhysical"/> with no guard and no checks.</summary>
    [Benchmark(OperationsPerInvoke = Lookups)]
    public ulong BareWalk()
    {
        ulong sum = 0;
        nint root = _allocator.VirtualOf(_space.RootPhysical);
        ulong toPointer = (ulong)_allocator.VirtualOf(0);
        foreach (ulong va in _addresses)
        {
            sum += Walk(root, toPointer, va);
        }

        return sum;
    }

    /// <summary><see cref="Dictionary"/> with each lookup's address depending on the previous result.</summary>
    [Benchmark(OperationsPerInvoke = Lookups)]
    public ulong DictionaryDependent()
    {
        ulong sum = 0;
        ulong carry = 0;
        foreach (ulong va in _addresses)
        {
            ulong pa = _dictionary.TryGetValue(va + carry, out ulong found) ? found : 0;
            carry = pa >> CarryShift;
            sum += pa;
        }

        return sum;
    }

    /// <summary><see cref="TryTranslate"/> with each lookup's address depending on the previous result.</summary>
    [Benchmark(OperationsPerInvoke = Lookups)]
    public ulong TryTranslateDependent()
    {
        ulong sum = 0;
        ulong carry = 0;
        foreach (ulong va in _addresses)
        {
            ulong pa = _space.TryTranslate(va + carry, out ulong found, out _) ? found : 0;
            carry = pa >> CarryShift;
            sum += pa;
        }

        return sum;
    }

    /// <summary><see cref="BareWalk"/> with each lookup's address depending on the previous result.</summary>
    [Benchmark(OperationsPerInvoke = Lookups)]
    public ulong BareWalkDependent()
    {
        ulong sum = 0;
        ulong carry = 0;
        nint root = _allocator.VirtualOf(_space.RootPhysical);
        ulong toPointer = (ulong)_allocator.VirtualOf(0);
        foreach (ulong va in _addresses)
        {
            ulong pa = Walk(root, toPointer, va + carry);
            carry = pa >> CarryShift;
            sum += pa;
        }

        return sum;
    }

    /// <summary>
    /// The bare 4-level walk: the tables' own format read with plain loads, unrolled, 4 KiB leaves only, no
    /// canonical check, no guard; 0 when not mapped. Like the library's walk, it takes a table reference's frame by
    /// clearing the entry's low 12 bits, so the floor stays the same code minus the safety.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong Walk(nint root, ulong toPointer, ulong va)
    {
        ulong entry = ((ulong*)root)[(va >> Pml4Shift) & IndexMask];
        if ((entry & Present) == 0)
        {
            return 0;
        }

        entry = ((ulong*)((entry & TableFrameMask) + toPointer))[(va >> PdptShift) & IndexMask];
        if ((entry & PresentOrLeaf) != Present)
        {
            return 0;
        }

        entry = ((ulong*)((entry & TableFrameMask) + toPointer))[(va >> PdShift) & IndexMask];
        if ((entry & PresentOrLeaf) != Present)
        {
            return 0;
        }

        entry = ((ulong*)((entry & TableFrameMask) + toPointer))[(va >> PageShift) & IndexMask];
        return (entry & Present) == 0 ? 0 : (entry & FrameMask) | (va & PageOffsetMask);
    }
}
