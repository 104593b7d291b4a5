using System.Runtime.CompilerServices;

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

        if (!IsCanonical(va))
        {
            throw new ArgumentException($"Address 0x{va:X} is not canonical for {_addressBits}-bit addresses.", vaName);
        }

        if (!IsCanonical(last) || (long)(va ^ last) < 0)
        {
            throw new ArgumentOutOfRangeException(lengthName, length, $"Range 0x{va:X} + 0x{length:X} leaves the canonical half of 0x{va:X} ({_addressBits}-bit addresses).");
        }

        return last;
    }
}
