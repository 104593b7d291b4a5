using System.Runtime.CompilerServices;

namespace FastReclaim.Reclaim;

/// <summary>
/// The calling thread's automatic <see cref="ReaderSlot"/>s, one per <see cref="EpochDomain"/> it has used.
/// </summary>
/// <remarks>
/// Kept in a class of its own with no static constructor, so the JIT reaches the thread statics inline (the
/// same reason Tsavorite moved <c>LightEpoch</c>'s thread statics into <c>EpochContext</c>).
/// The hot path reads only <see cref="LastLine"/>: a thread that works with one domain never looks further.
/// </remarks>
internal static unsafe class ThreadSlots
{
    [ThreadStatic]
    private static ReaderSlot? t_last;

    /// <summary>
    /// <see cref="t_last"/>'s line. A pointer is a non-GC thread static. The JIT reaches it with one load after the
    /// TLS base, but a reference takes three dependent loads: the thread's GC statics array, this class's statics
    /// object, then the field. That takes five instructions and two dependent loads off every Enter
    /// (perf-results/addressspace.md, session 3). The TLS base itself is a call to glibc's
    /// <c>__tls_get_addr</c> on Linux x64 (coreclr is a shared library), which nothing here can remove.
    /// It is safe to dereference because <see cref="t_last"/> keeps the slot reachable, and with it the pinned
    /// line. This thread alone writes both fields, and always together.
    /// </summary>
    [ThreadStatic]
    private static ReaderLine* t_lastLine;

    [ThreadStatic]
    private static ReaderSlot? t_previous;

    [ThreadStatic]
    private static ThreadSlotOwner? t_owner;

    /// <summary>The slot this thread used last (in any domain).</summary>
    internal static ReaderSlot? Last
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => t_last;
    }

    /// <summary>The line of <see cref="Last"/>, or null.</summary>
    internal static ReaderLine* LastLine
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => t_lastLine;
    }

    /// <summary>
    /// Makes <paramref name="slot"/> the cached slot, keeping the one it replaces as the second entry, so a thread
    /// that alternates between two domains (two address spaces) swaps entries instead of searching its list.
    /// </summary>
    internal static void Promote(ReaderSlot slot)
    {
        ReaderSlot? last = t_last;
        if (!ReferenceEquals(last, slot))
        {
            t_previous = last;
            t_last = slot;
            t_lastLine = slot.LinePointer;
        }
    }

    /// <summary>The second cache entry when it belongs to <paramref name="domain"/>, else null.</summary>
    internal static ReaderSlot? Previous(EpochDomain domain)
    {
        ReaderSlot? previous = t_previous;
        return previous is not null && ReferenceEquals(previous.Domain, domain) ? previous : null;
    }

    /// <summary>This thread's slot list, created on first use; its finalizer releases the slots when the thread has exited.</summary>
    internal static ThreadSlotOwner Owner => t_owner ??= new ThreadSlotOwner();

    /// <summary>This thread's slot in <paramref name="domain"/>, or null; never registers.</summary>
    internal static ReaderSlot? Find(EpochDomain domain)
    {
        ReaderSlot? last = t_last;
        if (last is not null && ReferenceEquals(last.Domain, domain))
        {
            return last;
        }

        return Previous(domain) ?? t_owner?.Find(domain);
    }
}
