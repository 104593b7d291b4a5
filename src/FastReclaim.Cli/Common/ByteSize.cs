using System.Globalization;

namespace FastReclaim.Cli.Common;

/// <summary>Byte counts for people, in binary units (KiB, MiB, ...).</summary>
internal static class ByteSize
{
    private static readonly string[] s_units = ["B", "KiB", "MiB", "GiB", "TiB"];
    private const double Step = 1024;

    public static string Format(long bytes)
    {
        double value = bytes;
        int unit = 0;
        while (Math.Abs(value) >= Step && unit < s_units.Length - 1)
        {
            value /= Step;
            unit++;
        }

        return unit == 0
            ? $"{bytes.ToString(CultureInfo.InvariantCulture)} B"
            : $"{value.ToString("0.##", CultureInfo.InvariantCulture)} {s_units[unit]}";
    }
}
