using System.Diagnostics.Metrics;
using System.Diagnostics.Tracing;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;

namespace FastReclaim.Benchmarks;

/// <summary>
/// What the FastReclaim meter and event source cost on the translate and zap paths. The same two operations run
/// in three processes (jobs) of the same run:
/// <list type="bullet">
/// <item><c>NoInstruments</c> (baseline): the <c>FastReclaim.Diagnostics.IsSupported</c> switch is off, so no space
/// or domain registers with the meter and every guard is a JIT-folded <see langword="false"/> — the library as if it
/// had no instruments;</item>
/// <item><c>NoListener</c>: the default, instruments compiled in and nobody listening (the claim: within 2% of the baseline);</item>
/// <item><c>Listening</c>: a <see cref="MeterListener"/> on every FastReclaim instrument and an <see cref="EventListener"/>
/// at Informational on the FastReclaim event source, as <c>dotnet-counters</c> and a default <c>dotnet-trace</c> would be.</item>
/// </list>
/// <see cref="Translate"/> looks up <see cref="Lookups"/> mapped addresses; <see cref="ZapAndRefault"/> zaps
/// <see cref="Regions"/> whole 2 MiB regions (each PTE table unhooked and retired, under the Linux policy) and maps them again.
/// </summary>
[Config(typeof(Jobs))]
[MemoryDiagnoser]
public class DiagnosticsBenchmarks
{
    /// <summary>Environment variable that tells each job's process which mode to set up.</summary>
    private const string ModeVariable = "FASTRECLAIM_BENCH_DIAGNOSTICS";
    private const string Off = "off";
    private const string Listen = "listen";
    private const string DiagnosticsSwitch = "FastReclaim.Diagnostics.IsSupported";

    private const ulong Base = 0x1000_0000_0000;
    private const ulong RegionBytes = (ulong)PageAllocator.PageSize * (PageAllocator.PageSize / sizeof(ulong));
    private const int PagesPerRegion = 32;
    private const ulong ChunkBytes = (ulong)PagesPerRegion * PageAllocator.PageSize;
    private const int Regions = 64;
    private const int Lookups = 1024;

    private AddressSpace _space = null!;
    private MeterListener? _meterListener;
    private EventListener? _eventListener;
    private ulong[] _addresses = [];

    [GlobalSetup]
    public void Setup()
    {
        // Before the library is first touched: the switch is read once, into a static readonly field.
        string? mode = Environment.GetEnvironmentVariable(ModeVariable);
        if (mode == Off)
        {
            AppContext.SetSwitch(DiagnosticsSwitch, false);
        }
        else if (mode == Listen)
        {
            _meterListener = new MeterListener
            {
                InstrumentPublished = (instrument, listener) =>
                {
                    if (instrument.Meter.Name == "FastReclaim")
                    {
                        listener.EnableMeasurementEvents(instrument);
                    }
                },
            };
            _meterListener.SetMeasurementEventCallback<double>(static (_, _, _, _) => { });
            _meterListener.SetMeasurementEventCallback<long>(static (_, _, _, _) => { });
            _meterListener.Start();
            _eventListener = new FastReclaimListener();
        }

        _space = new AddressSpace(new AddressSpaceOptions { Policy = ReclaimPolicy.Linux });
        for (int region = 0; region < Regions; region++)
        {
            Refault(region);
        }

        var random = new Random(42);
        _addresses = [.. Enumerable.Range(0, Lookups).Select(_ =>
            RegionAddress(random.Next(Regions)) + ((ulong)random.Next(PagesPerRegion) * PageAllocator.PageSize))];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _space.Dispose();
        _meterListener?.Dispose();
        _eventListener?.Dispose();
    }

    [Benchmark(OperationsPerInvoke = Lookups)]
    public ulong Translate()
    {
        ulong sum = 0;
        foreach (ulong va in _addresses)
        {
            _space.TryTranslate(va, out ulong pa, out _);
            sum += pa;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Regions)]
    public long ZapAndRefault()
    {
        long reclaimed = 0;
        for (int region = 0; region < Regions; region++)
        {
            reclaimed += _space.Zap(RegionAddress(region), RegionBytes).ReclaimedTables;
            Refault(region);
        }

        return reclaimed;
    }

    private void Refault(int region) => _space.Map(RegionAddress(region), RegionAddress(region) - Base, ChunkBytes, PageFlags.Writable);

    private static ulong RegionAddress(int region) => Base + ((ulong)region * RegionBytes);

    /// <summary>
    /// One process per mode (the switch is read once per process), several launches each so that a process's
    /// code and heap layout does not pass for a cost, fixed counts so that the run stays within a few minutes.
    /// </summary>
    private sealed class Jobs : ManualConfig
    {
        private const int Launches = 3;
        private const int Warmups = 5;
        private const int Iterations = 20;
        private const int IterationMilliseconds = 100;

        public Jobs()
        {
            Job measured = Job.Default
                .WithLaunchCount(Launches)
                .WithWarmupCount(Warmups)
                .WithIterationCount(Iterations)
                .WithIterationTime(Perfolizer.Horology.TimeInterval.FromMilliseconds(IterationMilliseconds));
            AddJob(measured.WithId("NoInstruments").WithEnvironmentVariable(ModeVariable, Off).AsBaseline());
            AddJob(measured.WithId("NoListener"));
            AddJob(measured.WithId("Listening").WithEnvironmentVariable(ModeVariable, Listen));
        }
    }

    /// <summary>Listens to the FastReclaim event source at Informational (stalls and sweeps, not per-table decisions).</summary>
    private sealed class FastReclaimListener : EventListener
    {
        protected override void OnEventSourceCreated(EventSource eventSource)
        {
            if (eventSource.Name == "FastReclaim")
            {
                EnableEvents(eventSource, EventLevel.Informational, EventKeywords.All);
            }
        }
    }
}
