using BenchmarkDotNet.Configs;

namespace FastReclaim.BenchmarkDotNet;

/// <summary>
/// Adds <see cref="FastReclaimDiagnoser"/> to the benchmark class it is put on: FastReclaim columns (page tables
/// allocated and reclaimed per operation, retired items per operation, page-table bytes and pending tables at the
/// end, grace-period p99, reader stalls) in every summary and exporter.
/// </summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Assembly, AllowMultiple = false)]
public sealed class FastReclaimDiagnoserAttribute : Attribute, IConfigSource
{
    /// <summary>A config holding <see cref="FastReclaimDiagnoser.Default"/>.</summary>
    public IConfig Config { get; } = ManualConfig.CreateEmpty().AddDiagnoser(FastReclaimDiagnoser.Default);
}
