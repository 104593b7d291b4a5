#if FASTRECLAIM_FAULT_INJECTION
namespace FastReclaim;

// Test builds only (FastReclaimFaultInjection=true, see Directory.Build.props): an allocation failure on demand, so a
// test can fail any one allocation of an operation and check that the operation changed nothing.
public sealed partial class PageAllocator
{
    /// <summary>Allocations that still succeed before one fails; negative = none fails.</summary>
    private int _allocationsBeforeFailure = -1;

    /// <summary>Makes the allocation after the next <paramref name="successes"/> throw, as when the limit is reached; negative = no failure.</summary>
    internal void FailAllocationAfter(int successes) => _allocationsBeforeFailure = successes;

    /// <summary>Throws when this is the allocation chosen to fail (called by <see cref="Allocate"/> before it changes anything).</summary>
    private void InjectFailure()
    {
        if (_allocationsBeforeFailure >= 0 && _allocationsBeforeFailure-- == 0)
        {
            throw new InsufficientMemoryException($"{nameof(PageAllocator)}: an injected allocation failure.");
        }
    }
}
#endif
