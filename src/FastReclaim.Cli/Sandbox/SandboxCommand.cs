using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using FastReclaim.Cli.Common;
using FastReclaim.Sandbox;

namespace FastReclaim.Cli.Sandbox;

/// <summary>
/// <c>fastreclaim sandbox</c>: boots a guest on FastReclaim's page tables, lets it read through 4 KiB, 2 MiB
/// and 1 GiB mappings, zaps and reclaims (alone and under load), and prints what the guest saw. The guest is a KVM
/// vCPU on x86-64 tables (<c>--arch x64</c>, the default) or an emulated AArch64 / RISC-V 64 CPU (Unicorn) on Arm64 /
/// RISC-V tables (<c>--arch arm64|riscv64</c>, <c>--levels</c>). Exit code 0 when every check held, 1 when one failed
/// or KVM / the emulator is unusable. Under <see cref="ReclaimPolicy.None"/> the checks are that no zap freed a
/// table; under the others, that the zaps did.
/// </summary>
internal static class SandboxCommand
{
    private const string GuestRead = "read";
    private const string GuestSpin = "spin";

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
        var arch = new Option<string>("--arch")
        {
            Description = "The CPU that walks the tables: x64 (a KVM vCPU on x86-64 tables), arm64 or riscv64 (an emulated CPU, Unicorn 2, on Arm64 or RISC-V tables).",
            DefaultValueFactory = _ => SandboxArchitectureNames.X64,
        }.AcceptNames(SandboxArchitectureNames.All);
        var levels = new Option<int>("--levels")
        {
            Description = "Paging levels: x64 4; arm64 3 or 4 (39- or 48-bit addresses); riscv64 3, 4 or 5 (Sv39, Sv48, Sv57).",
            DefaultValueFactory = _ => 4,
        }.AcceptRange(3, 5);

        var guest = new Option<string>("--guest")
        {
            Description = "Under load, the guest reads its pages with one command (one exit) per pass (read), or spins over them with no exit at all (spin), so that only the vCPU kicks the epoch domain asks for end grace periods.",
            DefaultValueFactory = _ => GuestRead,
        }.AcceptNames(GuestRead, GuestSpin);
        var expediteAfter = new Option<double>("--expedite-after")
        {
            Description = "Seconds a grace period waits for the vCPU before the epoch domain kicks it (EpochOptions.ExpediteAfter).",
            DefaultValueFactory = _ => EpochOptions.DefaultExpediteAfter.TotalSeconds,
        }.AcceptSeconds();


        var command = new Command("sandbox", "Boot a guest (KVM x64, or an emulated AArch64 / RISC-V 64 CPU) on FastReclaim's page tables; map, zap and reclaim while it reads.")
        {
            pages, passes, policy, arch, levels, guest, expediteAfter,
        };
        command.Validators.Add(result =>
        {
            // Only an explicit --levels can be wrong for the architecture (the default, 4, suits all three); a value the
            // options' own parsers refuse is theirs to report.
            if (result.GetResult(levels) is not { Implicit: false, Tokens: [.., Token levelsToken] }
                || !int.TryParse(levelsToken.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int count))
            {
                return;
            }

            string archName = result.GetResult(arch) is { Implicit: false, Tokens: [.., Token archToken] } ? archToken.Value : SandboxArchitectureNames.X64;
            if (SandboxArchitectureNames.TryParse(archName, out SandboxArchitecture architecture) && LevelsRefusal(architecture, count) is string refusal)
            {
                result.AddError($"{levels.Name}: {refusal}, got '{levelsToken.Value}'.");
            }
        });
        command.Validators.Add(result =>
        {
            // --guest and --expedite-after shape the KVM guest's run; given explicitly with an emulated CPU they would
            // be ignored, so they are refused.
            string archName = result.GetResult(arch) is { Implicit: false, Tokens: [.., Token archToken] } ? archToken.Value : SandboxArchitectureNames.X64;
            if (archName == SandboxArchitectureNames.X64 || !SandboxArchitectureNames.TryParse(archName, out _))
            {
                return;
            }

            foreach (Option option in (Option[])[guest, expediteAfter])
            {
                if (result.GetResult(option) is { Implicit: false, Tokens: [.., Token token] })
                {
                    result.AddError($"{option.Name}: only the KVM guest (--arch x64) takes it, got '{token.Value}' with --arch {archName}.");
                }
            }
        });
        command.SetAction((parse, stop) => Task.FromResult(Run(
            new SandboxSettings(parse.GetValue(pages), parse.GetValue(passes), ReclaimPolicyNames.Parse(parse.GetValue(policy)!),
                SandboxArchitectureNames.Parse(parse.GetValue(arch)!), parse.GetValue(levels),
                parse.GetValue(guest) == GuestSpin ? SandboxGuest.Spin : SandboxGuest.Read, TimeSpan.FromSeconds(parse.GetValue(expediteAfter))),
            parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, stop)));
        return command;
    }

    /// <summary>Why <paramref name="architecture"/>'s guest cannot walk <paramref name="levels"/> levels, or null when it can.</summary>
    private static string? LevelsRefusal(SandboxArchitecture architecture, int levels) => architecture switch
    {
        SandboxArchitecture.X64 => levels == 4 ? null : "the KVM guest walks 4-level tables",
        _ => EmulatedMachine.IsSupported(SandboxArchitectureNames.FormatOf(architecture), levels, out string reason) ? null : char.ToLowerInvariant(reason[0]) + reason[1..].TrimEnd('.'),
    };

    /// <summary>Runs the sandbox; returns the process exit code (<see cref="ExitCodes.Interrupted"/> when <paramref name="stop"/> fired: no verdict then).</summary>
    public static int Run(SandboxSettings settings, TextWriter output, TextWriter error, CancellationToken stop)
    {
        if (settings.Architecture != SandboxArchitecture.X64)
        {
            return RunEmulated(settings, output, error, stop);
        }

        if (!KvmAvailability.IsAvailable(out string reason))
        {
            error.WriteLine($"sandbox: KVM is not usable here: {reason}");
            return ExitCodes.Failure;
        }

        using var epoch = new EpochDomain(new EpochOptions { ExpediteAfter = settings.ExpediteAfterOrDefault });
        using var machine = new GuestMachine(new GuestMachineOptions { Poison = true, Policy = settings.Policy, Epoch = epoch });
        var run = new SandboxRun(machine, settings, output, stop);
        run.Execute();
        return Verdict(run.Failures, output, error, stop);
    }

    /// <summary>The same story on an emulated AArch64 or RISC-V 64 CPU walking tables of its format.</summary>
    private static int RunEmulated(SandboxSettings settings, TextWriter output, TextWriter error, CancellationToken stop)
    {
        if (!UnicornAvailability.IsAvailable(out string reason))
        {
            error.WriteLine($"sandbox: the emulator is not usable here: {reason}");
            return ExitCodes.Failure;
        }

        using var machine = new EmulatedMachine(new EmulatedMachineOptions
        {
            Format = SandboxArchitectureNames.FormatOf(settings.Architecture),
            Levels = settings.Levels,
            Poison = true,
            Policy = settings.Policy,
        });
        var run = new EmulatedSandboxRun(machine, settings, output, stop);
        run.Execute();
        return Verdict(run.Failures, output, error, stop);
    }

    private static int Verdict(List<string> failures, TextWriter output, TextWriter error, CancellationToken stop)
    {
        if (stop.IsCancellationRequested)
        {
            error.WriteLine("sandbox: interrupted; the checks did not run to the end, no verdict");
            return ExitCodes.Interrupted;
        }

        if (failures.Count == 0)
        {
            output.WriteLine("all checks passed");
            return ExitCodes.Success;
        }

        foreach (string failure in failures)
        {
            error.WriteLine($"FAILED: {failure}");
        }

        return ExitCodes.Failure;
    }
}
