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

    /// <summary>
    /// End of the user address space, x86-64's <c>TASK_SIZE_MAX</c>: the 47-bit user half less its last page, which
    /// the kernel keeps unmapped. mmap, munmap and madvise refuse a range beyond it; a touch there is a SIGSEGV.
    /// </summary>
    private const ulong UserEnd = (1UL << 47) - PageSize;

    private const ulong PageSize = PageAllocator.PageSize;

    /// <summary>Bytes one PUD entry maps: 1 GiB.</summary>
    private const ulong PudEntrySpan = 1UL << 30;

    /// <summary>Start of the last 512 GiB slot (one root entry with 4-level paging), where the oracle's stack lives.</summary>
    private const ulong StackSlot = UserEnd & ~((1UL << 39) - 1);
    private const ulong TouchDefaultCount = 1;
    private const ulong TouchDefaultStride = PageSize;

    /// <summary>What a touch maps: a private writable user page, as a write fault does.</summary>
    private const PageFlags TouchFlags = PageFlags.Present | PageFlags.Writable | PageFlags.User;

    private readonly AddressSpace _space;
    private readonly TextWriter _output;
    private readonly VmaList _vmas = new();

    /// <summary>Page-table bytes that are the process's own, not the trace's: left out of every check, as VmPTE's delta.</summary>
    private readonly long _ownBytes;
    private int _checks;

    /// <remarks>
    /// The oracle process has mappings of its own. Only one of them is where a trace can meet it for sure: Linux puts
    /// the stack top at most 16 GiB below TASK_SIZE, so the stack is always in the last 512 GiB slot. The kernel thus
    /// holds that slot's PUD table before the trace starts (not counted in the VmPTE delta), and never frees it,
    /// because the stack is a neighbour VMA that bounds free_pgtables. The replay does the same with a stand-in for the
    /// stack at the last page (above <see cref="UserEnd"/>, where no trace line reaches): a foreign VMA, and only the
    /// PUD table of a page mapped there (its PTE and PMD tables are freed again, with a floor that keeps the PUD one).
    /// Where in the top 16 GiB the stack lies is random (<see cref="StackAsNeighbour"/>), and so are the libraries and
    /// the executable: a trace that meets them is not reproducible on the kernel either.
    /// </remarks>
    internal TraceReplayer(AddressSpace space, TextWriter output)
    {
        _space = space;
        _output = output;
        _vmas.AddForeign(UserEnd, UserEnd + PageSize);
        HoldStackSlot();
        _ownBytes = _space.Stats.PageTableBytes;
    }

    /// <summary>Replays every line of <paramref name="input"/>.</summary>
    /// <exception cref="TraceFormatException">A line is malformed or refused, or its tables would pass the allocator's bound; nothing after it runs.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="stop"/> fired (checked before every line and every page a touch writes).</exception>
    internal void Run(TextReader input, CancellationToken stop)
    {
        int lineNumber = 0;
        foreach (string line in Lines(input))
        {
            stop.ThrowIfCancellationRequested();
            lineNumber++;
            try
            {
                Execute(line, lineNumber, stop);
            }
            catch (OutOfMemoryException e)
            {
                throw new TraceFormatException(lineNumber, $"needs more page tables than the memory here holds ({e.Message})");
            }
        }
    }

    /// <summary>
    /// The lines of <paramref name="input"/> as the oracle's <c>fgets</c> reads them: only <c>\n</c> ends a line. A
    /// <c>\r</c> is white space inside the line (so a CRLF trace reads as its LF twin), never a line break of its own.
    /// </summary>
    private static IEnumerable<string> Lines(TextReader input)
    {
        const int BufferChars = 4096;
        var buffer = new char[BufferChars];
        var line = new System.Text.StringBuilder();
        int read;
        while ((read = input.Read(buffer, 0, buffer.Length)) > 0)
        {
            int start = 0;
            int end;
            while ((end = Array.IndexOf(buffer, '\n', start, read - start)) >= 0)
            {
                line.Append(buffer, start, end - start);
                yield return line.ToString();
                line.Clear();
                start = end + 1;
            }

            line.Append(buffer, start, read - start);
        }

        if (line.Length > 0)
        {
            yield return line.ToString();
        }
    }

    private void Execute(string line, int lineNumber, CancellationToken stop)
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
                    words.Length > 3 ? Number(words[3], lineNumber) : TouchDefaultStride, lineNumber, stop);
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
                _output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"check {_checks++} {_space.Stats.PageTableBytes - _ownBytes}"));
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

    /// <remarks>
    /// The oracle writes the COUNT addresses OFF + i * STRIDE (unsigned arithmetic, wrapping). They repeat with a
    /// period of 2^64 / 2^(trailing zero bits of STRIDE), 1 for a STRIDE of 0, and a write to a page already
    /// touched changes nothing. So only the first period is walked, and the writes that stay on the page just
    /// touched are stepped over at once: every page the oracle would touch is touched, in its order, and the first
    /// address outside every mapping is still the error (the oracle's SIGSEGV). A touch the oracle could not finish
    /// in a lifetime (COUNT 2^63 on one page) thus ends at once with the same tables.
    /// </remarks>
    private void Touch(ulong offset, ulong count, ulong stride, int lineNumber, CancellationToken stop)
    {
        ulong remaining = Math.Min(count, Period(stride));
        ulong address = unchecked(Base + offset);
        while (remaining > 0)
        {
            stop.ThrowIfCancellationRequested();
            ulong page = address & ~(PageSize - 1);
            if (address >= UserEnd || !_vmas.Fault(page))
            {
                throw new TraceFormatException(lineNumber, $"touch of 0x{unchecked(address - Base):x} is outside every mapping");
            }

            if (!_space.TryTranslate(page, out _, out _))
            {
                _space.Map(page, page, PageSize, TouchFlags); // any frame will do; the identity one fits every user page
            }

            ulong steps = Math.Min(remaining, StepsOffPage(address, stride));
            address = unchecked(address + (steps * stride));
            remaining -= steps;
        }
    }

    /// <summary>How many addresses OFF + i * STRIDE repeat after: 2^64 / 2^(trailing zeros of <paramref name="stride"/>), capped at <see cref="ulong.MaxValue"/>.</summary>
    private static ulong Period(ulong stride) =>
        stride == 0 ? 1 : ulong.TrailingZeroCount(stride) == 0 ? ulong.MaxValue : 1UL << (64 - (int)ulong.TrailingZeroCount(stride));

    /// <summary>Steps of <paramref name="stride"/> from <paramref name="address"/> until the first address on another page (1 for a stride of a page or more, either way).</summary>
    private static ulong StepsOffPage(ulong address, ulong stride)
    {
        ulong inPage = address & (PageSize - 1);
        long signedStride = unchecked((long)stride);
        if (signedStride > 0 && stride < PageSize)
        {
            return (PageSize - inPage + stride - 1) / stride; // the first i with inPage + i * stride >= PageSize
        }

        ulong down = unchecked(0 - stride);
        return signedStride < 0 && down < PageSize
            ? (inPage / down) + 1 // the first i with i * down > inPage
            : 1;
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

        if (_space.Policy == ReclaimPolicy.Eager && pieces[^1].End > StackSlot)
        {
            HoldStackSlot(); // Eager frees an upper table a zap leaves empty, the stand-in's among them: the stack is still there
        }
    }

    /// <summary>
    /// Makes sure the stack slot's PUD table exists: maps the stand-in page and unmaps it again with a floor inside the
    /// slot, which frees its PTE and PMD tables (when nothing else holds them) and keeps the PUD one.
    /// </summary>
    private void HoldStackSlot()
    {
        _space.Map(UserEnd, UserEnd, PageSize, TouchFlags);
        _space.Unmap(UserEnd, PageSize, floor: StackSlot + PageSize, ceiling: 0);
    }

    private void Unmap((ulong Start, ulong End) range)
    {
        foreach (VmaList.TableFreeRange call in _vmas.Unmap(range.Start, range.End))
        {
            (ulong floor, ulong ceiling) = call.Ceiling == UserEnd && call.End > StackSlot
                ? StackAsNeighbour(call)
                : (call.Floor, call.Ceiling);
            _space.Unmap(call.Start, call.End - call.Start, floor, ceiling);
        }
    }

    /// <summary>
    /// Floor and ceiling of an unmap in the stack's slot whose next VMA is the stack's stand-in. The real stack is somewhere in the top
    /// 16 GiB and, in most runs, not in the GiB the unmap ends in; it only keeps the slot's PUD table. So below the top
    /// GiB it is a ceiling at the next GiB boundary, and in the top GiB a floor below the range.
    /// </summary>
    private static (ulong Floor, ulong Ceiling) StackAsNeighbour(VmaList.TableFreeRange call)
    {
        ulong topGib = UserEnd & ~(PudEntrySpan - 1);
        return call.End <= topGib
            ? (call.Floor, (call.End + PudEntrySpan - 1) & ~(PudEntrySpan - 1))
            : (Math.Max(call.Floor, Math.Min(call.Start, StackSlot + PageSize)), 0);
    }

    /// <summary>
    /// OFF LEN as an absolute, page-aligned range; LEN is rounded up to pages as the kernel does. An empty range
    /// (<paramref name="allowEmpty"/>: madvise) is valid anywhere once its start is aligned.
    /// </summary>
    private static (ulong Start, ulong End) Range(string[] words, int lineNumber, bool allowEmpty)
    {
        ulong offset = Number(words[1], lineNumber);
        ulong length = Number(words[2], lineNumber);
        if ((offset & (PageSize - 1)) != 0)
        {
            throw new TraceFormatException(lineNumber, $"offset {words[1]} is not page-aligned");
        }

        ulong start = unchecked(Base + offset);
        if (length == 0)
        {
            return allowEmpty ? (start, start) : throw new TraceFormatException(lineNumber, "length is 0");
        }

        if (start >= UserEnd || length > UserEnd - start)
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

    /// <summary>
    /// A number as the oracle's <c>sscanf("%li")</c> reads it (C's strtol with base 0): an optional sign, then 0x hex,
    /// leading-0 octal, else decimal. A negative one is used as the unsigned long it converts to (-4096 is
    /// 2^64 - 4096, so a touch STRIDE of -4096 walks down). One beyond <see cref="long"/> is refused as an overflow:
    /// strtol would saturate it at LONG_MAX, which no trace means.
    /// </summary>
    private static ulong Number(string word, int lineNumber)
    {
        bool negative = word.StartsWith('-');
        string unsigned = negative || word.StartsWith('+') ? word[1..] : word;
        (string digits, int radix) = unsigned.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? (unsigned[2..], 16)
            : unsigned.Length > 1 && unsigned[0] == '0' ? (unsigned[1..], 8)
            : (unsigned, 10);
        if (digits.Length == 0)
        {
            throw new TraceFormatException(lineNumber, $"'{word}' is not a number");
        }

        ulong limit = negative ? 1UL << 63 : long.MaxValue;
        ulong magnitude = 0;
        bool overflow = false;
        foreach (char c in digits)
        {
            int digit = c is >= '0' and <= '9' ? c - '0' : c is >= 'a' and <= 'f' ? c - 'a' + 10 : c is >= 'A' and <= 'F' ? c - 'A' + 10 : radix;
            if (digit >= radix)
            {
                throw new TraceFormatException(lineNumber, $"'{word}' is not a number");
            }

            overflow |= magnitude > (limit - (ulong)digit) / (ulong)radix;
            magnitude = overflow ? limit : (magnitude * (ulong)radix) + (ulong)digit;
        }

        return overflow
            ? throw new TraceFormatException(lineNumber, $"'{word}' overflows a 64-bit signed number")
            : negative ? unchecked(0 - magnitude) : magnitude;
    }
}
