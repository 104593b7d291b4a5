namespace FastReclaim.PerfGate;

/// <summary>
/// A BenchmarkDotNet project the gate builds and runs: any project whose <c>Main</c> hands its arguments to
/// <c>BenchmarkSwitcher</c> (BenchmarkDotNet's usual entry point) works unchanged. The gate adds
/// <c>--filter</c>, <c>--artifacts</c> and <c>--exporters fulljson</c> (the report that keeps every iteration's
/// measurement, which the statistical test needs) to the project's own arguments.
/// </summary>
internal sealed class BenchmarkProject
{
    private const string Configuration = "Release";

    private BenchmarkProject(string assemblyPath) => AssemblyPath = assemblyPath;

    /// <summary>The built benchmark assembly (<c>dotnet AssemblyPath</c> runs it).</summary>
    public string AssemblyPath { get; }

    /// <summary>Builds <paramref name="projectPath"/> in Release with the extra MSBuild arguments.</summary>
    /// <exception cref="GateBrokenException">The project does not exist or does not build.</exception>
    public static BenchmarkProject Build(string projectPath, IReadOnlyList<string> buildArguments, string logFile, TimeSpan budget)
    {
        string fullPath = Path.GetFullPath(projectPath);
        if (!File.Exists(fullPath) && !Directory.Exists(fullPath))
        {
            throw new GateBrokenException($"benchmark project '{projectPath}' does not exist");
        }
        string directory = Directory.Exists(fullPath) ? fullPath : Path.GetDirectoryName(fullPath)!;
        // No build servers (MSBuild nodes, the compiler server): none is left running beside the measurements
        // that follow, on a runner with as few as two cores.
        ProcessRunner.Run("dotnet", ["build", fullPath, "-c", Configuration, "--nologo", "-v", "q", "--disable-build-servers", .. buildArguments], directory, budget, logFile);
        string targetPath = ProcessRunner.Run("dotnet",
            ["msbuild", fullPath, "-getProperty:TargetPath", $"-p:Configuration={Configuration}", "-nodeReuse:false", .. buildArguments], directory, budget).Trim();
        if (!File.Exists(targetPath))
        {
            throw new GateBrokenException($"built '{projectPath}' but its assembly '{targetPath}' is not there");
        }
        return new BenchmarkProject(targetPath);
    }

    /// <summary>
    /// Runs the benchmarks matching <paramref name="filters"/> into <paramref name="artifacts"/> (its
    /// <c>results/</c> holds the reports) and records the testbed there; <paramref name="launches"/> runs go one
    /// after another into <c>launch-0</c>, <c>launch-1</c>, ... under it, which
    /// <see cref="ResultSetReader.Read(string)"/> reads back as one set.
    /// </summary>
    public void Run(IReadOnlyList<string> filters, string artifacts, IReadOnlyList<string> benchmarkArguments, TimeSpan budget, int launches = 1)
    {
        if (launches == 1)
        {
            RunOnce(filters, artifacts, benchmarkArguments, budget);
            return;
        }
        if (Directory.Exists(artifacts))
        {
            Directory.Delete(artifacts, recursive: true);
        }
        for (int launch = 0; launch < launches; launch++)
        {
            RunOnce(filters, Path.Combine(artifacts, ResultSetReader.LaunchPrefix + launch.ToString(System.Globalization.CultureInfo.InvariantCulture)), benchmarkArguments, budget);
        }
        Testbed.Current().Save(artifacts);
    }

    private void RunOnce(IReadOnlyList<string> filters, string artifacts, IReadOnlyList<string> benchmarkArguments, TimeSpan budget)
    {
        if (Directory.Exists(artifacts))
        {
            Directory.Delete(artifacts, recursive: true);
        }
        Directory.CreateDirectory(artifacts);
        ProcessRunner.Run("dotnet",
            [AssemblyPath, .. benchmarkArguments, "--filter", .. filters, "--artifacts", artifacts, "--exporters", "fulljson"],
            Path.GetDirectoryName(AssemblyPath)!, budget, artifacts + ".log", raisePriority: true);
        Testbed.Current().Save(artifacts);
    }
}
