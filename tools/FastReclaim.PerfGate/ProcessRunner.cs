using System.Diagnostics;

namespace FastReclaim.PerfGate;

/// <summary>Runs the child processes the gate needs (dotnet, git) with a time budget and a log file.</summary>
internal static class ProcessRunner
{
    /// <summary>
    /// Runs <paramref name="fileName"/> to completion in <paramref name="workingDirectory"/>, standard output and
    /// error appended to <paramref name="logFile"/> (when given); returns its standard output.
    /// </summary>
    /// <remarks>
    /// <paramref name="raisePriority"/> asks for a higher scheduling priority (allowed when running as root, as CI
    /// does), so that other work on a small runner disturbs a measurement less; it is silently ignored where it
    /// is not allowed. <paramref name="budget"/> bounds the whole run: past it the process tree is killed.
    /// </remarks>
    /// <exception cref="GateBrokenException">The process could not start, ran past the budget, or exited non-zero.</exception>
    public static string Run(string fileName, IEnumerable<string> arguments, string workingDirectory, TimeSpan budget,
        string? logFile = null, bool raisePriority = false)
    {
        var start = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        string commandLine = $"{fileName} {string.Join(' ', start.ArgumentList)}";

        using var process = new Process { StartInfo = start };
        var combined = new System.Text.StringBuilder();
        var standardOutput = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => Append(e.Data, standardOutput);
        process.ErrorDataReceived += (_, e) => Append(e.Data, null);
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new GateBrokenException($"could not start '{fileName}': {e.Message}");
        }
        process.StandardInput.Close(); // a child that reads stdin sees end of input, never hangs the gate
        if (raisePriority)
        {
            TryRaisePriority(process);
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        bool finished = process.WaitForExit(budget);
        if (!finished)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
        else
        {
            process.WaitForExit(); // drains the asynchronous readers
        }

        string text; // the readers have drained (WaitForExit above), the lock only publishes their writes
        lock (combined)
        {
            text = combined.ToString();
        }
        if (logFile is not null)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(logFile))!);
            File.AppendAllText(logFile, $"$ {commandLine}{Environment.NewLine}{text}");
        }
        if (!finished)
        {
            throw new GateBrokenException($"'{commandLine}' ran past its budget of {budget.TotalSeconds:0} s{LogHint(logFile)}");
        }
        if (process.ExitCode != 0)
        {
            throw new GateBrokenException($"'{commandLine}' exited with code {process.ExitCode}{LogHint(logFile)}{Environment.NewLine}{Tail(text)}");
        }
        lock (combined)
        {
            return standardOutput.ToString();
        }

        void Append(string? line, System.Text.StringBuilder? alsoTo)
        {
            if (line is null)
            {
                return;
            }
            lock (combined)
            {
                combined.AppendLine(line);
                alsoTo?.AppendLine(line);
            }
        }
    }

    private static void TryRaisePriority(Process process)
    {
        try
        {
            process.PriorityClass = ProcessPriorityClass.High;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or PlatformNotSupportedException)
        {
            // Not allowed (not root) or already gone: measure at normal priority.
        }
    }

    private static string LogHint(string? logFile) => logFile is null ? "" : $" (log: {logFile})";

    private static string Tail(string text, int lines = 20) =>
        string.Join(Environment.NewLine, text.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Length > 0).TakeLast(lines));
}
