using System.CommandLine;
using FastReclaim.Cli.Common;
using FastReclaim.Sandbox;

namespace FastReclaim.Cli.Sandbox;

/// <summary>
/// <c>fastreclaim sandbox</c>: boots a KVM guest on FastReclaim's page tables, lets it read through 4 KiB, 2 MiB
/// and 1 GiB mappings, zaps and reclaims (alone and under load), and prints what the guest saw. Exit code 0 when
/// every check held, 1 when one failed or KVM is unusable. Under <see cref="ReclaimPolicy.None"/> the checks are
/// that no zap freed a table; under the others, that the zaps did.
/// </summary>
internal static class SandboxCommand
{
    public static Command Create()
    {
        var pages = new Option<int>("--pages")
        {
            Description = $"Sparse 4 KiB pages, one per 2 MiB (1 to {GuestMachine.MaxAddressesPerCommand}).",
            DefaultValueFactory = _ => 64,
        }.AcceptRange(1, GuestMachine.MaxAddressesPerCommand);
        var passes = new Option<int>("--passes")
        {
            Description = "Passes the guest makes over its pages while a host thread zaps and re-maps them (under load; more until the host has zapped once).",
            DefaultValueFactory = _ => 500,
        }.AcceptRange(1, int.MaxValue);
        var policy = new Option<string>("--policy")
        {
            Description = "Reclaim policy: linux (free a PTE table when its whole 2 MiB is zapped), eager, or none (never free on zap).",
            DefaultValueFactory = _ => ReclaimPolicyNames.Eager,
        }.AcceptPolicyNames();

        var command = new Command("sandbox", "Boot a KVM guest on FastReclaim's page tables; map, zap and reclaim while it reads.")
        {
            pages, passes, policy,
        };
        command.SetAction((parse, stop) => Task.FromResult(Run(
            new SandboxSettings(parse.GetValue(pages), parse.GetValue(passes), ReclaimPolicyNames.Parse(parse.GetValue(policy)!)),
            parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, stop)));
        return command;
    }

    /// <summary>Runs the sandbox; returns the process exit code (<see cref="ExitCodes.Interrupted"/> when <paramref name="stop"/> fired: no verdict then).</summary>
    public static int Run(SandboxSettings settings, TextWriter output, TextWriter error, CancellationToken stop)
    {
        if (!KvmAvailability.IsAvailable(out string reason))
        {
            error.WriteLine($"sandbox: KVM is not usable here: {reason}");
            return ExitCodes.Failure;
        }

        using var machine = new GuestMachine(new GuestMachineOptions { Poison = true, Policy = settings.Policy });
        var run = new SandboxRun(machine, settings, output, stop);
        run.Execute();
        if (stop.IsCancellationRequested)
        {
            error.WriteLine("sandbox: interrupted; the checks did not run to the end, no verdict");
            return ExitCodes.Interrupted;
        }

        if (run.Failures.Count == 0)
        {
            output.WriteLine("all checks passed");
            return ExitCodes.Success;
        }

        foreach (string failure in run.Failures)
        {
            error.WriteLine($"FAILED: {failure}");
        }

        return ExitCodes.Failure;
    }
}
