namespace FastReclaim.Sandbox;

/// <summary>What one guest command did.</summary>
/// <param name="Completed">How many addresses of the list the guest read (and wrote) before it stopped.</param>
/// <param name="Fault">The page fault that stopped the command, if one did.</param>
/// <param name="TrapFrameRead">True when the guest read the trap value: it walked a freed (poisoned) table.</param>
/// <param name="Exits">vCPU exits to the host during the command, each one a quiescent point of the epoch domain.</param>
public readonly record struct GuestAccessResult(int Completed, GuestFault? Fault, bool TrapFrameRead, int Exits);
