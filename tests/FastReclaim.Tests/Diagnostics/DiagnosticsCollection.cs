
namespace FastReclaim.Tests.Diagnostics;

/// <summary>
/// Tests that listen to the process-wide meter or event source, or attach to child processes: run one at a
/// time so one test's listener never enables another test's "no listener" expectation.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class DiagnosticsCollection
{
    public const string Name = "Diagnostics";
}
