using System.Runtime.CompilerServices;
using FastReclaim.Reclaim;

namespace FastReclaim;

// Slot lifecycle: a thread's slot is found or registered on first use and released when the thread exits, the handle or the domain is disposed.
public sealed partial class EpochDomain
{
    /// <summary>The calling thread's slot, for the paths that need more than its line (Retire's bag).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ReaderSlot CachedThreadSlot()
    {
        ReaderSlot? slot = ThreadSlots.Last;
        return slot is not null && ReferenceEquals(slot.Domain, this) ? slot : CurrentThreadSlot();
    }

    /// <summary>The calling thread's slot, found or registered; becomes the thread's cached slot.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private ReaderSlot CurrentThreadSlot()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ReaderSlot? slot = ThreadSlots.Previous(this);
        if (slot is null)
        {
            ThreadSlotOwner owner = ThreadSlots.Owner;
            slot = owner.Find(this);
            if (slot is null)
            {
                slot = new ReaderSlot(this, Thread.CurrentThread);
                Register(slot);
                owner.Add(slot);
            }
        }

        ThreadSlots.Promote(slot);
        return slot;
    }

    private void Register(ReaderSlot slot)
    {
        // Before growing the table, take back the slots of threads that have exited (their finalizers may not
        // have run yet), so threads that come and go do not grow it.
        if (_registry.IsFull)
        {
            SweepExitedThreads();
        }

        _registry.Add(slot);
    }

    /// <summary>
    /// Unregisters <paramref name="slot"/> (thread exit, handle or domain disposal): its open bag goes to the
    /// queue first, so a Barrier running meanwhile either finds the bag in the slot or in the queue. Harmless
    /// when the slot is already released.
    /// </summary>
    internal void ReleaseSlot(ReaderSlot slot)
    {
        StealOpenBag(slot);
        lock (_registry.SyncRoot)
        {
            if (!_registry.Remove(slot))
            {
                return;
            }

            // Under the registry lock, as Stats sums, so the count moves without being seen twice or not at all.
            _retiredByReleasedSlots += slot.Line.Retired;
        }

        // A thread that exited while online (QSBR) holds nothing; and the slot is no longer scanned anyway. A
        // handle's slot is marked released, so the handle's Enter throws instead of entering a disposed domain.
        Volatile.Write(ref slot.Line.Epoch, slot.Owner is null ? EpochReader.Released : Inactive);
        slot.Line.DomainKey = 0;
        slot.Domain = null;
    }

    /// <summary>Releases the slots of threads that have exited; returns how many.</summary>
    internal int SweepExitedThreads()
    {
        int released = 0;
        ReaderSlot?[] slots = _registry.Slots;
        foreach (ReaderSlot? slot in slots)
        {
            if (slot is { OwnerHasExited: true })
            {
                ReleaseSlot(slot);
                released++;
            }
        }

        return released;
    }
}
