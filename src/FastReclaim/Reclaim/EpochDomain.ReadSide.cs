using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using FastReclaim.Reclaim;

namespace FastReclaim;

// Read side: guards, reader handles, QSBR, and how a thread finds its slot's line.
public sealed partial class EpochDomain
{
    /// <summary>
    /// Enters a critical section on the calling thread: nothing retired from now on is freed before the
    /// returned guard is disposed. Nests (up to 4095 deep): an inner guard costs what an outer one does and keeps the
    /// epoch of the outer one. Guards must be disposed innermost first (see <see cref="EpochGuard.Dispose"/>).
    /// </summary>
    /// <exception cref="InvalidOperationException">4095 guards of this domain are already open on this thread.</exception>
    /// <exception cref="ObjectDisposedException">The domain is disposed.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe EpochGuard Enter()
    {
        ReaderLine* line = CachedThreadLine();

        // R1, then R2 (ReaderLine.Announce: a plain store, no fence; the argument is in README.md). The low bits
        // count the open guards. Only a thread that announces nothing takes the global epoch (depth 1); an inner
        // guard and a QSBR thread that is online (entering is not a quiescent point) keep the epoch they announce
        // and add one to the depth.
        long previous = line->Epoch;
        long global = Volatile.Read(ref Global.Value);

        // One path for the outermost and the nested guard (measured: perf-results/gate.md, "Session 9"). A depth that
        // would pass 4095 carries into the epoch and leaves the depth bits 0, which no other announcement has (an
        // epoch's own depth bits are 0, and every guard adds one); nothing is stored then.
        long announced = (previous == Inactive ? global : previous) + 1;
        if ((announced & GuardDepthMask) == 0)
        {
            ThrowNestedTooDeep();
        }

        line->Announce(announced);
#if FASTRECLAIM_FAULT_INJECTION
        if (_fault == EpochFault.NestedDisposeLeaves && previous != Inactive)
        {
            return new EpochGuard(line, Inactive, announced);
        }
#endif
        return new EpochGuard(line, previous, announced);
    }

    /// <summary>
    /// Enters a guard whose holder follows table entries without announcing the tables it reaches (a writer: map,
    /// zap, unmap, protect; a test that walks by hand): its upper end is unbounded, so it holds every table retired
    /// while it is inside, as under plain epoch reclamation. Dispose restores the upper end the thread had.
    /// </summary>
    internal unsafe UnboundedGuard EnterUnbounded()
    {
        EpochGuard guard = Enter();
        ReaderLine* line = guard.Line;
        long previous = line->Upper;

        // Like R2: plain stores before every load under them (README.md, I3, I4). An inner guard keeps the lower end
        // of the section it is nested in.
        if (guard.IsOutermost)
        {
            line->AnnounceLower(ref Global.Era);
        }

        line->Upper = ReaderLine.UnboundedUpper;
        return new UnboundedGuard(guard, previous);
    }

    /// <summary>
    /// Registers an explicit reader handle: a participant of its own whose <see cref="EpochReader.Enter"/> and
    /// <see cref="EpochReader.Exit"/> skip the thread-static lookup. Dispose it when done.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The domain is disposed.</exception>
    public EpochReader RegisterReader() => NewReader(expedite: null);

    /// <summary>
    /// <see cref="RegisterReader()"/> for a handle whose critical sections may be long (a vCPU run loop that enters
    /// around the guest's run): when the handle, entered, holds a grace period back past
    /// <see cref="EpochOptions.ExpediteAfter"/>, the domain calls <paramref name="expedite"/>, which must make the
    /// handle's thread <see cref="EpochReader.Exit"/> soon (it may enter again at once).
    /// </summary>
    /// <param name="expedite">
    /// The kick. Called at most once per grace period, on the thread that tries to end it, never under a lock of the
    /// domain (see <see cref="Online(Action)"/> for which threads and what happens when it throws).
    /// </param>
    /// <exception cref="ArgumentNullException"><paramref name="expedite"/> is null.</exception>
    /// <exception cref="ObjectDisposedException">The domain is disposed.</exception>
    public EpochReader RegisterReader(Action expedite)
    {
        ArgumentNullException.ThrowIfNull(expedite);
        return NewReader(expedite);
    }

    private EpochReader NewReader(Action? expedite)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var slot = new ReaderSlot(this, owner: null) { Expedite = expedite };
        Register(slot);
        return new EpochReader(this, slot);
    }

    /// <summary>
    /// QSBR: declares that the calling thread, which is <see cref="Online()"/>, holds no reference into the shared
    /// structure right now. Between two quiescent points an online thread reads with no guard at all.
    /// </summary>
    /// <exception cref="InvalidOperationException">The thread is not online, or is inside a guard.</exception>
    /// <exception cref="ObjectDisposedException">The domain is disposed.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe void Quiescent()
    {
        ReaderLine* line = CachedThreadLine();
        long announced = line->Epoch;
        if (announced == Inactive || (announced & GuardDepthMask) != 0)
        {
            ThrowNotQuiescentHere(nameof(Quiescent), announced);
        }

        // Release store: every read made since the last quiescent point is complete before the advancer can
        // see the newer epoch. Reads after it are ordered by the advancer's barrier, as for Enter.
        Volatile.Write(ref line->Epoch, Volatile.Read(ref Global.Value));
        line->AnnounceLower(ref Global.Era);
    }

    /// <summary>
    /// QSBR: the calling thread starts reading without guards; it must call <see cref="Quiescent"/> regularly
    /// (or the epoch stalls) and <see cref="Offline"/> before it blocks or exits. Calling it again is harmless (an
    /// expedite registered by <see cref="Online(Action)"/> stays until <see cref="Offline"/>).
    /// </summary>
    /// <exception cref="InvalidOperationException">The thread is inside a guard.</exception>
    /// <exception cref="ObjectDisposedException">The domain is disposed.</exception>
    public unsafe void Online() => GoOnline(CachedThreadLine());

    /// <summary>
    /// <see cref="Online()"/> for a thread that may run long without a quiescent point (a vCPU in <c>KVM_RUN</c>):
    /// when it holds a grace period back past <see cref="EpochOptions.ExpediteAfter"/>, the domain calls
    /// <paramref name="expedite"/>, which must make the thread reach <see cref="Quiescent"/> (or
    /// <see cref="Offline"/>) soon — as KVM kicks a vCPU out of the guest, or RCU expedites a grace period with
    /// IPIs. Replaces an expedite registered before; <see cref="Offline"/> removes it.
    /// </summary>
    /// <param name="expedite">
    /// The kick. Called at most once per grace period the thread holds back, by the thread that tries to end that
    /// grace period: a thread retiring past <see cref="EpochOptions.CollectThreshold"/> (after its item is queued),
    /// a writer of an address space once it has released its table locks, or a caller of <see cref="Collect"/>,
    /// <see cref="Synchronize"/>, <see cref="Barrier"/> or <see cref="Dispose"/> — the online thread itself if it is
    /// that thread. Never under a lock of the domain, so it may block briefly on what the reader holds; it must not
    /// wait for the reader to pass its quiescent point (the reader may be waiting on the caller). It can race the
    /// reader's own progress and arrive after the thread passed a quiescent point or went offline, and must then be
    /// harmless (a kick of a vCPU that already exited). If it throws, the exception is kept and reported like a free
    /// callback's, by the next <see cref="Collect"/>, <see cref="Barrier"/> or <see cref="Dispose"/>; it is not called
    /// again for that grace period, which then waits for the thread as if there were no expedite.
    /// </param>
    /// <exception cref="ArgumentNullException"><paramref name="expedite"/> is null.</exception>
    /// <exception cref="InvalidOperationException">The thread is inside a guard.</exception>
    /// <exception cref="ObjectDisposedException">The domain is disposed.</exception>
    public unsafe void Online(Action expedite)
    {
        ArgumentNullException.ThrowIfNull(expedite);
        ReaderSlot slot = CachedThreadSlot();
        GoOnline(slot.LinePointer);

        // After the announcement: an advancer that sees it without the expedite only kicks a little later.
        slot.Expedite = expedite;
    }

    private unsafe void GoOnline(ReaderLine* line)
    {
        long announced = line->Epoch;
        if ((announced & GuardDepthMask) != 0)
        {
            ThrowNotQuiescentHere(nameof(Online), announced);
        }

        if (announced == Inactive)
        {
            // R2 (ReaderLine.Announce), at guard depth 0. A QSBR thread follows table entries without announcing
            // them (a vCPU's page walk), so it holds every table born before it leaves: an unbounded upper end, set
            // like R2 before any load under it.
            line->Announce(Volatile.Read(ref Global.Value));
            line->AnnounceLower(ref Global.Era);
            line->Upper = ReaderLine.UnboundedUpper;
        }
    }

    /// <summary>QSBR: the calling thread stops reading (it is skipped by grace periods). Calling it again is harmless.</summary>
    /// <exception cref="InvalidOperationException">The thread is inside a guard.</exception>
    /// <exception cref="ObjectDisposedException">The domain is disposed.</exception>
    public void Offline()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ReaderSlot? slot = ThreadSlots.Find(this);
        if (slot is null)
        {
            return;
        }

        long announced = slot.Line.Epoch;
        if ((announced & GuardDepthMask) != 0)
        {
            ThrowNotQuiescentHere(nameof(Offline), announced);
        }

        // Release store, as for leaving a guard. The expedite goes after: a kick that reads it still is spurious.
        Volatile.Write(ref slot.Line.Epoch, Inactive);
        Volatile.Write(ref slot.Line.Upper, 0); // release, after the leave, as UnboundedGuard.Dispose restores it
        slot.Expedite = null;
    }

    /// <summary>
    /// The line of the calling thread's slot (<see cref="CurrentThreadSlot"/>'s), found through the thread's
    /// cached pointer when it is this domain's: the read side's lookup (<see cref="ThreadSlots.LastLine"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private unsafe ReaderLine* CachedThreadLine()
    {
        ReaderLine* line = ThreadSlots.LastLine;
        if (line == null || line->DomainKey != Key)
        {
            line = CurrentThreadSlot().LinePointer;
        }

        return line;
    }

    // Not NoInlining: the JIT then sees that it always throws and keeps Enter's registers live across the call.
    [DoesNotReturn]
    private static void ThrowNestedTooDeep() =>
        throw new InvalidOperationException(
            $"EpochDomain.Enter: {GuardDepthMask} guards of this domain are already open on this thread, the most that nest; a guard is probably not disposed.");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowNotQuiescentHere(string operation, long announced) =>
        throw new InvalidOperationException((announced & GuardDepthMask) != 0
            ? $"EpochDomain.{operation} was called inside a guard; leave every guard first."
            : $"EpochDomain.{operation} was called on a thread that is not online; call Online first.");
}
