using System.Diagnostics.Metrics;
using System.Diagnostics.Tracing;
using FastReclaim.Diagnostics;

namespace FastReclaim.Tests.Diagnostics;

/// <summary>
/// The published names are a contract with tools (dotnet-counters, dotnet-trace, dashboards): each is pinned
/// here to its literal, and the library is shown to report under exactly these names.
/// </summary>
public sealed class FastReclaimDiagnosticsTests
{
    [Fact]
    public void Names_Are_The_Documented_Strings()
    {
        Assert.Equal("FastReclaim", FastReclaimDiagnostics.MeterName);
        Assert.Equal("FastReclaim", FastReclaimDiagnostics.EventSourceName);
        Assert.Equal("FastReclaim.Diagnostics.IsSupported", FastReclaimDiagnostics.IsSupportedSwitchName);
        Assert.Equal("fastreclaim.epoch", FastReclaimDiagnostics.Instruments.Epoch);
        Assert.Equal("fastreclaim.epoch.pending", FastReclaimDiagnostics.Instruments.EpochPending);
        Assert.Equal("fastreclaim.epoch.freed", FastReclaimDiagnostics.Instruments.EpochFreed);
        Assert.Equal("fastreclaim.epoch.stalls", FastReclaimDiagnostics.Instruments.EpochStalls);
        Assert.Equal("fastreclaim.epoch.grace_period", FastReclaimDiagnostics.Instruments.EpochGracePeriod);
        Assert.Equal("fastreclaim.page_tables.size", FastReclaimDiagnostics.Instruments.PageTableSize);
        Assert.Equal("fastreclaim.page_tables.pending", FastReclaimDiagnostics.Instruments.PageTablePending);
        Assert.Equal("fastreclaim.page_tables.reclaimed", FastReclaimDiagnostics.Instruments.PageTablesReclaimed);
        Assert.Equal("fastreclaim.page_tables.allocated", FastReclaimDiagnostics.Instruments.PageTablesAllocated);
        Assert.Equal("fastreclaim.sweep.duration", FastReclaimDiagnostics.Instruments.SweepDuration);
        Assert.Equal(["domain", "space", "policy", "level"],
            [FastReclaimDiagnostics.Tags.Domain, FastReclaimDiagnostics.Tags.Space, FastReclaimDiagnostics.Tags.Policy, FastReclaimDiagnostics.Tags.Level]);
        Assert.Equal(["pte", "pmd", "pud", "p4d"],
            [FastReclaimDiagnostics.Levels.Pte, FastReclaimDiagnostics.Levels.Pmd, FastReclaimDiagnostics.Levels.Pud, FastReclaimDiagnostics.Levels.P4d]);
        Assert.Equal((EventKeywords)0x1, FastReclaimDiagnostics.Keywords.Stall);
        Assert.Equal((EventKeywords)0x2, FastReclaimDiagnostics.Keywords.Sweep);
        Assert.Equal((EventKeywords)0x4, FastReclaimDiagnostics.Keywords.Policy);
    }

    [Fact]
    public void The_Meter_Publishes_Exactly_The_Named_Instruments()
    {
        // Creating a space and a domain makes sure the meter exists; a listener then sees every instrument it has.
        using var space = new AddressSpace();
        var published = new List<string>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, _) =>
            {
                if (instrument.Meter.Name == FastReclaimDiagnostics.MeterName)
                {
                    lock (published)
                    {
                        published.Add(instrument.Name);
                    }
                }
            },
        };
        listener.Start();

        string[] expected =
        [
            "fastreclaim.epoch", "fastreclaim.epoch.freed", "fastreclaim.epoch.grace_period", "fastreclaim.epoch.pending",
            "fastreclaim.epoch.stalls", "fastreclaim.page_tables.allocated", "fastreclaim.page_tables.pending", "fastreclaim.page_tables.reclaimed",
            "fastreclaim.page_tables.size", "fastreclaim.sweep.duration",
        ];
        lock (published)
        {
            Assert.Equal(expected, published.Order(StringComparer.Ordinal));
        }
    }

    [Fact]
    public void The_Event_Source_Uses_The_Published_Keywords()
    {
        Assert.Equal(FastReclaimDiagnostics.EventSourceName, FastReclaimEventSource.Log.Name);
        string manifest = EventSource.GenerateManifest(typeof(FastReclaimEventSource), assemblyPathToIncludeInManifest: "")!;
        Assert.Contains("<keyword name=\"Stall\" message=\"$(string.keyword_Stall)\" mask=\"0x1\"/>", manifest, StringComparison.Ordinal);
        Assert.Contains("<keyword name=\"Sweep\" message=\"$(string.keyword_Sweep)\" mask=\"0x2\"/>", manifest, StringComparison.Ordinal);
        Assert.Contains("<keyword name=\"Policy\" message=\"$(string.keyword_Policy)\" mask=\"0x4\"/>", manifest, StringComparison.Ordinal);
    }
}
