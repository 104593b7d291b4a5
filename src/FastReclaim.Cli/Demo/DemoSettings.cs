namespace FastReclaim.Cli.Demo;

/// <summary>What <c>fastreclaim demo</c> was asked to do.</summary>
/// <param name="Gib">Span of the sparse address space, in GiB (a PTE table per 2 MiB of it).</param>
/// <param name="Seconds">Duration of the zap/refault waves, per policy.</param>
/// <param name="Readers">Reader threads translating during the waves.</param>
/// <param name="Output">Path of the PNG chart.</param>
/// <param name="Policies">Policies to run, one after the other.</param>
/// <param name="Hold">Keep the address spaces alive after the summary until stdin closes (for monitor, dotnet-counters).</param>
/// <param name="Plain">Plain progress lines instead of the live progress bar.</param>
internal sealed record DemoSettings(
    int Gib, double Seconds, int Readers, string Output, IReadOnlyList<ReclaimPolicy> Policies, bool Hold, bool Plain);
