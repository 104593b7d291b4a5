using FastReclaim.Reclaim;

namespace FastReclaim;

/// <summary>Tuning of an <see cref="EpochDomain"/>. Every value is checked when it is set.</summary>
public sealed class EpochOptions
{
    /// <summary>Default <see cref="CollectThreshold"/>: eight full bags of 64 retired items (512).</summary>
    public const int DefaultCollectThreshold = 8 * RetireBag.Capacity;

    /// <summary>Default <see cref="MaxPendingItems"/>.</summary>
    public const long DefaultMaxPendingItems = 1 << 16;

    /// <summary>Default <see cref="StallDeadline"/>.</summary>
    public static readonly TimeSpan DefaultStallDeadline = TimeSpan.FromMilliseconds(100);

    /// <summary>Default <see cref="ExpediteAfter"/>.</summary>
    public static readonly TimeSpan DefaultExpediteAfter = TimeSpan.FromMilliseconds(10);

    /// <summary>
    /// Retired items waiting in sealed bags before a retiring thread tries to advance the epoch and free what
    /// is safe. Each attempt costs one process-wide memory barrier (0.4 µs with idle cores, about 12 µs when
    /// another core is busy), so this batches that cost over many items.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not positive.</exception>
    public int CollectThreshold
    {
        get;
        init => field = value > 0
            ? value
            : throw new ArgumentOutOfRangeException(nameof(CollectThreshold), value, $"CollectThreshold must be positive; got {value}.");
    } = DefaultCollectThreshold;

    /// <summary>
    /// Backlog bound: once more items than this are retired and not yet freed, a retiring thread no longer
    /// skips collection when another thread holds the locks, and also flushes other threads' open bags — it
    /// helps instead of adding garbage. Retire never blocks on readers: a reader that holds the epoch back is
    /// reported as a stall (see <see cref="StallDeadline"/>), not waited for.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not positive.</exception>
    public long MaxPendingItems
    {
        get;
        init => field = value > 0
            ? value
            : throw new ArgumentOutOfRangeException(nameof(MaxPendingItems), value, $"MaxPendingItems must be positive; got {value}.");
    } = DefaultMaxPendingItems;

    /// <summary>
    /// How long the epoch may be held back by one reader before it is reported as a stall
    /// (<see cref="EpochStats.Stalls"/> and the <c>FastReclaim</c> event source's <c>ReaderStall</c> event).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not positive.</exception>
    public TimeSpan StallDeadline
    {
        get;
        init => field = value > TimeSpan.Zero
            ? value
            : throw new ArgumentOutOfRangeException(nameof(StallDeadline), value, $"StallDeadline must be positive; got {value}.");
    } = DefaultStallDeadline;

    /// <summary>
    /// How long a reader that registered an expedite callback (<see cref="EpochDomain.Online(Action)"/>,
    /// <see cref="EpochDomain.RegisterReader(Action)"/>) may hold a grace period back before the domain calls it, once
    /// for that grace period (<see cref="EpochStats.Expedites"/>). Measured like <see cref="StallDeadline"/>: from the
    /// first advance attempt the reader blocked. The default, 10 ms, is ten scheduler ticks: a vCPU that would exit
    /// on its own by then is not kicked, and a <see cref="EpochDomain.Barrier"/> behind one that would not waits
    /// about this long plus the reader's reaction time.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not positive.</exception>
    public TimeSpan ExpediteAfter
    {
        get;
        init => field = value > TimeSpan.Zero
            ? value
            : throw new ArgumentOutOfRangeException(nameof(ExpediteAfter), value, $"ExpediteAfter must be positive; got {value}.");
    } = DefaultExpediteAfter;

#if FASTRECLAIM_FAULT_INJECTION
    /// <summary>Test builds only: a deliberately broken reclaimer, to show the torture tests catch it.</summary>
    internal EpochFault Fault { get; init; }
#endif
}
