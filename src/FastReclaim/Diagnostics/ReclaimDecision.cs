
namespace FastReclaim.Diagnostics;

/// <summary>What a zap decided for one page table it emptied or left (the <c>PolicyDecision</c> event).</summary>
internal enum ReclaimDecision
{
    /// <summary>The table was unhooked and retired to the epoch domain.</summary>
    Reclaimed,
    /// <summary>Kept: the policy is <c>none</c>.</summary>
    KeptPolicyNone,
    /// <summary>Kept: under <c>linux</c> only tables whose whole span was zapped go.</summary>
    KeptPartialSpan,
    /// <summary>Kept: the table still holds live entries (seen by the scan or by the re-check under its lock).</summary>
    KeptNotEmpty,
}
