namespace FastReclaim.Sandbox;

/// <summary>What one emulated guest read did.</summary>
/// <param name="Completed">How many addresses of the list the guest read before it stopped.</param>
/// <param name="Fault">The translation fault that stopped it, if one did.</param>
/// <param name="TrapFrameRead">True when a value read is the trap value: the guest walked a freed (poisoned) table.</param>
/// <param name="Invalidated">True when the guest invalidated its TLB after the reads (a quiescent point of the epoch domain).</param>
public readonly record struct EmulatedAccessResult(int Completed, EmulatedFault? Fault, bool TrapFrameRead, bool Invalidated);
