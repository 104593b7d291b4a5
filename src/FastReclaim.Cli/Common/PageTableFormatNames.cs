namespace FastReclaim.Cli.Common;

/// <summary>The CLI's names of the <see cref="PageTableFormat"/>s (<c>replay --format</c>).</summary>
internal static class PageTableFormatNames
{
    public const string X64 = "x64";
    public const string Arm64 = "arm64";
    public const string RiscV64 = "riscv64";

    /// <summary>Every name, in the order of <see cref="PageTableFormat"/>'s values.</summary>
    public static readonly string[] All = [X64, Arm64, RiscV64];

    /// <summary>The format a name the option parser accepted names.</summary>
    public static PageTableFormat Parse(string name) => name switch
    {
        X64 => PageTableFormat.X64,
        Arm64 => PageTableFormat.Arm64,
        RiscV64 => PageTableFormat.RiscV64,
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, $"--format must be one of {string.Join(", ", All)}."),
    };
}
