
namespace FastReclaim.Diagnostics;

/// <summary>
/// The <c>FastReclaim.Diagnostics.IsSupported</c> feature switch (an <see cref="AppContext"/> switch, e.g.
/// <c>&lt;RuntimeHostConfigurationOption Include="FastReclaim.Diagnostics.IsSupported" Value="false" /&gt;</c>).
/// </summary>
/// <remarks>
/// On by default. Off, no address space or epoch domain registers with the meter and every event and
/// histogram guard is a <c>static readonly</c> <see langword="false"/> that the JIT folds away: the library
/// then runs exactly as if it had no instruments, which is also the baseline the diagnostics benchmarks
/// measure the instruments against.
/// </remarks>
internal static class DiagnosticsSwitch
{
    internal static readonly bool IsSupported =
        !AppContext.TryGetSwitch(FastReclaimDiagnostics.IsSupportedSwitchName, out bool on) || on;
}
