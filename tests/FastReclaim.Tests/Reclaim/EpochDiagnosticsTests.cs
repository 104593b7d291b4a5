using System.Diagnostics.Tracing;
using FastReclaim.Diagnostics;
using FastReclaim.Tests.Diagnostics;

namespace FastReclaim.Tests.Reclaim;

[Collection(DiagnosticsCollection.Name)]
public class EpochDiagnosticsTests
{
    [Fact]
    public void Stalled_Reader_Is_Reported_As_A_ReaderStall_Event_With_The_Blocked_Epoch()
    {
        using var listener = new StallListener();
        using var domain = new EpochDomain(new EpochOptions { StallDeadline = TimeSpan.FromMilliseconds(10) });
        using (ReaderThread.HoldingGuard(domain))
        {
            domain.Retire(1, static _ => { });
            for (int i = 0; i < 400 && domain.Stats.Stalls == 0; i++)
            {
                domain.Collect();
                Thread.Sleep(2);
            }
        }

        EventWrittenEventArgs stall = Assert.Single(listener.Stalls);
        Assert.Equal(EventLevel.Warning, stall.Level);
        Assert.Equal(domain.Stats.GlobalEpoch, (long)stall.Payload![1]!);
        Assert.True((long)stall.Payload[2]! >= 10);
    }

    [Fact]
    public void Meter_Reading_Matches_Stats()
    {
        using var domain = new EpochDomain();
        for (int i = 0; i < 100; i++)
        {
            domain.Retire(i, static _ => { });
        }

        domain.Collect();
        EpochStats stats = domain.Stats;
        EpochReading reading = ((IEpochMetricsSource)domain).ReadMetrics();

        Assert.Equal(new EpochReading(stats.GlobalEpoch, stats.Pending, stats.Freed, stats.Stalls), reading);
        Assert.Equal(100, reading.PendingItems);
    }

    private sealed class StallListener : EventListener
    {
        private readonly List<EventWrittenEventArgs> _stalls = [];

        public StallListener() => EnableEvents(FastReclaimEventSource.Log, EventLevel.Warning, FastReclaimEventSource.Keywords.Stall);

        public IReadOnlyList<EventWrittenEventArgs> Stalls
        {
            get
            {
                lock (_stalls)
                {
                    return [.. _stalls];
                }
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs eventData)
        {
            if (eventData.EventSource.Name == FastReclaimDiagnostics.EventSourceName && eventData.EventName == "ReaderStall")
            {
                lock (_stalls)
                {
                    _stalls.Add(eventData);
                }
            }
        }
    }
}
