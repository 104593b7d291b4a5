using FastReclaim.Paging;
using static FastReclaim.Paging.PageTableGeometry;

namespace FastReclaim;

// Formats: every operation's body is generic over an IPageTableFormat struct (X64Format, Arm64Format,
// Arm64Lpa2Format, RiscV64Format), so the JIT compiles it once per format with the entry encoding inlined. A public
// operation chooses the instantiation once, by a switch on _encoding; translation tests x86-64 first and leaves the
// other formats out of line, so an x86-64 lookup pays one predictable compare for the choice.
public sealed partial class AddressSpace
{
    /// <summary>The entry encodings the public operations dispatch on: the formats, with Arm64's 52-bit LPA2 layout apart.</summary>
    private enum EntryEncoding : byte
    {
        X64,
        Arm64,
        Arm64Lpa2,
        RiscV64,
    }

    /// <summary>The encoding of the options' format and levels; throws when the format does not allow the levels.</summary>
    private static EntryEncoding EncodingOf(AddressSpaceOptions options) => (options.Format, options.Levels) switch
    {
        (PageTableFormat.X64, FourLevels or FiveLevels) => EntryEncoding.X64,
        (PageTableFormat.Arm64, ThreeLevels or FourLevels) => EntryEncoding.Arm64,
        (PageTableFormat.Arm64, FiveLevels) => EntryEncoding.Arm64Lpa2,
        (PageTableFormat.RiscV64, ThreeLevels or FourLevels or FiveLevels) => EntryEncoding.RiscV64,
        (PageTableFormat.X64, _) => throw new ArgumentOutOfRangeException(
            nameof(options), options.Levels, $"Levels must be {FourLevels} or {FiveLevels} for the {options.Format} format, not {options.Levels}."),
        (PageTableFormat.Arm64 or PageTableFormat.RiscV64, _) => throw new ArgumentOutOfRangeException(
            nameof(options), options.Levels, $"Levels must be {ThreeLevels}, {FourLevels} or {FiveLevels} for the {options.Format} format, not {options.Levels}."),
        _ => throw new ArgumentOutOfRangeException(nameof(options), options.Format, $"Unknown page-table format {options.Format}."),
    };

    /// <summary>What the constructor keeps of format <typeparamref name="F"/> with <paramref name="levels"/> levels.</summary>
    private static (int AddressBits, bool SignExtended, ulong MaxPhysicalAddress) Shape<F>(int levels)
        where F : struct, IPageTableFormat
        => (F.AddressBits(levels), F.SignExtended, F.MaxPhysicalAddress);

    /// <summary>The table address a reader would follow <paramref name="entry"/> to, were it a table reference in <paramref name="encoding"/>.</summary>
    private static ulong TableAddressOf(EntryEncoding encoding, ulong entry) => encoding switch
    {
        EntryEncoding.X64 => X64Format.TableAddress(entry),
        EntryEncoding.Arm64 => Arm64Format.TableAddress(entry),
        EntryEncoding.Arm64Lpa2 => Arm64Lpa2Format.TableAddress(entry),
        _ => RiscV64Format.TableAddress(entry),
    };
}
