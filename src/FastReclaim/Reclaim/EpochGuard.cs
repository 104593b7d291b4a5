using System.Runtime.CompilerServices;

namespace FastReclaim;

/// <summary>
/// A critical section of an <see cref="EpochDomain"/>, from <see cref="EpochDomain.Enter"/> to
/// <see cref="Dispose"/>: nothing retired after it began is freed before it ends. Use with
/// <c>using var guard = domain.Enter();</c>. Guards nest; only the outermost one announces and leaves.
/// </summary>
public readonly ref struct EpochGuard
{
    private readonly ReaderSlot? _slot;
    private readonly long _previous;

    internal EpochGuard(ReaderSlot slot, long previous)
    {
        _slot = slot;
        _previous = previous;
    }

    /// <summary>Leaves the critical section (restores what the thread announced before it entered).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Dispose()
    {
        if (_slot is not null)
        {
            // Release store: every load made inside the section is complete before the advancer can see the
            // slot leave (free on x86-64, an stlr on ARM64). For a nested guard it rewrites the same value.
            Volatile.Write(ref _slot.Line.Epoch, _previous);
        }
    }
}
