using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.Diagnostics.NETCore.Client;

namespace FastReclaim.Tests.Cli;

/// <summary>The <c>fastreclaim</c> CLI (the apphost copied next to the tests) running as a child process.</summary>
internal sealed class CliProcess : IDisposable
{
    private static readonly TimeSpan s_exitTimeout = TimeSpan.FromSeconds(30);

    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly TaskCompletionSource _holding = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private CliProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                _holding.TrySetException(new InvalidOperationException("The CLI exited before holding:\n" + Output));
                return;
            }

            lock (_lines)
            {
                _lines.Add(e.Data);
            }

            if (e.Data.StartsWith(FastReclaim.Cli.DemoCommand.HoldingLine, StringComparison.Ordinal))
            {
                _holding.TrySetResult();
            }
        };
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (_lines)
                {
                    _lines.Add("stderr: " + e.Data);
                }
            }
        };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Id => _process.Id;

    public string Output
    {
        get
        {
            lock (_lines)
            {
                return string.Join('\n', _lines);
            }
        }
    }

    public static CliProcess Start(params string[] arguments) =>
        StartProcess(Path.Combine(AppContext.BaseDirectory, "FastReclaim.Cli"), arguments);

    /// <summary>
    /// Starts <c>demo --hold</c> on a small space and waits until it holds its final state. With
    /// <paramref name="configProperties"/>, the CLI runs through <c>dotnet exec --runtimeconfig</c> with those
    /// AppContext switches added to its runtime configuration.
    /// </summary>
    public static async Task<CliProcess> StartHeldDemoAsync(
        string pngPath, CancellationToken cancellation, IReadOnlyDictionary<string, bool>? configProperties = null)
    {
        string[] demoArguments = ["demo", "--gib", "1", "--seconds", "0.3", "--readers", "1", "--hold", "--output", pngPath];
        CliProcess demo = configProperties is null
            ? Start(demoArguments)
            : StartProcess(DotnetHost(), ["exec", "--runtimeconfig", RuntimeConfigWith(configProperties, Path.GetDirectoryName(pngPath)!),
                Path.Combine(AppContext.BaseDirectory, "FastReclaim.Cli.dll"), .. demoArguments]);
        try
        {
            await demo._holding.Task.WaitAsync(s_exitTimeout, cancellation);
            return demo;
        }
        catch
        {
            demo.Dispose();
            throw;
        }
    }

    /// <summary>Waits until the child's runtime has opened its diagnostics endpoint (shortly after it starts).</summary>
    public async Task<bool> WaitForDiagnosticsEndpointAsync(CancellationToken cancellation)
    {
        TimeSpan poll = TimeSpan.FromMilliseconds(50);
        for (var waited = TimeSpan.Zero; waited < s_exitTimeout && !_process.HasExited; waited += poll)
        {
            if (DiagnosticsClient.GetPublishedProcesses().Contains(Id))
            {
                return true;
            }

            await Task.Delay(poll, cancellation);
        }

        return false;
    }

    /// <summary>Skips the test when this machine's .NET diagnostics IPC (the runtime's socket in TMPDIR) is not usable.</summary>
    public void SkipUnlessDiagnosticsIpc() =>
        Assert.SkipUnless(DiagnosticsClient.GetPublishedProcesses().Contains(Id),
            $"diagnostics IPC unavailable: process {Id} published no diagnostics endpoint (DOTNET_EnableDiagnostics=0 or no writable TMPDIR?)");

    private static CliProcess StartProcess(string fileName, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        return new CliProcess(Process.Start(start) ?? throw new InvalidOperationException($"Could not start {fileName}."));
    }

    /// <summary>The <c>dotnet</c> host running the tests (set by the SDK), else the one on PATH.</summary>
    private static string DotnetHost() => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";

    /// <summary>A copy of the CLI's runtimeconfig.json in <paramref name="directory"/> with <paramref name="switches"/> added.</summary>
    private static string RuntimeConfigWith(IReadOnlyDictionary<string, bool> switches, string directory)
    {
        JsonNode config = JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "FastReclaim.Cli.runtimeconfig.json")))!;
        JsonObject options = config["runtimeOptions"]!.AsObject();
        if (options["configProperties"] is not JsonObject properties)
        {
            properties = [];
            options["configProperties"] = properties;
        }

        foreach ((string name, bool value) in switches)
        {
            properties[name] = value;
        }

        string path = Path.Combine(directory, "FastReclaim.Cli.runtimeconfig.json");
        File.WriteAllText(path, config.ToJsonString());
        return path;
    }

    /// <summary>The <c>stats policy=NAME key=value ...</c> lines of <c>--hold</c>, by policy.</summary>
    public Dictionary<string, Dictionary<string, long>> HeldStats()
    {
        var stats = new Dictionary<string, Dictionary<string, long>>();
        foreach (string line in Output.Split('\n').Where(l => l.StartsWith("stats ", StringComparison.Ordinal)))
        {
            var fields = line["stats ".Length..].Split(' ').Select(f => f.Split('=')).ToDictionary(kv => kv[0], kv => kv[1]);
            stats[fields["policy"]] = fields.Where(kv => kv.Key != "policy")
                .ToDictionary(kv => kv.Key, kv => long.Parse(kv.Value, System.Globalization.CultureInfo.InvariantCulture));
        }

        return stats;
    }

    /// <summary>Closes standard input (which ends <c>--hold</c>) and waits for the exit code.</summary>
    public async Task<int> CloseInputAndWaitAsync(CancellationToken cancellation)
    {
        _process.StandardInput.Close();
        return await WaitAsync(cancellation);
    }

    public async Task<int> WaitAsync(CancellationToken cancellation)
    {
        await _process.WaitForExitAsync(cancellation).WaitAsync(s_exitTimeout, cancellation);
        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(s_exitTimeout);
        }

        _process.Dispose();
    }
}
