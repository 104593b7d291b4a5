
namespace FastReclaim.Reclaim;

/// <summary>
/// The reader slots of one domain, in an array the advancer scans without a lock. There is no fixed thread
/// limit: the array doubles when full, and freed positions are reused lowest first so that live slots stay
/// packed below <see cref="ScanLimit"/> and a scan does not walk a long tail left by a burst of threads.
/// </summary>
/// <remarks>
/// Publication: a slot is stored into the array before <see cref="ScanLimit"/> is raised (a release store),
/// and the scanner reads the limit (acquire) before the entries, so a scanner that sees the new limit sees the
/// slot. A scanner that misses a slot registered concurrently is safe for the reason given in
/// <c>README.md</c> (the "R2 after P" case): the scan runs after a process-wide fence, so a registration it cannot see
/// happened after that fence on the registering thread, and so did that thread's first pin and every load
/// it makes under it.
/// </remarks>
internal sealed class ReaderRegistry
{
    private const int InitialCapacity = 16;

    private readonly Lock _lock = new();
    private readonly PriorityQueue<int, int> _free = new();
    private ReaderSlot?[] _slots = new ReaderSlot?[InitialCapacity];
    private int _used;
    private int _scanLimit;

    /// <summary>Slots registered now.</summary>
    internal int Count => Volatile.Read(ref _used);

    /// <summary>True when the next registration would have to grow the array.</summary>
    internal bool IsFull
    {
        get
        {
            lock (_lock)
            {
                return _free.Count == 0 && _scanLimit == _slots.Length;
            }
        }
    }

    /// <summary>Array length, for tests of the packing.</summary>
    internal int Capacity => Volatile.Read(ref _slots).Length;

    /// <summary>One past the highest position in use: scanners stop there.</summary>
    internal int ScanLimit => Volatile.Read(ref _scanLimit);

    /// <summary>The current array; entries past <see cref="ScanLimit"/> and released positions are null.</summary>
    internal ReaderSlot?[] Slots => Volatile.Read(ref _slots);

    /// <summary>The lock that orders registration, release and reads of the whole table (Stats).</summary>
    internal Lock SyncRoot => _lock;

    internal void Add(ReaderSlot slot)
    {
        lock (_lock)
        {
            int index;
            if (_free.Count > 0)
            {
                index = _free.Dequeue();
            }
            else
            {
                index = _scanLimit;
                if (index == _slots.Length)
                {
                    ReaderSlot?[] grown = new ReaderSlot?[_slots.Length * 2];
                    Array.Copy(_slots, grown, _slots.Length);
                    Volatile.Write(ref _slots, grown);
                }
            }

            slot.Index = index;
            Volatile.Write(ref _slots[index], slot);
            if (index >= _scanLimit)
            {
                Volatile.Write(ref _scanLimit, index + 1);
            }

            _used++;
        }
    }

    /// <summary>Removes <paramref name="slot"/>; false when it was not registered (already removed).</summary>
    internal bool Remove(ReaderSlot slot)
    {
        lock (_lock)
        {
            int index = slot.Index;
            if (index < 0 || !ReferenceEquals(_slots[index], slot))
            {
                return false;
            }

            Volatile.Write(ref _slots[index], null);
            slot.Index = -1;
            _used--;
            if (index == _scanLimit - 1)
            {
                int limit = index;
                while (limit > 0 && _slots[limit - 1] is null)
                {
                    limit--;
                }

                // Positions at or above the new limit leave the free set: the next registration past the
                // limit takes them in order again.
                RebuildFreeBelow(limit);
                Volatile.Write(ref _scanLimit, limit);
            }
            else
            {
                _free.Enqueue(index, index);
            }

            return true;
        }
    }

    private void RebuildFreeBelow(int limit)
    {
        if (_free.Count == 0)
        {
            return;
        }

        var keep = new List<int>(_free.Count);
        while (_free.Count > 0)
        {
            int i = _free.Dequeue();
            if (i < limit)
            {
                keep.Add(i);
            }
        }

        foreach (int i in keep)
        {
            _free.Enqueue(i, i);
        }
    }
}
