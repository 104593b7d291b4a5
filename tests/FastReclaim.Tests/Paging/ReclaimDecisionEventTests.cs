using System.Diagnostics.Tracing;
using FastReclaim.Diagnostics;

namespace FastReclaim.Tests.Paging;

public sealed class ReclaimDecisionEventTests
{
    private const ulong Span2M = 2UL << 20;

    /// <summary>Addresses no other test uses, to pick this test's events out of the process-wide stream.</summary>
    private const ulong Base = 0x7654_0000_0000;

    [Theory]
    [InlineData(ReclaimPolicy.Linux, (int)ReclaimDecision.KeptPartialSpan)]
    [InlineData(ReclaimPolicy.Eager, (int)ReclaimDecision.KeptNotEmpty)]
    [InlineData(ReclaimPolicy.None, (int)ReclaimDecision.KeptPolicyNone)]
    public void Zap_Reports_What_It_Decided_For_Each_Pte_Table(ReclaimPolicy policy, int partialDecision)
    {
        using var space = new AddressSpace(new AddressSpaceOptions { Policy = policy });
        space.Map(Base, 0, 2 * PageAllocator.PageSize, PageFlags.Writable);
        space.Map(Base + Span2M, 0, PageAllocator.PageSize, PageFlags.Writable);
        using var listener = new DecisionListener();

        space.Zap(Base, PageAllocator.PageSize);      // partial: the table keeps a page
        space.Zap(Base + Span2M, Span2M);              // the whole span

        (ulong Table, int Decision)[] decisions = listener.Decisions;
        int whole = policy == ReclaimPolicy.None ? (int)ReclaimDecision.KeptPolicyNone : (int)ReclaimDecision.Reclaimed;
        Assert.Equal([(Base, partialDecision), (Base + Span2M, whole)], decisions);
    }

    private sealed class DecisionListener : EventListener
    {
        private readonly List<(ulong, int)> _decisions = [];

        public DecisionListener() => EnableEvents(FastReclaimEventSource.Log, EventLevel.Verbose, FastReclaimEventSource.Keywords.Policy);

        public (ulong Table, int Decision)[] Decisions
        {
            get
            {
                lock (_decisions)
                {
                    return [.. _decisions];
                }
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs eventData)
        {
            if (eventData.EventName == "PolicyDecision" && eventData.Payload![2] is ulong table && table >> 40 == Base >> 40)
            {
                lock (_decisions)
                {
                    _decisions.Add((table, Convert.ToInt32(eventData.Payload[4], System.Globalization.CultureInfo.InvariantCulture)));
                }
            }
        }
    }
}
