using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;

namespace FastReclaim.Benchmarks;

/// <summary>
/// The read side: one enter + exit of a critical section, uncontended, per operation (each invocation runs
/// <see cref="Pins"/> of them, so loop overhead is shared equally). Baseline: the classic announce pin that
/// publishes the epoch with <see cref="Interlocked.Exchange(ref long, long)"/> (a locked instruction, which is
/// what LightEpoch-style and crossbeam-style pins pay), on a padded slot like ours. Against it: the automatic
/// guard (thread-static lookup + plain store), a nested guard, the explicit reader handle, a QSBR quiescent
/// point, <see cref="ReaderWriterLockSlim"/> read lock and <c>lock</c>.
/// </summary>
[MemoryDiagnoser]
public class EpochBenchmarks
{
    /// <summary>Critical sections per invocation.</summary>
    private const int Pins = 1024;

    private readonly object _monitor = new();
    private readonly ReaderWriterLockSlim _rwLock = new();
    private InterlockedSlot _slot;
    private EpochDomain _domain = null!;
    private EpochReader _reader = null!;

    [GlobalSetup]
    public void Setup()
    {
        _domain = new EpochDomain();
        _reader = _domain.RegisterReader();
        using (_domain.Enter())
        {
            // Registers this thread's slot before measuring.
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _reader.Dispose();
        _domain.Dispose();
        _rwLock.Dispose();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Pins)]
    public void InterlockedAnnouncePin()
    {
        for (int i = 0; i < Pins; i++)
        {
            Interlocked.Exchange(ref _slot.Epoch, Volatile.Read(ref _slot.Global) | 1);
            Volatile.Write(ref _slot.Epoch, 0);
        }
    }

    [Benchmark(OperationsPerInvoke = Pins)]
    public void EpochGuard()
    {
        for (int i = 0; i < Pins; i++)
        {
            using EpochGuard guard = _domain.Enter();
        }
    }

    [Benchmark(OperationsPerInvoke = Pins)]
    public void NestedEpochGuard()
    {
        using EpochGuard outer = _domain.Enter();
        for (int i = 0; i < Pins; i++)
        {
            using EpochGuard inner = _domain.Enter();
        }
    }

    [Benchmark(OperationsPerInvoke = Pins)]
    public void ReaderHandle()
    {
        EpochReader reader = _reader;
        for (int i = 0; i < Pins; i++)
        {
            reader.Enter();
            reader.Exit();
        }
    }

    [Benchmark(OperationsPerInvoke = Pins)]
    public void QsbrQuiescentPoint()
    {
        _domain.Online();
        for (int i = 0; i < Pins; i++)
        {
            _domain.Quiescent();
        }

        _domain.Offline();
    }

    [Benchmark(OperationsPerInvoke = Pins)]
    public void ReaderWriterLockSlimRead()
    {
        for (int i = 0; i < Pins; i++)
        {
            _rwLock.EnterReadLock();
            _rwLock.ExitReadLock();
        }
    }

    [Benchmark(OperationsPerInvoke = Pins)]
    public void MonitorLock()
    {
        for (int i = 0; i < Pins; i++)
        {
            lock (_monitor)
            {
            }
        }
    }

    /// <summary>The baseline's global epoch and announce slot, each alone on its cache line, as in the domain.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 384)]
    private struct InterlockedSlot
    {
        [FieldOffset(128)]
        public long Global;

        [FieldOffset(256)]
        public long Epoch;
    }
}
