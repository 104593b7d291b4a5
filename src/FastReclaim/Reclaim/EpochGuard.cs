using System.Runtime.CompilerServices;
using FastReclaim.Reclaim;

namespace FastReclaim;

/// <summary>
/// A critical section of an <see cref="EpochDomain"/>, from <see cref="EpochDomain.Enter"/> to
/// <see cref="Dispose"/>: nothing retired after it began is freed before it ends. Use with
/// <c>using var guard = domain.Enter();</c>. Guards nest; only the outermost one announces an epoch and leaves.
/// </summary>
public readonly unsafe ref struct EpochGuard
{
    /// <summary>
    /// The line of the thread's slot; null for a default guard. A raw pointer is safe for as long as the guard is
    /// open: the slot stays registered, so its domain's registry keeps the pinned line alive, because the only
    /// release of a live thread's slot (<see cref="EpochDomain.Dispose"/>) first waits for the slot's readers.
    /// </summary>
    private readonly ReaderLine* _line;

    /// <summary>What the slot announced before this guard: restored by <see cref="Dispose"/>.</summary>
    private readonly long _previous;

    /// <summary>
    /// What this guard announced (an epoch and a nesting depth, see <see cref="EpochDomain.GuardDepthMask"/>): the
    /// slot still holds it exactly when every guard entered inside this one has been disposed.
    /// </summary>
    private readonly long _announced;

    /// <summary>The line of the thread's slot (for the table walks' <see cref="TableReadWatch"/>); null for a default guard.</summary>
    internal ReaderLine* Line => _line;

    /// <summary>True for a guard that began its thread's critical section (not nested, not inside a QSBR thread's online time).</summary>
    internal bool IsOutermost => _previous == EpochDomain.Inactive;

    internal EpochGuard(ReaderLine* line, long previous, long announced)
    {
        _line = line;
        _previous = previous;
        _announced = announced;
    }

    /// <summary>
    /// Leaves the critical section (restores what the thread announced before it entered). Guards must be
    /// disposed innermost first. Disposing a guard again does nothing, unless another guard was entered in between.
    /// </summary>
    /// <remarks>
    /// Out-of-order disposal is caught in checked mode only (the <see cref="AppContext"/> switch
    /// <c>FastReclaim.CheckReadSide</c>, on in the tests): the check is a load of the slot right after the guard's
    /// own store, which costs an empty guard about 25%, 1.10 to 1.38 ns (<c>perf-results/epoch.md</c>). Unchecked, an outer guard
    /// disposed first ends the inner guard's protection and the inner guard's Dispose leaves the thread announced
    /// inside, which stalls every grace period.
    /// </remarks>
    /// <exception cref="InvalidOperationException">
    /// Checked mode: a guard entered inside this one is still open. Nothing changes; the thread is still inside,
    /// so the inner guard's reads stay protected.
    /// </exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Dispose()
    {
        ReaderLine* line = _line;
        if (line != null)
        {
            // Checked mode (a JIT-time constant): the owner's own store is what this load reads (program order; no
            // other thread writes the word while the slot is registered and the thread is inside), so the check
            // needs no ordering.
            if (ReadSideChecks.Enabled && line->Epoch != _announced)
            {
                // Static, on values: an instance call would take the guard's address and keep it out of registers.
                DisposeOutOfOrder(line->Epoch, _previous, _announced);
                return;
            }

            // Release store: every load made inside the section is complete before the advancer can see the
            // slot leave (free on x86-64, an stlr on ARM64). For a nested guard it only lowers the depth.
            Volatile.Write(ref line->Epoch, _previous);
        }
    }

    /// <summary>
    /// The slot announces <paramref name="current"/>, not this guard's <paramref name="announced"/>: a second Dispose
    /// (harmless), or out-of-order disposal (throws).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void DisposeOutOfOrder(long current, long previous, long announced)
    {
        if (current == previous)
        {
            // Already disposed, and nothing entered since.
            return;
        }

        long depth = current & EpochDomain.GuardDepthMask;
        long ours = announced & EpochDomain.GuardDepthMask;
        throw new InvalidOperationException(depth > ours
            ? $"EpochGuard.Dispose: {depth - ours} guard(s) entered inside this one on the same thread are still open; dispose guards innermost first. Nothing was changed: the thread is still inside."
            : "EpochGuard.Dispose: this guard no longer matches its thread's critical section (it was disposed already, and guards were entered since, or it was copied); nothing was changed.");
    }
}
