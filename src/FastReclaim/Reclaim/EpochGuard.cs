using System.Runtime.CompilerServices;
using FastReclaim.Reclaim;

namespace FastReclaim;

/// <summary>
/// A critical section of an <see cref="EpochDomain"/>, from <see cref="EpochDomain.Enter"/> to
/// <see cref="Dispose"/>: nothing retired after it began is freed before it ends. Use with
/// <c>using var guard = domain.Enter();</c>. Guards nest; only the outermost one announces and leaves.
/// </summary>
public readonly unsafe ref struct EpochGuard
{
    /// <summary>
    /// The line of the thread's slot; null for a default guard. A raw pointer is safe for as long as the guard is
    /// open: the slot stays registered, so its domain's registry keeps the pinned line alive, because the only
    /// release of a live thread's slot (<see cref="EpochDomain.Dispose"/>) first waits for the slot's readers.
    /// </summary>
    private readonly ReaderLine* _line;
    private readonly long _previous;

    internal EpochGuard(ReaderLine* line, long previous)
    {
        _line = line;
        _previous = previous;
    }

    /// <summary>Leaves the critical section (restores what the thread announced before it entered).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Dispose()
    {
        if (_line != null)
        {
            // Release store: every load made inside the section is complete before the advancer can see the
            // slot leave (free on x86-64, an stlr on ARM64). For a nested guard it rewrites the same value.
            Volatile.Write(ref _line->Epoch, _previous);
        }
    }
}
