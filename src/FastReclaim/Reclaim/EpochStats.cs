
namespace FastReclaim;

/// <summary>
/// A snapshot of an <see cref="EpochDomain"/>'s counters. Taken without stopping other threads: counts are
/// exact when no thread is retiring or collecting, and each is individually consistent otherwise.
/// </summary>
public readonly record struct EpochStats
{
    /// <summary>The global epoch: how many times it has advanced since the domain was created.</summary>
    public long GlobalEpoch { get; init; }

    /// <summary>Participants registered: threads that used the domain and have not been released, plus open reader handles.</summary>
    public int RegisteredThreads { get; init; }

    /// <summary>Participants inside a critical section (a guard, an entered handle, or a QSBR thread online) right now.</summary>
    public int ActiveThreads { get; init; }

    /// <summary>Items retired since the domain was created.</summary>
    public long Retired { get; init; }

    /// <summary>Items whose free callback has run.</summary>
    public long Freed { get; init; }

    /// <summary>
    /// Items whose free callback threw (counted in <see cref="Freed"/> too: a callback runs once, whatever it does).
    /// The exceptions are reported by the domain's next Collect, Barrier or Dispose.
    /// </summary>
    public long FailedCallbacks { get; init; }

    /// <summary>Items retired and not freed yet (<see cref="Retired"/> − <see cref="Freed"/>).</summary>
    public long Pending { get; init; }

    /// <summary>Times a reader held the epoch back past <see cref="EpochOptions.StallDeadline"/> (one per blocked epoch).</summary>
    public long Stalls { get; init; }

    /// <summary>
    /// Expedite callbacks invoked (<see cref="EpochDomain.Online(Action)"/>, <see cref="EpochDomain.RegisterReader(Action)"/>):
    /// at most one per reader per grace period it held back past <see cref="EpochOptions.ExpediteAfter"/>; one that
    /// threw counts too.
    /// </summary>
    public long Expedites { get; init; }

    /// <summary>Times the global epoch advanced.</summary>
    public long Advances { get; init; }

    /// <summary>
    /// Process-wide memory barriers issued. One per advance attempt that scans the readers, and no more: an
    /// attempt that finds the reader which blocked the previous one still there fails without a barrier.
    /// </summary>
    public long ProcessWideBarriers { get; init; }

    /// <summary>Bags of retired items freed so far: the number of grace periods measured below.</summary>
    public long GracePeriods { get; init; }

    /// <summary>Median time from sealing a bag of retired items to running it (power-of-two bucket bound).</summary>
    public TimeSpan GracePeriodP50 { get; init; }

    /// <summary>99th percentile of the same (power-of-two bucket bound).</summary>
    public TimeSpan GracePeriodP99 { get; init; }

    /// <summary>Longest grace period seen.</summary>
    public TimeSpan GracePeriodMax { get; init; }
}
