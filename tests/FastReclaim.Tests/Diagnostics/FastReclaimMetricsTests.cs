using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using FastReclaim.Diagnostics;

namespace FastReclaim.Tests.Diagnostics;

[Collection(DiagnosticsCollection.Name)]
public class FastReclaimMetricsTests
{
    private const long PageSize = PageAllocator.PageSize;

    [Fact]
    public void Epoch_Instruments_Report_A_Registered_Domain_Reading_Tagged_With_Its_Id()
    {
        var domain = new FakeEpochSource { Reading = new EpochReading(GlobalEpoch: 42, PendingItems: 7, FreedItems: 1000, Stalls: 3) };
        using MetricsRegistration registration = FastReclaimMetrics.Register(domain);
        using var recorder = new MeterRecorder();

        recorder.Collect();

        var tag = (FastReclaimDiagnostics.Tags.Domain, Id(registration));
        Assert.Equal([42.0], recorder.Values(FastReclaimDiagnostics.Instruments.Epoch, tag));
        Assert.Equal([7.0], recorder.Values(FastReclaimDiagnostics.Instruments.EpochPending, tag));
        Assert.Equal([1000.0], recorder.Values(FastReclaimDiagnostics.Instruments.EpochFreed, tag));
        Assert.Equal([3.0], recorder.Values(FastReclaimDiagnostics.Instruments.EpochStalls, tag));
    }

    [Fact]
    public void Page_Table_Instruments_Report_Bytes_Per_Level_And_Policy()
    {
        var space = new FakePageTableSource
        {
            Reading = new PageTableReading("linux", PteBytes: 16384L * PageSize, PmdBytes: 32L * PageSize, PudBytes: 1L * PageSize,
                P4dBytes: 0, PendingBytes: 5L * PageSize, ReclaimedTables: 9, AllocatedTables: 16426),
        };
        using MetricsRegistration registration = FastReclaimMetrics.Register(space);
        using var recorder = new MeterRecorder();

        recorder.Collect();

        var spaceTag = (FastReclaimDiagnostics.Tags.Space, Id(registration));
        var policyTag = (FastReclaimDiagnostics.Tags.Policy, "linux");
        Assert.Equal([16384.0 * PageSize], recorder.Values(FastReclaimDiagnostics.Instruments.PageTableSize, spaceTag, policyTag, (FastReclaimDiagnostics.Tags.Level, "pte")));
        Assert.Equal([32.0 * PageSize], recorder.Values(FastReclaimDiagnostics.Instruments.PageTableSize, spaceTag, (FastReclaimDiagnostics.Tags.Level, "pmd")));
        Assert.Equal([1.0 * PageSize], recorder.Values(FastReclaimDiagnostics.Instruments.PageTableSize, spaceTag, (FastReclaimDiagnostics.Tags.Level, "pud")));
        Assert.Equal([0.0], recorder.Values(FastReclaimDiagnostics.Instruments.PageTableSize, spaceTag, (FastReclaimDiagnostics.Tags.Level, "p4d")));
        Assert.Equal([5.0 * PageSize], recorder.Values(FastReclaimDiagnostics.Instruments.PageTablePending, spaceTag, policyTag));
        Assert.Equal([9.0], recorder.Values(FastReclaimDiagnostics.Instruments.PageTablesReclaimed, spaceTag, policyTag));
        Assert.Equal([16426.0], recorder.Values(FastReclaimDiagnostics.Instruments.PageTablesAllocated, spaceTag, policyTag));
    }

    [Fact]
    public void Observable_Instruments_Read_The_Owner_Only_When_A_Listener_Collects()
    {
        var domain = new FakeEpochSource();
        using MetricsRegistration registration = FastReclaimMetrics.Register(domain);
        using var recorder = new MeterRecorder();
        Assert.Equal(0, domain.Reads);

        recorder.Collect();

        Assert.True(domain.Reads > 0);
    }

    [Fact]
    public void A_Disposed_Owner_Is_No_Longer_Read_Or_Reported()
    {
        var domain = new FakeEpochSource { Reading = new EpochReading(1, 2, 3, 4) };
        MetricsRegistration registration = FastReclaimMetrics.Register(domain);
        string id = Id(registration);
        using var recorder = new MeterRecorder();

        registration.Dispose();
        registration.Dispose();
        recorder.Collect();

        Assert.Equal(0, domain.Reads);
        Assert.Empty(recorder.Values(FastReclaimDiagnostics.Instruments.Epoch, (FastReclaimDiagnostics.Tags.Domain, id)));
    }

    [Fact]
    public void An_Owner_Never_Disposed_Is_Not_Kept_Alive_By_The_Registry()
    {
        (WeakReference weak, MetricsRegistration registration) = RegisterUnreferencedDomain();
        using var recorder = new MeterRecorder();

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        recorder.Collect();

        Assert.False(weak.IsAlive);
        Assert.Empty(recorder.Values(FastReclaimDiagnostics.Instruments.Epoch, (FastReclaimDiagnostics.Tags.Domain, Id(registration))));
        registration.Dispose();
    }

    [Fact]
    public void Allocated_Tables_Count_Every_Table_Hooked_In_Also_Those_Zapped_Or_Unmapped_Since()
    {
        const ulong Base = 0x1000_0000_0000;
        const ulong Span = 64UL << 21; // 64 PTE tables under one PMD table under one PUD table
        using var space = new AddressSpace(new AddressSpaceOptions { Policy = ReclaimPolicy.Linux });
        IPageTableMetricsSource source = space;

        space.Map(Base, 0x4000_0000, Span, PageFlags.Present | PageFlags.Writable);
        Assert.Equal(66, source.ReadMetrics().AllocatedTables);
        space.Zap(Base, Span); // Linux: the 64 PTE tables go, the PMD and PUD stay
        space.Map(Base, 0x4000_0000, Span, PageFlags.Present | PageFlags.Writable);
        Assert.Equal(66 + 64, source.ReadMetrics().AllocatedTables);
        space.Unmap(Base, Span);
        space.Map(Base, 0x4000_0000, Span, PageFlags.Present | PageFlags.Writable);

        PageTableReading reading = source.ReadMetrics();
        Assert.Equal("linux", reading.Policy);
        Assert.Equal((64L * PageSize, 1L * PageSize, 1L * PageSize, 0L), (reading.PteBytes, reading.PmdBytes, reading.PudBytes, reading.P4dBytes));
        Assert.Equal(66 + 64 + 64, reading.AllocatedTables); // the unmap freed the 64 PTE tables, not the PMD (1 GiB span)
    }

    [Fact]
    public void Registrations_Get_Distinct_Ids()
    {
        using MetricsRegistration first = FastReclaimMetrics.Register(new FakeEpochSource());
        using MetricsRegistration second = FastReclaimMetrics.Register(new FakeEpochSource());

        Assert.NotEqual(first.Id, second.Id);
    }

    [Fact]
    public void Grace_Period_Is_Recorded_Only_While_A_Listener_Is_Enabled()
    {
        long started = Stopwatch.GetTimestamp();
        const int Domain = 12345;
        Assert.False(FastReclaimMetrics.GracePeriodObserved);

        using (var recorder = new MeterRecorder())
        {
            Assert.True(FastReclaimMetrics.GracePeriodObserved);
            FastReclaimMetrics.RecordGracePeriod(Domain, started);
            double milliseconds = Assert.Single(recorder.Values(FastReclaimDiagnostics.Instruments.EpochGracePeriod, (FastReclaimDiagnostics.Tags.Domain, "12345")));
            Assert.InRange(milliseconds, 0, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }

        Assert.False(FastReclaimMetrics.GracePeriodObserved);
    }

    [Fact]
    public void Sweep_Duration_Is_Recorded_With_Space_And_Policy_Tags()
    {
        using var recorder = new MeterRecorder();

        FastReclaimMetrics.RecordSweep(space: 777, "eager", Stopwatch.GetTimestamp(), tablesScanned: 10, tablesReclaimed: 4);

        Assert.Single(recorder.Values(FastReclaimDiagnostics.Instruments.SweepDuration,
            (FastReclaimDiagnostics.Tags.Space, "777"), (FastReclaimDiagnostics.Tags.Policy, "eager")));
    }

    private static string Id(MetricsRegistration registration) => registration.Id.ToString(CultureInfo.InvariantCulture);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (WeakReference, MetricsRegistration) RegisterUnreferencedDomain()
    {
        var domain = new FakeEpochSource { Reading = new EpochReading(5, 6, 7, 8) };
        return (new WeakReference(domain), FastReclaimMetrics.Register(domain));
    }

    private sealed class FakeEpochSource : IEpochMetricsSource
    {
        public EpochReading Reading { get; init; }

        public int Reads { get; private set; }

        public EpochReading ReadMetrics()
        {
            Reads++;
            return Reading;
        }
    }

    private sealed class FakePageTableSource : IPageTableMetricsSource
    {
        public PageTableReading Reading { get; init; }

        public PageTableReading ReadMetrics() => Reading;
    }
}
