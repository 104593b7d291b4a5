using System.Diagnostics;
using System.Diagnostics.Tracing;
using FastReclaim.Diagnostics;

namespace FastReclaim.Tests.Diagnostics;

[Collection(DiagnosticsCollection.Name)]
public class FastReclaimEventSourceTests
{
    [Fact]
    public void Event_Source_Is_Named_FastReclaim_For_Dotnet_Trace() =>
        Assert.Equal("FastReclaim", FastReclaimEventSource.Log.Name);

    [Fact]
    public void Event_Source_Manifest_Builds_Without_Errors()
    {
        string? manifest = EventSource.GenerateManifest(typeof(FastReclaimEventSource), typeof(FastReclaimEventSource).Assembly.Location);

        Assert.NotNull(manifest);
        Assert.Contains("ReaderStall", manifest, StringComparison.Ordinal);
        Assert.Contains("PolicyDecision", manifest, StringComparison.Ordinal);
    }

    [Fact]
    public void Events_Are_Off_With_No_Listener() =>
        Assert.False(FastReclaimEventSource.IsOn(EventLevel.LogAlways, EventKeywords.All));

    [Fact]
    public void Sweep_Reaches_A_Listener_With_Its_Figures()
    {
        using var listener = new RecordingListener(EventLevel.Informational, FastReclaimEventSource.Keywords.Sweep);

        FastReclaimMetrics.RecordSweep(space: 3, "linux", Stopwatch.GetTimestamp(), tablesScanned: 100, tablesReclaimed: 40);

        EventWrittenEventArgs e = Assert.Single(listener.Events);
        Assert.Equal("Sweep", e.EventName);
        Assert.Equal(3, e.Payload![0]);
        Assert.Equal("linux", e.Payload[1]);
        Assert.Equal(100L, e.Payload[2]);
        Assert.Equal(40L, e.Payload[3]);
    }

    [Fact]
    public void Policy_Decisions_Need_Verbose_And_The_Policy_Keyword()
    {
        using var sweepsOnly = new RecordingListener(EventLevel.Informational, FastReclaimEventSource.Keywords.Sweep | FastReclaimEventSource.Keywords.Stall);
        Assert.False(FastReclaimEventSource.IsOn(EventLevel.Verbose, FastReclaimEventSource.Keywords.Policy));
        Assert.True(FastReclaimEventSource.IsOn(EventLevel.Warning, FastReclaimEventSource.Keywords.Stall));
    }

    [Fact]
    public void Policy_Decision_And_Reader_Stall_Carry_Their_Arguments()
    {
        using var listener = new RecordingListener(EventLevel.Verbose, EventKeywords.All);

        FastReclaimEventSource.Log.PolicyDecision(2, "eager", 0x100000200000UL, 1, ReclaimDecision.KeptPartialSpan);
        FastReclaimEventSource.Log.ReaderStall(1, 77, 250, 4096);

        Assert.Collection(listener.Events,
            e =>
            {
                Assert.Equal("PolicyDecision", e.EventName);
                Assert.Equal(0x100000200000UL, e.Payload![2]);
                Assert.Equal((int)ReclaimDecision.KeptPartialSpan, Convert.ToInt32(e.Payload[4], System.Globalization.CultureInfo.InvariantCulture));
            },
            e =>
            {
                Assert.Equal("ReaderStall", e.EventName);
                Assert.Equal(EventLevel.Warning, e.Level);
                Assert.Equal(77L, e.Payload![1]);
                Assert.Equal(250L, e.Payload[2]);
            });
    }

    private sealed class RecordingListener : EventListener
    {
        private readonly EventLevel _level;
        private readonly EventKeywords _keywords;
        private readonly List<EventWrittenEventArgs> _events = [];

        public RecordingListener(EventLevel level, EventKeywords keywords)
        {
            _level = level;
            _keywords = keywords;
            EnableEvents(FastReclaimEventSource.Log, _level, _keywords);
        }

        public IReadOnlyList<EventWrittenEventArgs> Events
        {
            get
            {
                lock (_events)
                {
                    return [.. _events];
                }
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs eventData)
        {
            if (eventData.EventSource.Name == FastReclaimDiagnostics.EventSourceName)
            {
                lock (_events)
                {
                    _events.Add(eventData);
                }
            }
        }
    }
}
