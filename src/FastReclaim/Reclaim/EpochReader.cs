using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using FastReclaim.Reclaim;

namespace FastReclaim;

/// <summary>
/// An explicitly registered reader of an <see cref="EpochDomain"/> (<see cref="EpochDomain.RegisterReader()"/>),
/// for hot loops such as a vCPU run loop or a batch translate: <see cref="Enter"/> and <see cref="Exit"/> are a
/// load and a store each, with no thread-static lookup. A handle is one participant: use it from one thread at
/// a time, and alternate Enter and Exit (it does not nest; nest with <see cref="EpochDomain.Enter"/>).
/// </summary>
/// <remarks>
/// <para>
/// Do not call <see cref="EpochDomain.Synchronize"/> or <see cref="EpochDomain.Barrier"/> between Enter and
/// Exit on the thread using the handle: they would wait for the handle to leave (and report a stall).
/// </para>
/// <para>
/// Checked mode: with the <see cref="AppContext"/> switch <c>FastReclaim.CheckReadSide</c> on (for example
/// <c>&lt;RuntimeHostConfigurationOption Include="FastReclaim.CheckReadSide" Value="true" /&gt;</c> in a
/// test project), Enter records the entering thread and <see cref="Exit"/> on another thread throws
/// <see cref="InvalidOperationException"/> instead of silently ending that thread's protection. It is off by
/// default because reading the current thread's id costs more than Enter and Exit themselves; off, the switch
/// is a constant the JIT removes (<c>perf-results/epoch.md</c>). Tests run with it on.
/// </para>
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

    /// <summary>Managed id of the thread that entered last (written only in checked mode, <see cref="ReadSideChecks.Enabled"/>).</summary>
    private int _enteredBy;

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

    /// <summary>The handle's line (for the table walks' <see cref="TableReadWatch"/>), alive as long as the handle.</summary>
    internal ReaderLine* Line => _line;

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

        // R1, then R2: the same announcement as EpochDomain.Enter's outermost guard (ReaderLine.Announce), depth 1.
        line->Announce(Volatile.Read(ref _domain.Global.Value) + 1);
        if (ReadSideChecks.Enabled)
        {
            _enteredBy = Environment.CurrentManagedThreadId;
        }
    }

    /// <summary>Leaves the critical section. Must follow <see cref="Enter"/> on the same thread.</summary>
    /// <exception cref="InvalidOperationException">
    /// Checked mode only (the <c>FastReclaim.CheckReadSide</c> switch, see <see cref="EpochReader"/>): the
    /// handle was entered on another thread. Nothing changes: the entering thread stays protected.
    /// </exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Exit()
    {
        if (ReadSideChecks.Enabled)
        {
            CheckExitThread();
        }

        // Release store: loads made inside the section complete before the advancer can see us leave.
        Volatile.Write(ref _line->Epoch, EpochDomain.Inactive);
    }

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
    private void CheckExitThread()
    {
        // Racy by nature (the misuse is two threads on one handle), but a handle entered on thread A and exited on
        // thread B is caught: B reads A's id, which A wrote before handing the handle over.
        int current = Environment.CurrentManagedThreadId;
        if (IsEntered && _enteredBy != current)
        {
            throw new InvalidOperationException(
                $"EpochReader.Exit was called on thread {current}, but the handle was entered on thread {_enteredBy}; exiting here would silently end that thread's protection. Exit on the thread that entered. Nothing was changed.");
        }
    }

    // Not NoInlining: the JIT then sees that it always throws, and Enter's registers need not survive the call.
    [DoesNotReturn]
    private static void ThrowCannotEnter(long announced) =>
        throw (announced == Released
            ? new ObjectDisposedException(nameof(EpochReader), "The reader handle, or the EpochDomain it belongs to, has been disposed.")
            : new InvalidOperationException("EpochReader.Enter was called on a handle that is already entered; a handle does not nest (use EpochDomain.Enter to nest)."));
}
