namespace FastReclaim.Reclaim;

/// <summary>
/// A guard with an unbounded upper end (<see cref="EpochDomain.EnterUnbounded"/>): for code that follows table
/// entries without a <see cref="TableReadWatch"/>. Dispose leaves the guard, then restores the thread's upper end.
/// </summary>
internal readonly unsafe ref struct UnboundedGuard
{
    private readonly EpochGuard _guard;
    private readonly long _previousUpper;

    internal UnboundedGuard(EpochGuard guard, long previousUpper)
    {
        _guard = guard;
        _previousUpper = previousUpper;
    }

    public void Dispose()
    {
        ReaderLine* line = _guard.Line;
        _guard.Dispose();

        // A release store after the one that leaves (or lowers the depth): a scan that reads the announcement and
        // then the restored upper end pairs them only once every load of this guard is complete.
        Volatile.Write(ref line->Upper, _previousUpper);
    }
}
