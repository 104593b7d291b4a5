
namespace FastReclaim.Reclaim;

/// <summary>A reader that has held an epoch domain back past its stall deadline.</summary>
/// <param name="Epoch">The global epoch that could not advance.</param>
/// <param name="ManagedThreadId">The stalling thread's managed id; 0 for an <see cref="EpochReader"/> handle.</param>
/// <param name="Duration">How long the epoch had been blocked when the stall was reported.</param>
/// <param name="PendingItems">Retired items waiting at that moment.</param>
internal readonly record struct EpochStall(long Epoch, int ManagedThreadId, TimeSpan Duration, long PendingItems);
