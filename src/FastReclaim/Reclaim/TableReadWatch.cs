using System.Runtime.CompilerServices;

namespace FastReclaim.Reclaim;

/// <summary>
/// The read side of interval reclamation (2GE-IBR's <c>read</c>, Wen et al., PPoPP 2018): a walk of tables retired
/// with a birth era loads each entry that leads to a table through <see cref="Read"/>, which makes sure the reader's
/// announced upper end (<see cref="ReaderLine.Upper"/>) is at least the era it saw after the load. The table behind
/// the entry was born at an era no later than that (its birth was read before the store that hooked it, which the
/// load saw), so the reclaimer's scan sees an interval that covers it. I1-I3 of <c>Reclaim/README.md</c>.
/// </summary>
/// <remarks>
/// One per walk, on the walking thread's stack, inside a critical section of the domain that owns
/// <c>era</c> (the guard or handle whose line holds <c>upper</c> keeps that line alive).
/// </remarks>
internal unsafe ref struct TableReadWatch : IPointerReads
{
    private readonly ref long _era;
    private readonly ref long _upper;

    /// <summary>The largest era this walk knows is announced: the line's upper at the start, raised by the walk.</summary>
    private long _seen;

    /// <param name="era">The domain's era word.</param>
    /// <param name="line">The walking thread's slot line; its critical section is open.</param>
    /// <param name="startsSection">
    /// True when the section began with this walk's guard or handle: the walk then announces the section's lower end
    /// (I4) before its first load. A walk nested in a longer section keeps that section's lower end, which is earlier
    /// or (never announced by a walk) a stale one from an earlier section: smaller either way, which only holds more.
    /// </param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal TableReadWatch(ref long era, ReaderLine* line, bool startsSection)
    {
        _era = ref era;
        _upper = ref line->Upper;
        if (startsSection)
        {
            line->AnnounceLower(ref era);
        }

        // The thread's own last store (it is the only writer of its line's upper while the slot is registered).
        _seen = line->Upper;
    }

    /// <summary>
    /// I1-I2: loads the entry at <paramref name="entry"/> (an acquire) and, if the era has moved past what this
    /// reader announced, announces the new era and loads the entry again, until the era is stable. The table the
    /// returned entry leads to may be dereferenced inside the critical section.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Read(ulong* entry)
    {
        ulong value = Volatile.Read(ref *entry);

        // I2: acquire, after the entry's load. Equal or lower: the table is covered already (an unbounded upper is
        // never below).
        long era = Volatile.Read(ref _era);
        return era > _seen ? Raise(entry, era) : value;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private ulong Raise(ulong* entry, long era)
    {
        ulong value;
        do
        {
            // I3: a plain store, like R2: the reclaimer's process-wide barrier either sees it, or the load below
            // comes after that barrier and sees every unhook the reclaimer saw — the table it reaches now was not
            // retired before the scan. The entry loaded before this store is dropped for that reason.
            _upper = era;
            _seen = era;
            value = Volatile.Read(ref *entry);
            era = Volatile.Read(ref _era);
        }
        while (era > _seen);

        return value;
    }
}
