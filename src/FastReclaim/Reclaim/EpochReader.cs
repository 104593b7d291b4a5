using System.Runtime.CompilerServices;
using FastReclaim.Reclaim;

namespace FastReclaim;

/// <summary>
/// An explicitly registered reader of an <see cref="EpochDomain"/> (<see cref="EpochDomain.RegisterReader"/>),
/// for hot loops such as a vCPU run loop or a batch translate: <see cref="Enter"/> and <see cref="Exit"/> are a
/// load and a store each, with no thread-static lookup. A handle is one participant: use it from one thread at
/// a time, and alternate Enter and Exit (it does not nest; nest with <see cref="EpochDomain.Enter"/>).
/// </summary>
/// <remarks>
/// Do not call <see cref="EpochDomain.Synchronize"/> or <see cref="EpochDomain.Barrier"/> between Enter and
/// Exit on the thread using the handle: they would wait for the handle to leave (and report a stall).
/// </remarks>
public sealed unsafe class EpochReader : IDisposable
{
    /// <summary>
    /// What the slot of a handle holds once it is released (the handle or its domain disposed): not
    /// <see cref="EpochDomain.Inactive"/>, so <see cref="Enter"/>'s one check catches both misuses, and not a valid
    /// announcement (the slot is no longer scanned anyway).
    /// </summary>
    internal const long Released = -1;

    private readonly EpochDomain _domain;
    private readonly ReaderSlot _slot;

    /// <summary><see cref="_slot"/>'s pinned line, which <see cref="_slot"/> keeps alive: one load less on Enter and Exit.</summary>
    private readonly ReaderLine* _line;

    internal EpochReader(EpochDomain domain, ReaderSlot slot)
    {
        _domain = domain;
        _slot = slot;
        _line = slot.LinePointer;
    }

    /// <summary>Releases the participant if the handle is dropped without <see cref="Dispose"/>.</summary>
    ~EpochReader()
    {
        _domain.ReleaseSlot(_slot);
    }

    /// <summary>The domain the handle reads in.</summary>
    internal EpochDomain Domain => _domain;

    /// <summary>True between <see cref="Enter"/> and <see cref="Exit"/>.</summary>
    public bool IsEntered => Volatile.Read(ref _line->Epoch) is not (EpochDomain.Inactive or Released);

    /// <summary>Enters a critical section: nothing retired from now on is freed before <see cref="Exit"/>.</summary>
    /// <exception cref="InvalidOperationException">The handle is already entered.</exception>
    /// <exception cref="ObjectDisposedException">The handle or its domain is disposed.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Enter()
    {
        ReaderLine* line = _line;
        if (line->Epoch != EpochDomain.Inactive)
        {
            ThrowCannotEnter(line->Epoch);
        }

        // R1, then R2: the same announcement as EpochDomain.Enter (ReaderLine.Announce).
        line->Announce(Volatile.Read(ref _domain.Global.Value) | EpochDomain.GuardBit);
    }

    /// <summary>Leaves the critical section. Must follow <see cref="Enter"/> on the same thread.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Exit() =>
        // Release store: loads made inside the section complete before the advancer can see us leave.
        Volatile.Write(ref _line->Epoch, EpochDomain.Inactive);

    /// <summary>Leaves the critical section if entered and unregisters the participant. A second call does nothing.</summary>
    public void Dispose()
    {
        if (Volatile.Read(ref _line->Epoch) != Released)
        {
            // Marks the slot Released.
            _domain.ReleaseSlot(_slot);
        }

        GC.SuppressFinalize(this);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowCannotEnter(long announced)
    {
        if (announced == Released)
        {
            throw new ObjectDisposedException(nameof(EpochReader), "The reader handle, or the EpochDomain it belongs to, has been disposed.");
        }

        throw new InvalidOperationException("EpochReader.Enter was called on a handle that is already entered; a handle does not nest (use EpochDomain.Enter to nest).");
    }
}
