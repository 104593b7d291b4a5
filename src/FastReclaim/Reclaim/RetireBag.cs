using System.Runtime.CompilerServices;

namespace FastReclaim.Reclaim;

/// <summary>
/// Up to <see cref="Capacity"/> retired items with their free callbacks (crossbeam-epoch's <c>Bag</c>). A bag is
/// filled by one thread, sealed with the global epoch when it is handed to the domain's queue, and run once
/// that epoch is two advances old.
/// </summary>
internal sealed class RetireBag
{
    /// <summary>
    /// Items per bag (crossbeam's <c>MAX_OBJECTS</c>). Sealing costs a full fence and a short lock, so 64 items
    /// amortize it to well under a nanosecond each while a bag (1.5 KiB) stays small enough to pool.
    /// </summary>
    internal const int Capacity = 64;

    private Items _items;
    private Callbacks _callbacks;

    /// <summary>True once a delegate callback was added: <see cref="Reset"/> must then drop the references.</summary>
    private bool _holdsReferences;

    /// <summary>Items in the bag.</summary>
    internal int Count;

    /// <summary>Raw global epoch the bag was sealed with (read after a full fence: S1, S2 of the ordering argument in README.md).</summary>
    internal long SealedEpoch;

    /// <summary>
    /// The earliest birth era of the bag's items (interval reclamation, README.md); <see cref="NoBirth"/> once it
    /// holds an item retired without one, which only the epoch rule frees. <see cref="long.MaxValue"/> while empty.
    /// </summary>
    internal long MinBirth = long.MaxValue;

    /// <summary>The era when the bag was sealed (after S1): no item in it was retired later. Set by the seal.</summary>
    internal long SealedEra;

    /// <summary><see cref="System.Diagnostics.Stopwatch"/> timestamp of the seal: the start of the bag's grace period.</summary>
    internal long SealedTimestamp;

    /// <summary>Next bag in the garbage queue or the pool.</summary>
    internal RetireBag? Next;

    internal bool IsFull => Count == Capacity;

    /// <summary>The birth of an item retired without one (the public Retire): older than every era.</summary>
    internal const long NoBirth = long.MinValue;

    /// <summary>True when every item has a birth era: the interval rule may free the bag before the epoch rule.</summary>
    internal bool HasBirths => MinBirth != NoBirth;

    /// <summary>Adds an item, its callback and its birth era (<see cref="NoBirth"/> when it has none).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Add(nint item, RetireCallback free, long birth)
    {
        MinBirth = Math.Min(MinBirth, birth);
        int i = Count;
        _items[i] = item;
        _callbacks[i] = free;
        if (free.HoldsReference)
        {
            _holdsReferences = true;
        }

        Count = i + 1;
    }

    /// <summary>
    /// Runs every callback once, in retire order. A callback that throws does not stop the others; its
    /// exception is added to <paramref name="errors"/>.
    /// </summary>
    internal void Run(ref List<Exception>? errors)
    {
        for (int i = 0; i < Count; i++)
        {
            try
            {
                _callbacks[i].Invoke(_items[i]);
            }
            catch (Exception e)
            {
                (errors ??= []).Add(e);
            }
        }
    }

    /// <summary>Empties the bag for reuse, dropping its delegate references so they can be collected.</summary>
    internal void Reset()
    {
        if (_holdsReferences)
        {
            ((Span<RetireCallback>)_callbacks)[..Count].Clear();
            _holdsReferences = false;
        }

        Count = 0;
        MinBirth = long.MaxValue;
        Next = null;
    }

    [InlineArray(Capacity)]
    private struct Items
    {
        private nint _element0;
    }

    [InlineArray(Capacity)]
    private struct Callbacks
    {
        private RetireCallback _element0;
    }
}
