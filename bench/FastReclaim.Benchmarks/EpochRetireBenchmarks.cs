using System.Collections.Concurrent;
using BenchmarkDotNet.Attributes;
using FastReclaim.BenchmarkDotNet;

namespace FastReclaim.Benchmarks;

/// <summary>
/// Retire, amortized: each invocation retires <see cref="Items"/> items on one thread with no reader inside,
/// and the measured time includes everything that retiring sets off (sealing bags, advancing the epoch with a
/// process-wide barrier, running the no-op free callbacks). Baseline: the naive deferred-free list, a
/// <see cref="ConcurrentQueue{T}"/> of (item, callback) that is drained by the same thread every
/// <see cref="EpochOptions.DefaultCollectThreshold"/> items — no grace period at all, so the cost of safety is
/// the ratio.
/// </summary>
[MemoryDiagnoser]
[FastReclaimDiagnoser]
public unsafe class EpochRetireBenchmarks
{
    private const int Items = 4096;

    private static readonly Action<nint> s_noOpAction = static _ => { };

    private readonly ConcurrentQueue<(nint Item, Action<nint> Free)> _queue = new();
    private EpochDomain _domain = null!;

    [GlobalSetup]
    public void Setup() => _domain = new EpochDomain();

    [GlobalCleanup]
    public void Cleanup() => _domain.Dispose();

    [Benchmark(Baseline = true, OperationsPerInvoke = Items)]
    public void ConcurrentQueueDeferredFree()
    {
        for (int i = 0; i < Items; i++)
        {
            _queue.Enqueue((i, s_noOpAction));
            if ((i & (EpochOptions.DefaultCollectThreshold - 1)) == EpochOptions.DefaultCollectThreshold - 1)
            {
                while (_queue.TryDequeue(out var entry))
                {
                    entry.Free(entry.Item);
                }
            }
        }
    }

    [Benchmark(OperationsPerInvoke = Items)]
    public void RetireFunctionPointer()
    {
        for (int i = 0; i < Items; i++)
        {
            _domain.Retire(i, &NoOp);
        }
    }

    [Benchmark(OperationsPerInvoke = Items)]
    public void RetireDelegate()
    {
        for (int i = 0; i < Items; i++)
        {
            _domain.Retire(i, s_noOpAction);
        }
    }

    private static void NoOp(nint item)
    {
    }
}
