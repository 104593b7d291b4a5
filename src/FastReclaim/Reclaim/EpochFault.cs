#if FASTRECLAIM_FAULT_INJECTION
namespace FastReclaim.Reclaim;

/// <summary>
/// Deliberately broken variants of the reclaimer, for tests only: each removes one of the two things that make
/// reclamation safe, so a torture test can show it notices. Compiled only into the test build of the library
/// (<c>FastReclaimFaultInjection=true</c>, see <c>Directory.Build.props</c>); a release build has no such code.
/// </summary>
internal enum EpochFault
{
    /// <summary>The correct reclaimer.</summary>
    None,

    /// <summary>Retire runs the callback at once: the use-after-free of the seed thread.</summary>
    FreeAtOnce,

    /// <summary>The advancer moves the epoch without looking at the reader slots (and without the fence).</summary>
    IgnoreReaders,

    /// <summary>
    /// Disposing a nested guard leaves the critical section (as if guards did not nest): the outer guard's reads
    /// after it are unprotected.
    /// </summary>
    NestedDisposeLeaves,

    /// <summary>
    /// Interval reclamation off by one: a reader whose upper end equals a table's birth era is taken not to hold it
    /// (frees when birth &lt;= upper would have kept it), so a reader that reached a table born in the era it announced
    /// loses it.
    /// </summary>
    BirthAtUpperIsFree,
}
#endif
