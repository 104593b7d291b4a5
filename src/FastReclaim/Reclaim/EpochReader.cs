using System.Runtime.CompilerServices;

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
public sealed class EpochReader : IDisposable
{
    private readonly EpochDomain _domain;
    private ReaderSlot? _slot;

    internal EpochReader(EpochDomain domain, ReaderSlot slot)
    {
        _domain = domain;
        _slot = slot;
    }

    /// <summary>Releases the participant if the handle is dropped without <see cref="Dispose"/>.</summary>
    ~EpochReader()
    {
        ReaderSlot? slot = _slot;
        if (slot is not null)
        {
            _domain.ReleaseSlot(slot);
        }
    }

    /// <summary>True between <see cref="Enter"/> and <see cref="Exit"/>.</summary>
    public bool IsEntered => _slot is { } slot && Volatile.Read(ref slot.Line.Epoch) != EpochDomain.Inactive;

    /// <summary>Enters a critical section: nothing retired from now on is freed before <see cref="Exit"/>.</summary>
    /// <exception cref="InvalidOperationException">The handle is already entered.</exception>
    /// <exception cref="ObjectDisposedException">The handle is disposed.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Enter()
    {
        ReaderSlot slot = _slot ?? throw new ObjectDisposedException(nameof(EpochReader));
        if (slot.Line.Epoch != EpochDomain.Inactive)
        {
            ThrowAlreadyEntered();
        }

        // Plain store, no fence: the same announcement as EpochDomain.Enter, and the same argument (the
        // advancer's process-wide barrier orders it); see EpochDomain.
        slot.Line.Epoch = Volatile.Read(ref _domain.Global.Value) | EpochDomain.GuardBit;
    }

    /// <summary>Leaves the critical section.</summary>
    /// <exception cref="ObjectDisposedException">The handle is disposed.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Exit()
    {
        ReaderSlot slot = _slot ?? throw new ObjectDisposedException(nameof(EpochReader));

        // Release store: loads made inside the section complete before the advancer can see us leave.
        Volatile.Write(ref slot.Line.Epoch, EpochDomain.Inactive);
    }

    /// <summary>Leaves the critical section if entered and unregisters the participant.</summary>
    public void Dispose()
    {
        ReaderSlot? slot = _slot;
        if (slot is null)
        {
            return;
        }

        Volatile.Write(ref slot.Line.Epoch, EpochDomain.Inactive);
        _slot = null;
        _domain.ReleaseSlot(slot);
        GC.SuppressFinalize(this);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowAlreadyEntered() =>
        throw new InvalidOperationException("EpochReader.Enter was called on a handle that is already entered; a handle does not nest (use EpochDomain.Enter to nest).");
}
