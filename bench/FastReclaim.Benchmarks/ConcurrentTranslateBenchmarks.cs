using BenchmarkDotNet.Attributes;

namespace FastReclaim.Benchmarks;

/// <summary>
/// Translate throughput of two reader threads (each does <see cref="LookupsPerReader"/> random lookups over 64 Ki
/// mapped pages, guard per lookup) with no writer (baseline) and while a writer thread keeps mapping and zapping
/// whole PTE tables of another range of the same space (every zap reclaims a table). Per lookup.
/// </summary>
[MemoryDiagnoser]
public class ConcurrentTranslateBenchmarks
{
    private const int Readers = 2;
    private const int LookupsPerReader = 1 << 20;
    private const int ReaderPages = 64 * 1024;
    private const int WriterTables = 64;
    private const ulong TableSpan = 2UL << 20;
    private const ulong ReaderBase = 0x1000_0000_0000;
    private const ulong WriterBase = 0x2000_0000_0000;

    private AddressSpace _space = null!;
    private ulong[] _addresses = [];
    private Thread? _writer;
    private volatile bool _stopWriter;

    [GlobalSetup]
    public void Setup()
    {
        _space = new AddressSpace(new AddressSpaceOptions { Policy = ReclaimPolicy.Linux });
        _space.Map(ReaderBase, 0, (ulong)ReaderPages * PageAllocator.PageSize, PageFlags.Writable);
        var random = new Random(42);
        _addresses = [.. Enumerable.Range(0, LookupsPerReader).Select(_ => ReaderBase + ((ulong)random.Next(ReaderPages) * PageAllocator.PageSize))];
    }

    [GlobalSetup(Target = nameof(ReadersWhileWriterZaps))]
    public void SetupWithWriter()
    {
        Setup();
        _stopWriter = false;
        _writer = new Thread(() =>
        {
            for (int i = 0; !_stopWriter; i = (i + 1) % WriterTables)
            {
                ulong table = WriterBase + ((ulong)i * TableSpan);
                _space.Map(table, 0, 16 * PageAllocator.PageSize, PageFlags.Writable);
                _space.Zap(table, TableSpan);
            }
        })
        { IsBackground = true };
        _writer.Start();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _stopWriter = true;
        _writer?.Join();
        _space.Dispose();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Readers * LookupsPerReader)]
    public long ReadersAlone() => RunReaders();

    [Benchmark(OperationsPerInvoke = Readers * LookupsPerReader)]
    public long ReadersWhileWriterZaps() => RunReaders();

    private long RunReaders()
    {
        long mapped = 0;
        Parallel.For(0, Readers, new ParallelOptions { MaxDegreeOfParallelism = Readers }, reader =>
        {
            long local = 0;
            foreach (ulong va in _addresses)
            {
                local += _space.TryTranslate(va, out _, out _) ? 1 : 0;
            }

            Interlocked.Add(ref mapped, local);
        });
        return mapped;
    }
}
