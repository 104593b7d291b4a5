using System.Globalization;

namespace FastReclaim.Cli.Replay;

/// <summary>
/// Replays a page-table trace (DESIGN.md, "Trace replay") on an <see cref="AddressSpace"/> the way
/// <c>kernel_replay.c</c> replays it on Linux, and prints <c>check N BYTES</c> with BYTES =
/// <see cref="PageTableStats.PageTableBytes"/> at every <c>check</c>.
/// </summary>
/// <remarks>
/// The replay keeps the trace's mappings as Linux VMAs (<see cref="VmaList"/>): a zap is applied one VMA at a time,
/// and an unmap frees tables with the floor and ceiling of the neighbouring VMAs, as free_pgtables does.
/// A line the kernel would refuse (overlapping map, touch outside a mapping, zap over a hole, unaligned address)
/// is an error, like a malformed one.
/// </remarks>
internal sealed class TraceReplayer
{
    /// <summary>Where offsets start: 16 TiB, a 512 GiB-aligned slot that nothing else uses (kernel_replay.c's base).</summary>
    internal const ulong Base = 0x1000_0000_0000;

    /// <summary>End of the 47-bit user half of a 4-level address space.</summary>
    private const ulong UserEnd = 1UL << 47;

    private const ulong PageSize = PageAllocator.PageSize;
    private const ulong TouchDefaultCount = 1;
    private const ulong TouchDefaultStride = PageSize;

    /// <summary>What a touch maps: a private writable user page, as a write fault does.</summary>
    private const PageFlags TouchFlags = PageFlags.Present | PageFlags.Writable | PageFlags.User;

    private readonly AddressSpace _space;
    private readonly TextWriter _output;
    private readonly VmaList _vmas = new();
    private int _checks;

    internal TraceReplayer(AddressSpace space, TextWriter output)
    {
        _space = space;
        _output = output;
    }

    /// <summary>Replays every line of <paramref name="input"/>.</summary>
    /// <exception cref="TraceFormatException">A line is malformed or refused; nothing after it runs.</exception>
    internal void Run(TextReader input)
    {
        int lineNumber = 0;
        while (input.ReadLine() is { } line)
        {
            lineNumber++;
            Execute(line, lineNumber);
        }
    }

    private void Execute(string line, int lineNumber)
    {
        int comment = line.IndexOf('#', StringComparison.Ordinal);
        string[] words = (comment < 0 ? line : line[..comment]).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (words.Length == 0)
        {
            return;
        }

        switch (words[0])
        {
            case "map":
                RequireArguments(words, 2, 2, "map OFF LEN", lineNumber);
                Map(Range(words, lineNumber, allowEmpty: false), lineNumber);
                break;
            case "touch":
                RequireArguments(words, 1, 3, "touch OFF [COUNT STRIDE]", lineNumber);
                Touch(Number(words[1], lineNumber),
                    words.Length > 2 ? Number(words[2], lineNumber) : TouchDefaultCount,
                    words.Length > 3 ? Number(words[3], lineNumber) : TouchDefaultStride, lineNumber);
                break;
            case "zap":
                RequireArguments(words, 2, 2, "zap OFF LEN", lineNumber);
                Zap(Range(words, lineNumber, allowEmpty: true), lineNumber);
                break;
            case "unmap":
                RequireArguments(words, 2, 2, "unmap OFF LEN", lineNumber);
                Unmap(Range(words, lineNumber, allowEmpty: false));
                break;
            case "check":
                RequireArguments(words, 0, 0, "check", lineNumber);
                _output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"check {_checks++} {_space.Stats.PageTableBytes}"));
                break;
            default:
                throw new TraceFormatException(lineNumber, $"unknown operation '{words[0]}' (expected map, touch, zap, unmap or check)");
        }
    }

    private void Map((ulong Start, ulong End) range, int lineNumber)
    {
        if (!_vmas.Map(range.Start, range.End))
        {
            throw new TraceFormatException(lineNumber, $"map 0x{range.Start - Base:x}..0x{range.End - Base:x} overlaps an existing mapping");
        }
    }

    private void Touch(ulong offset, ulong count, ulong stride, int lineNumber)
    {
        for (ulong i = 0; i < count; i++)
        {
            ulong address = checked(Base + offset + (i * stride));
            ulong page = address & ~(PageSize - 1);
            if (address >= UserEnd || !_vmas.Fault(page))
            {
                throw new TraceFormatException(lineNumber, $"touch of 0x{address - Base:x} is outside every mapping");
            }

            if (!_space.TryTranslate(page, out _, out _))
            {
                _space.Map(page, page - Base, PageSize, TouchFlags);
            }
        }
    }

    private void Zap((ulong Start, ulong End) range, int lineNumber)
    {
        if (range.Start == range.End)
        {
            return; // madvise with length 0 succeeds and does nothing
        }

        List<(ulong Start, ulong End)> pieces = _vmas.Pieces(range.Start, range.End)
            ?? throw new TraceFormatException(lineNumber, $"zap 0x{range.Start - Base:x}..0x{range.End - Base:x} covers unmapped memory");
        foreach ((ulong start, ulong end) in pieces)
        {
            _space.Zap(start, end - start);
        }
    }

    private void Unmap((ulong Start, ulong End) range)
    {
        foreach (VmaList.TableFreeRange call in _vmas.Unmap(range.Start, range.End))
        {
            _space.Unmap(call.Start, call.End - call.Start, call.Floor, call.Ceiling);
        }
    }

    /// <summary>OFF LEN as an absolute, page-aligned range; LEN is rounded up to pages as the kernel does.</summary>
    private static (ulong Start, ulong End) Range(string[] words, int lineNumber, bool allowEmpty)
    {
        ulong offset = Number(words[1], lineNumber);
        ulong length = Number(words[2], lineNumber);
        if ((offset & (PageSize - 1)) != 0)
        {
            throw new TraceFormatException(lineNumber, $"offset {words[1]} is not page-aligned");
        }

        if (length == 0 && !allowEmpty)
        {
            throw new TraceFormatException(lineNumber, "length is 0");
        }

        ulong start = Base + offset;
        if (offset >= UserEnd - Base || length > UserEnd - start)
        {
            throw new TraceFormatException(lineNumber, $"range {words[1]} + {words[2]} leaves the user address space");
        }

        return (start, start + ((length + PageSize - 1) & ~(PageSize - 1)));
    }

    private static void RequireArguments(string[] words, int min, int max, string usage, int lineNumber)
    {
        if (words.Length - 1 < min || words.Length - 1 > max)
        {
            throw new TraceFormatException(lineNumber, $"expected '{usage}'");
        }
    }

    /// <summary>A number as C's strtol with base 0 reads it: 0x hex, leading-0 octal, else decimal.</summary>
    private static ulong Number(string word, int lineNumber)
    {
        (string digits, int radix) = word.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? (word[2..], 16)
            : word.Length > 1 && word[0] == '0' ? (word[1..], 8)
            : (word, 10);
        ulong value = 0;
        foreach (char c in digits)
        {
            int digit = c is >= '0' and <= '9' ? c - '0' : c is >= 'a' and <= 'f' ? c - 'a' + 10 : c is >= 'A' and <= 'F' ? c - 'A' + 10 : radix;
            if (digit >= radix || value > (ulong.MaxValue - (ulong)digit) / (ulong)radix)
            {
                throw new TraceFormatException(lineNumber, $"'{word}' is not a number");
            }

            value = (value * (ulong)radix) + (ulong)digit;
        }

        if (digits.Length == 0)
        {
            throw new TraceFormatException(lineNumber, $"'{word}' is not a number");
        }

        return value;
    }
}
