namespace FastReclaim.Cli.Sandbox;

/// <summary>What the guest does in the under-load phase of <c>fastreclaim sandbox</c> (<c>--guest</c>).</summary>
internal enum SandboxGuest
{
    /// <summary><c>read</c>: one read command per pass over the pages, an exit (a quiescent point) after each.</summary>
    Read,

    /// <summary><c>spin</c>: the guest reads its pages pass after pass and never exits; only the kicks end grace periods.</summary>
    Spin,
}
