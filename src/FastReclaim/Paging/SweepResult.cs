
namespace FastReclaim;

/// <summary>What one <see cref="AddressSpace.Sweep"/> did.</summary>
/// <param name="ScannedTables">PTE tables scanned.</param>
/// <param name="ReclaimedTables">Tables found empty, unhooked and retired to the epoch domain.</param>
public readonly record struct SweepResult(long ScannedTables, long ReclaimedTables);
