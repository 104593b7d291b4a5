using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;

namespace FastReclaim.Benchmarks;

/// <summary>
/// Every way to translate, against the memory system's own limit, per lookup: the same <see cref="Lookups"/> (1 Mi)
/// precomputed random addresses among <see cref="Pages"/> contiguous mapped 4 KiB pages, read in the same order, the
/// results summed (independent lookups, so the CPU may overlap their misses: a throughput measure).
/// <list type="bullet">
/// <item><see cref="GatherFloor"/> (the reference): one independent random 8-byte read per lookup from an array as
/// large as the PTE tables (8 bytes per page), at the same index as the lookup's PTE. No walk can beat it: a walk's
/// last read is exactly such a read, after three more.</item>
/// <item><see cref="BareWalk"/>: the 4-level walk of the same tables with plain loads, no guard, no checks
/// (<see cref="AddressSpaceBenchmarks"/>' floor for a single lookup).</item>
/// <item>The library: both <c>TryTranslate</c> overloads, <c>TranslateMany</c> over the whole batch, and two
/// readers (each half the addresses, on two threads) through each.</item>
/// <item><see cref="Dictionary"/>: the obvious managed map from page to frame.</item>
/// <item>Each with <see cref="IntervalReclaim"/> off (epoch reclamation) and on (the walks announce their tables).</item>
/// </list>
/// Only the 1 Ki-page cases of <see cref="AddressSpaceBenchmarks"/> are in the CI perf gate; this suite is for reading.
/// </summary>
[MemoryDiagnoser]
public unsafe class TranslateBenchmarks
{
    private const int Lookups = TranslateFixture.Lookups;
    private const int Readers = 2;

    /// <summary>The allocator's chunk alignment, so the gathered array lies in memory like the tables do.</summary>
    private const nuint GatherAlignment = 2 << 20;

    private TranslateFixture _fixture = null!;
    private AddressSpace _space = null!;
    private PageAllocator _allocator = null!;
    private Dictionary<ulong, ulong> _dictionary = null!;
    private ulong* _gather;
    private ulong[] _addresses = [];
    private ulong[] _results = [];
    private EpochReader _reader = null!;

    [Params(1024, 64 * 1024, 1024 * 1024)]
    public int Pages { get; set; }

    /// <summary><see cref="AddressSpaceOptions.IntervalReclaim"/>: the walks read the era at every level (false: today's read side).</summary>
    [Params(false, true)]
    public bool IntervalReclaim { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _fixture = new TranslateFixture(Pages, IntervalReclaim);
        _allocator = _fixture.Allocator;
        _space = _fixture.Space;
        _dictionary = _fixture.Dictionary;
        _addresses = _fixture.Addresses;
        _results = _fixture.Results;
        _reader = _fixture.Reader;
        _gather = (ulong*)NativeMemory.AlignedAlloc((nuint)Pages * sizeof(ulong), GatherAlignment);
        for (int i = 0; i < Pages; i++)
        {
            _gather[i] = TranslateFixture.PhysicalOf(i);
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _fixture.Dispose();
        NativeMemory.AlignedFree(_gather);
    }

    /// <summary>One random 8-byte read per lookup, at the lookup's page index: the memory-level-parallelism floor.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Lookups)]
    public ulong GatherFloor()
    {
        ulong sum = 0;
        ulong* gather = _gather;
        foreach (ulong va in _addresses)
        {
            sum += gather[(va - TranslateFixture.SpaceBase) / PageAllocator.PageSize];
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Lookups)]
    public ulong BareWalk()
    {
        ulong sum = 0;
        nint root = _allocator.VirtualOf(_space.RootPhysical);
        ulong toPointer = (ulong)_allocator.VirtualOf(0);
        foreach (ulong va in _addresses)
        {
            sum += AddressSpaceBenchmarks.Walk(root, toPointer, va);
        }

        return sum;
    }

    /// <summary>One <see cref="EpochDomain.Enter"/> guard per lookup (the thread-static lookup included).</summary>
    [Benchmark(OperationsPerInvoke = Lookups)]
    public ulong TryTranslate() => TranslateEach(_addresses);

    /// <summary>The thread's <see cref="EpochReader"/> entered and left around every lookup.</summary>
    [Benchmark(OperationsPerInvoke = Lookups)]
    public ulong TryTranslateReader() => TranslateEach(_reader, _addresses);

    /// <summary>The whole batch under one guard, results stored.</summary>
    [Benchmark(OperationsPerInvoke = Lookups)]
    public int TranslateMany() => _space.TranslateMany(_addresses, _results);

    [Benchmark(OperationsPerInvoke = Lookups)]
    public ulong Dictionary()
    {
        ulong sum = 0;
        foreach (ulong va in _addresses)
        {
            sum += _dictionary.TryGetValue(va, out ulong pa) ? pa : 0;
        }

        return sum;
    }

    /// <summary>Two threads, each translating half the addresses with a guard per lookup; per lookup of the pair.</summary>
    [Benchmark(OperationsPerInvoke = Lookups)]
    public long TwoReadersTryTranslate()
    {
        long sum = 0;
        Parallel.For(0, Readers, new ParallelOptions { MaxDegreeOfParallelism = Readers }, reader =>
            Interlocked.Add(ref sum, (long)TranslateEach(Half(reader))));
        return sum;
    }

    /// <summary>Two threads, each translating half the addresses as one batch; per lookup of the pair.</summary>
    [Benchmark(OperationsPerInvoke = Lookups)]
    public long TwoReadersTranslateMany()
    {
        long mapped = 0;
        Parallel.For(0, Readers, new ParallelOptions { MaxDegreeOfParallelism = Readers }, reader =>
            Interlocked.Add(ref mapped, _space.TranslateMany(Half(reader), _results.AsSpan(reader * (Lookups / Readers)))));
        return mapped;
    }

    private ReadOnlySpan<ulong> Half(int reader) => _addresses.AsSpan(reader * (Lookups / Readers), Lookups / Readers);

    private ulong TranslateEach(ReadOnlySpan<ulong> addresses)
    {
        ulong sum = 0;
        foreach (ulong va in addresses)
        {
            sum += _space.TryTranslate(va, out ulong pa, out _) ? pa : 0;
        }

        return sum;
    }

    private ulong TranslateEach(EpochReader reader, ReadOnlySpan<ulong> addresses)
    {
        ulong sum = 0;
        foreach (ulong va in addresses)
        {
            sum += _space.TryTranslate(reader, va, out ulong pa, out _) ? pa : 0;
        }

        return sum;
    }
}
