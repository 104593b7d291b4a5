using System.Runtime.CompilerServices;
using FastReclaim.Paging;
using static FastReclaim.Paging.PageTableGeometry;

namespace FastReclaim;

// Argument checks: every public operation validates everything before it changes anything.
public sealed unsafe partial class AddressSpace
{
    /// <summary>Checks a range and returns its last byte.</summary>
    private ulong CheckRange(ulong va, ulong length, ulong alignment, [CallerArgumentExpression(nameof(va))] string vaName = "", [CallerArgumentExpression(nameof(length))] string lengthName = "")
    {
        if (length == 0)
        {
            throw new ArgumentOutOfRangeException(lengthName, length, "Length must not be 0.");
        }

        if ((va & (alignment - 1)) != 0)
        {
            throw new ArgumentException($"Address 0x{va:X} is not aligned to 0x{alignment:X} bytes.", vaName);
        }

        if ((length & (alignment - 1)) != 0)
        {
            throw new ArgumentException($"Length 0x{length:X} is not a multiple of 0x{alignment:X} bytes.", lengthName);
        }

        ulong last = va + length - 1;
        if (last < va)
        {
            throw new ArgumentOutOfRangeException(lengthName, length, $"Range 0x{va:X} + 0x{length:X} overflows the address space.");
        }

        if (!IsValidAddress(va))
        {
            throw new ArgumentException(_signExtended
                ? $"Address 0x{va:X} is not canonical for {_addressBits}-bit addresses."
                : $"Address 0x{va:X} is not below 0x{1UL << _addressBits:X} ({_addressBits}-bit {_format} addresses).", vaName);
        }

        if (!IsValidAddress(last) || (long)(va ^ last) < 0)
        {
            throw new ArgumentOutOfRangeException(lengthName, length, _signExtended
                ? $"Range 0x{va:X} + 0x{length:X} leaves the canonical half of 0x{va:X} ({_addressBits}-bit addresses)."
                : $"Range 0x{va:X} + 0x{length:X} ends beyond 0x{1UL << _addressBits:X} ({_addressBits}-bit {_format} addresses).");
        }

        return last;
    }

    /// <summary>Checks that <paramref name="flags"/> are page flags that format <typeparamref name="F"/> can encode.</summary>
    private static void CheckFlags<F>(PageFlags flags)
        where F : struct, IPageTableFormat
    {
        if (((ulong)flags & ~LeafFlagMask) != 0)
        {
            throw new ArgumentException($"Flags 0x{(ulong)flags:X} contain bits that are not page flags (0x{(ulong)flags & ~LeafFlagMask:X}).", nameof(flags));
        }

        if (F.Unencodable(flags) is string reason)
        {
            throw new ArgumentException($"Flags {flags}: {reason}", nameof(flags));
        }
    }
}
