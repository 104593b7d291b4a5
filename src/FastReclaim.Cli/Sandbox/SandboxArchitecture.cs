namespace FastReclaim.Cli.Sandbox;

/// <summary>Which CPU walks the tables in <c>fastreclaim sandbox</c> (<c>--arch</c>).</summary>
internal enum SandboxArchitecture
{
    /// <summary><c>x64</c>: a KVM vCPU on x86-64 tables (the default).</summary>
    X64,

    /// <summary><c>arm64</c>: an emulated AArch64 CPU (Unicorn) on Arm64 tables.</summary>
    Arm64,

    /// <summary><c>riscv64</c>: an emulated RISC-V 64 CPU (Unicorn) on RISC-V Sv39/Sv48/Sv57 tables.</summary>
    RiscV64,
}

/// <summary>The <c>--arch</c> names.</summary>
internal static class SandboxArchitectureNames
{
    public const string X64 = "x64";
    public const string Arm64 = "arm64";
    public const string RiscV64 = "riscv64";

    /// <summary>Every name, in the order of <see cref="SandboxArchitecture"/>'s values.</summary>
    public static readonly string[] All = [X64, Arm64, RiscV64];

    /// <summary>The architecture an <c>--arch</c> value names, if it names one.</summary>
    public static bool TryParse(string name, out SandboxArchitecture architecture)
    {
        int index = Array.IndexOf(All, name);
        architecture = (SandboxArchitecture)Math.Max(index, 0);
        return index >= 0;
    }

    /// <summary>The architecture an <c>--arch</c> value the parser accepted names.</summary>
    public static SandboxArchitecture Parse(string name) =>
        TryParse(name, out SandboxArchitecture architecture)
            ? architecture
            : throw new ArgumentOutOfRangeException(nameof(name), name, $"--arch must be one of {string.Join(", ", All)}.");

    /// <summary>The table format an emulated architecture walks.</summary>
    public static PageTableFormat FormatOf(SandboxArchitecture architecture) => architecture switch
    {
        SandboxArchitecture.Arm64 => PageTableFormat.Arm64,
        SandboxArchitecture.RiscV64 => PageTableFormat.RiscV64,
        _ => PageTableFormat.X64,
    };
}
