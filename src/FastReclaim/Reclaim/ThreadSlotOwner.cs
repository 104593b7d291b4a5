
namespace FastReclaim.Reclaim;

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

    /// <summary>The slot for <paramref name="domain"/>, or null.</summary>
    internal ReaderSlot? Find(EpochDomain domain)
    {
        foreach (ReaderSlot slot in _slots)
        {
            if (ReferenceEquals(slot.Domain, domain))
            {
                return slot;
            }
        }

        return null;
    }

    /// <summary>Adds a newly registered slot, dropping those of released or disposed domains first.</summary>
    internal void Add(ReaderSlot slot)
    {
        _slots.RemoveAll(static s => s.Domain is null);
        _slots.Add(slot);
    }
}
