namespace FastReclaim;

/// <summary>
/// The automatic slots of one thread, referenced only from that thread's statics. When the thread exits its
/// statics die with it, this object becomes unreachable, and its finalizer hands every slot back to its
/// domain (which moves the slot's open retire bag to the global queue, so nothing retired is lost).
/// </summary>
/// <remarks>
/// Finalization waits for a GC, so domains also sweep slots of exited threads (<see cref="Thread.IsAlive"/>)
/// when they need room and before a Barrier; releasing twice is harmless.
/// </remarks>
internal sealed class ThreadSlotOwner
{
    private readonly List<ReaderSlot> _slots = [];

    ~ThreadSlotOwner()
    {
        foreach (ReaderSlot slot in _slots)
        {
            slot.Domain?.ReleaseSlot(slot);
        }
    }

    /// <summary>The slot for <paramref name="domain"/>, dropping slots of released or disposed domains on the way.</summary>
    internal ReaderSlot? Find(EpochDomain domain)
    {
        _slots.RemoveAll(static s => s.Domain is null);
        foreach (ReaderSlot slot in _slots)
        {
            if (ReferenceEquals(slot.Domain, domain))
            {
                return slot;
            }
        }

        return null;
    }

    internal void Add(ReaderSlot slot) => _slots.Add(slot);
}
