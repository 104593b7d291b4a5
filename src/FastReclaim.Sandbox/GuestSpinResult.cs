namespace FastReclaim.Sandbox;

/// <summary>What the spinning guest (<see cref="GuestMachine.Spin"/>) counted while it ran.</summary>
/// <param name="Passes">Passes over the address list.</param>
/// <param name="Reads">Words read (a read that faulted is not counted).</param>
/// <param name="Faults">Page faults: the guest counted each and went on to the next address, with no exit.</param>
/// <param name="TrapFrameReads">Reads that returned <see cref="GuestMachine.TrapValue"/>: the walk went through a freed, poisoned table.</param>
/// <param name="WrongValues">Reads that returned neither the expected value nor the trap value.</param>
/// <param name="Exits">Exits the guest made: 1, the READY exit that ends the spin, when it truly never exited before.</param>
public readonly record struct GuestSpinResult(long Passes, long Reads, long Faults, long TrapFrameReads, long WrongValues, int Exits);
