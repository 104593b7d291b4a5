using BenchmarkDotNet.Attributes;
using FastReclaim.Sandbox;

namespace FastReclaim.Benchmarks;

/// <summary>
/// What a real walker of the Arm64 and RISC-V tables costs: <see cref="Addresses"/> sparse 4 KiB pages (one per
/// 2 MiB, so one PTE table each) read by the emulated CPU (Unicorn 2) of the format, against the engine's own
/// software walk of the same tables (<see cref="AddressSpace.TranslateMany"/>, the baseline). Per batch:
/// <list type="bullet">
/// <item><see cref="EmulatedRead"/>: <see cref="EmulatedMachine.Read"/>, the sandbox's read: every load a full
/// walk (the previous batch's TLB invalidation emptied the TLB), then the invalidation, then a quiescent point.</item>
/// <item><see cref="EmulatedReadThroughTlb"/>: the same loads with the translations already in the TLB and no
/// invalidation (<see cref="EmulatedMachine.ReadWithoutInvalidate"/>): the cost of entering the emulator.</item>
/// </list>
/// Not in the CI perf gate (it needs libunicorn.so.2: tools/setup.sh). Figures: perf-results/emulator.md.
/// </summary>
[MemoryDiagnoser]
public class EmulatedWalkBenchmarks
{
    private const ulong DataBase = 0x20_0000_0000;
    private const ulong TwoMiB = 1UL << 21;

    private EmulatedMachine _machine = null!;
    private ulong[] _vas = [];
    private ulong[] _values = [];

    [Params(PageTableFormat.Arm64, PageTableFormat.RiscV64)]
    public PageTableFormat Format { get; set; }

    [Params(32)]
    public int Addresses { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        if (!UnicornAvailability.IsAvailable(out string reason))
        {
            throw new InvalidOperationException(reason);
        }

        _machine = new EmulatedMachine(new EmulatedMachineOptions { Format = Format, Levels = 4 });
        _vas = new ulong[Addresses];
        _values = new ulong[Addresses];
        for (int i = 0; i < Addresses; i++)
        {
            _vas[i] = DataBase + ((ulong)i * TwoMiB);
            _machine.AddressSpace.Map(_vas[i], _machine.Allocator.PhysicalOf(_machine.Allocator.Allocate()), PageAllocator.PageSize, EmulatedMachine.DataFlags);
        }

        _machine.ReadWithoutInvalidate(_vas, _values); // fills the TLB for EmulatedReadThroughTlb
    }

    [GlobalCleanup]
    public void Cleanup() => _machine.Dispose();

    [Benchmark(Baseline = true)]
    public int TranslateMany() => _machine.AddressSpace.TranslateMany(_vas, _values);

    [Benchmark]
    public int EmulatedRead() => _machine.Read(_vas, _values).Completed;

    [Benchmark]
    public int EmulatedReadThroughTlb() => _machine.ReadWithoutInvalidate(_vas, _values).Completed;
}
