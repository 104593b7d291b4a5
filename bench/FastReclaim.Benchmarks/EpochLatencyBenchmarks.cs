using System.Diagnostics;
using BenchmarkDotNet.Attributes;

namespace FastReclaim.Benchmarks;

/// <summary>
/// Retire → free latency with readers running: one reader thread per spare core enters a guard, dwells
/// <see cref="ReaderDwellSpins"/> spins and leaves, in a loop; the benchmark thread retires one item every
/// <see cref="WorkBetweenRetiresNs"/> of simulated writer work (0 = back to back). Each item carries its
/// retire timestamp and its free callback records the latency; the distribution (p50, p99, max over the most
/// recent <see cref="SampleCapacity"/> items) is printed at cleanup as an <c>EPOCH-LATENCY</c> line. The
/// measured time per operation is the writer's cost of one retire plus its work under that reader load.
/// Baseline: the same work with the item freed at once (no reclamation at all).
/// </summary>
[MemoryDiagnoser]
public unsafe class EpochLatencyBenchmarks
{
    private const int SampleCapacity = 1 << 22;
    private const int ReaderDwellSpins = 20;

    private static long[] s_samples = [];
    private static long s_sampleCount;
    private static volatile bool s_recording;

    private EpochDomain _domain = null!;
    private Thread[] _readers = [];
    private volatile bool _stop;

    [Params(0, 1000)]
    public int WorkBetweenRetiresNs { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _domain = new EpochDomain();
        s_samples = new long[SampleCapacity];
        s_sampleCount = 0;
        _stop = false;
        int readers = Math.Max(1, Environment.ProcessorCount - 1);
        _readers = [.. Enumerable.Range(0, readers).Select(_ => new Thread(ReadUntilStopped) { IsBackground = true })];
        foreach (Thread reader in _readers)
        {
            reader.Start();
        }

        s_recording = true;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        s_recording = false;
        _stop = true;
        foreach (Thread reader in _readers)
        {
            reader.Join();
        }

        long count = Math.Min(Interlocked.Read(ref s_sampleCount), SampleCapacity);
        long[] samples = s_samples[..(int)count];
        Array.Sort(samples);
        EpochStats stats = _domain.Stats;
        _domain.Dispose();
        Console.WriteLine(
            $"EPOCH-LATENCY work={WorkBetweenRetiresNs}ns readers={_readers.Length} samples={count} " +
            $"p50={Micros(Percentile(samples, 0.50)):F1}us p99={Micros(Percentile(samples, 0.99)):F1}us max={Micros(samples.Length > 0 ? samples[^1] : 0):F1}us " +
            $"advances={stats.Advances} barriers={stats.ProcessWideBarriers} stalls={stats.Stalls}");
    }

    [Benchmark(Baseline = true)]
    public void FreeAtOnce()
    {
        Record((nint)Stopwatch.GetTimestamp());
        Work();
    }

    [Benchmark]
    public void RetireUnderReaders()
    {
        _domain.Retire((nint)Stopwatch.GetTimestamp(), &Record);
        Work();
    }

    private static void Record(nint retiredAt)
    {
        if (!s_recording)
        {
            return;
        }

        long latency = Stopwatch.GetTimestamp() - retiredAt;
        long index = Interlocked.Increment(ref s_sampleCount) - 1;
        s_samples[index & (SampleCapacity - 1)] = latency;
    }

    private static long Percentile(long[] sorted, double fraction) =>
        sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)(fraction * sorted.Length))];

    private static double Micros(long ticks) => ticks * 1e6 / Stopwatch.Frequency;

    private void Work()
    {
        if (WorkBetweenRetiresNs == 0)
        {
            return;
        }

        long until = Stopwatch.GetTimestamp() + (WorkBetweenRetiresNs * Stopwatch.Frequency / 1_000_000_000);
        while (Stopwatch.GetTimestamp() < until)
        {
            Thread.SpinWait(1);
        }
    }

    private void ReadUntilStopped()
    {
        while (!_stop)
        {
            using (_domain.Enter())
            {
                Thread.SpinWait(ReaderDwellSpins);
            }
        }
    }
}
