namespace FastReclaim.Reclaim;

/// <summary>
/// Checked mode of the read side, read once per process from the <see cref="AppContext"/> switch
/// <c>FastReclaim.CheckReadSide</c> (off by default; tests turn it on in their project file). A static readonly
/// field: in code the JIT optimizes after the class is initialized (every <see cref="EpochDomain"/> constructor
/// initializes it), it is a constant, so the checks cost nothing when the switch is off.
/// </summary>
/// <remarks>
/// What it checks, each at a cost the read side cannot pay always (<c>perf-results/epoch.md</c>): an
/// <see cref="EpochGuard"/> disposed while a guard entered inside it is still open (a load of the slot after the
/// guard's own store), and an <see cref="EpochReader"/> exited on another thread than the one that entered it (a
/// read of the current thread's id on Enter and Exit).
/// </remarks>
internal static class ReadSideChecks
{
    /// <summary>The switch's name, as a runtimeconfig or <see cref="AppContext.SetSwitch"/> sets it.</summary>
    internal const string Switch = "FastReclaim.CheckReadSide";

    /// <summary>True when the read side checks for misuse.</summary>
    internal static readonly bool Enabled = AppContext.TryGetSwitch(Switch, out bool on) && on;
}
