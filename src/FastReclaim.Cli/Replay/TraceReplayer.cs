using System.Globalization;

namespace FastReclaim.Cli.Replay;

/// <summary>
/// Replays a page-table trace (DESIGN.md, "Trace replay") on an <see cref="AddressSpace"/> the way
/// <c>kernel_replay.c</c> replays it on Linux, and prints <c>check N BYTES</c> with BYTES =
/// <see cref="PageTableStats.PageTableBytes"/> at every <c>check</c>, and <c>thp BYTES</c> (bytes mapped by 2 MiB
/// leaves, the kernel's AnonHugePages) at every <c>thp</c>.
/// </summary>
/// <remarks>
/// The replay keeps the trace's mappings as Linux VMAs (<see cref="VmaList"/>): a zap is applied one VMA at a time,
/// and an unmap frees tables with the floor and ceiling of the neighbouring VMAs, as free_pgtables does. In an
/// <c>hmap</c> VMA a touch maps a 2 MiB leaf where the kernel faults a transparent huge page, a zap, unmap or
/// protect that cuts through one splits it (AddressSpace does), and a collapse promotes the spans the kernel would
/// (docs/trace-format.md has the rules and the traces that show them).
/// A line the kernel would refuse (overlapping map, touch outside a mapping or of a read-only one, zap over a hole,
/// unaligned address, a collapse MADV_COLLAPSE fails) ends the replay with <see cref="TraceRefusedException"/>; a
/// malformed one with <see cref="TraceFormatException"/>.
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

    /// <summary>Bytes of a transparent huge page: one PMD entry, 2 MiB.</summary>
    private const ulong HugePageSize = 2UL << 20;

    /// <summary>Bytes one PUD entry maps: 1 GiB.</summary>
    private const ulong PudEntrySpan = 1UL << 30;

    /// <summary>Start of the last 512 GiB slot (one root entry with 4-level paging), where the oracle's stack lives.</summary>
    private const ulong StackSlot = UserEnd & ~((1UL << 39) - 1);
    private const ulong TouchDefaultCount = 1;
    private const ulong TouchDefaultStride = PageSize;

    /// <summary>What a touch maps: a private writable user page, as a write fault does.</summary>
    private const PageFlags TouchFlags = PageFlags.Present | PageFlags.Writable | PageFlags.User;

    /// <summary>What <c>protect OFF LEN 1</c> leaves a page: present, user, not writable.</summary>
    private const PageFlags ReadOnlyFlags = PageFlags.Present | PageFlags.User;

    /// <summary>PROT values of a <c>protect</c> line (PROT_READ, PROT_READ | PROT_WRITE).</summary>
    private const ulong ProtRead = 1, ProtReadWrite = 3;

    private readonly AddressSpace _space;
    private readonly TextWriter _output;
    private readonly VmaList _vmas = new();

    /// <summary>Starts of the 2 MiB spans mapped by one 2 MiB leaf (the kernel's PMD-mapped THPs).</summary>
    private readonly SortedSet<ulong> _hugePages = [];

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
    /// <exception cref="TraceFormatException">A line is malformed; nothing after it runs.</exception>
    /// <exception cref="TraceRefusedException">The kernel would refuse a line, or its tables would pass the allocator's bound; nothing after it runs.</exception>
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
                throw new TraceRefusedException(lineNumber, $"needs more page tables than the memory here holds ({e.Message})");
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
                Map(Range(words, lineNumber, allowEmpty: false), huge: false, lineNumber);
                break;
            case "hmap":
                RequireArguments(words, 2, 2, "hmap OFF LEN", lineNumber);
                Map(Range(words, lineNumber, allowEmpty: false), huge: true, lineNumber);
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
            case "protect":
                RequireArguments(words, 3, 3, "protect OFF LEN PROT", lineNumber);
                Protect(Range(words, lineNumber, allowEmpty: true), Prot(words[3], lineNumber), lineNumber);
                break;
            case "collapse":
                RequireArguments(words, 2, 2, "collapse OFF LEN", lineNumber);
                Collapse(Range(words, lineNumber, allowEmpty: true), lineNumber);
                break;
            case "check":
                RequireArguments(words, 0, 0, "check", lineNumber);
                _output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"check {_checks++} {_space.Stats.PageTableBytes - _ownBytes}"));
                break;
            case "thp":
                RequireArguments(words, 0, 0, "thp", lineNumber);
                _output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"thp {HugeLeaves(_space.Stats) * (long)HugePageSize}"));
                break;
            default:
                throw new TraceFormatException(lineNumber, $"unknown operation '{words[0]}' (expected map, hmap, touch, zap, unmap, protect, collapse, check or thp)");
        }
    }

    /// <summary>2 MiB leaves in <paramref name="stats"/>: the replay maps no 1 GiB leaf, so every leaf is 4 KiB or 2 MiB.</summary>
    private static long HugeLeaves(PageTableStats stats) =>
        (stats.MappedBytes - (stats.MappedPages * (long)PageSize)) / (long)(HugePageSize - PageSize);

    private void Map((ulong Start, ulong End) range, bool huge, int lineNumber)
    {
        if (!_vmas.Map(range.Start, range.End, huge))
        {
            throw new TraceRefusedException(lineNumber, $"map 0x{range.Start - Base:x}..0x{range.End - Base:x} overlaps an existing mapping (mmap: File exists)");
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
            VmaList.Vma vma = (address < UserEnd ? _vmas.Fault(page) : null)
                ?? throw new TraceRefusedException(lineNumber, $"touch of 0x{unchecked(address - Base):x} is outside every mapping");
            if (vma.ReadOnly)
            {
                throw new TraceRefusedException(lineNumber, $"touch of 0x{address - Base:x} writes a read-only mapping (the oracle dies of SIGSEGV)");
            }

            if (!_space.TryTranslate(page, out _, out _))
            {
                Fault(page, vma);
            }

            ulong steps = Math.Min(remaining, StepsOffPage(address, stride));
            address = unchecked(address + (steps * stride));
            remaining -= steps;
        }
    }

    /// <summary>
    /// A write fault at <paramref name="page"/>, not mapped yet. Linux faults a 2 MiB page (do_huge_pmd_anonymous_page)
    /// when the VMA is <c>hmap</c>, holds the whole 2 MiB span, and the span's PMD entry is empty; else a 4 KiB page,
    /// with a PTE table if the span has none. The 4 KiB page is mapped first: when that had to hook a PTE table, the PMD
    /// entry was empty, and the page and its table make way for the 2 MiB leaf.
    /// </summary>
    private void Fault(ulong page, VmaList.Vma vma)
    {
        ulong span = page & ~(HugePageSize - 1);
        long pteTables = _space.Stats.PteTables;
        _space.Map(page, page, PageSize, TouchFlags); // any frame will do; the identity one fits every user page
        if (vma.Huge && vma.Holds(span, span + HugePageSize) && _space.Stats.PteTables > pteTables)
        {
            _space.Unmap(page, PageSize, floor: span, ceiling: span + HugePageSize);
            _space.Map(span, span, HugePageSize, TouchFlags, LeafSize.Size2M);
            _hugePages.Add(span);
        }
    }

    /// <summary>
    /// Forgets the 2 MiB leaf whose span holds <paramref name="address"/> inside it (not at its start): the range
    /// operation that ends there splits it (split_huge_pmd; AddressSpace splits a leaf a Zap, Unmap or Protect covers
    /// part of).
    /// </summary>
    private void ForgetSplitAt(ulong address)
    {
        if ((address & (HugePageSize - 1)) != 0)
        {
            _hugePages.Remove(address & ~(HugePageSize - 1));
        }
    }

    /// <summary>Forgets the 2 MiB leaves a zap or unmap of [start, end) removes or splits: every one it meets.</summary>
    private void ForgetHugePages(ulong start, ulong end) =>
        _hugePages.RemoveWhere(span => span < end && span + HugePageSize > start);

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
            ?? throw new TraceRefusedException(lineNumber, $"zap 0x{range.Start - Base:x}..0x{range.End - Base:x} covers unmapped memory (madvise: Cannot allocate memory)");
        foreach ((ulong start, ulong end) in pieces)
        {
            _space.Zap(start, end - start);
            ForgetHugePages(start, end);
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
        ForgetHugePages(range.Start, range.End);
        foreach (VmaList.TableFreeRange call in _vmas.Unmap(range.Start, range.End))
        {
            (ulong floor, ulong ceiling) = call.Ceiling == UserEnd && call.End > StackSlot
                ? StackAsNeighbour(call)
                : (call.Floor, call.Ceiling);
            _space.Unmap(call.Start, call.End - call.Start, floor, ceiling);
        }
    }

    /// <summary>
    /// mprotect: the VMAs whose protection changes are split and merged (<see cref="VmaList.Protect"/>), a 2 MiB page
    /// a changed part begins or ends inside is split (a VMA boundary now cuts through it), and the pages of the changed
    /// parts take the new flags. A protection a VMA already has changes nothing, not even a huge page it cuts through.
    /// </summary>
    private void Protect((ulong Start, ulong End) range, bool readOnly, int lineNumber)
    {
        if (range.Start == range.End)
        {
            return; // mprotect with length 0 succeeds and does nothing
        }

        List<(ulong Start, ulong End)> changed = _vmas.Protect(range.Start, range.End, readOnly)
            ?? throw new TraceRefusedException(lineNumber, $"protect 0x{range.Start - Base:x}..0x{range.End - Base:x} covers unmapped memory (mprotect: Cannot allocate memory)");
        foreach ((ulong start, ulong end) in changed)
        {
            ForgetSplitAt(start);
            ForgetSplitAt(end);
            _space.Protect(start, end - start, readOnly ? ReadOnlyFlags : TouchFlags);
        }
    }

    /// <summary>
    /// MADV_COLLAPSE (mm/khugepaged.c, madvise_collapse), one VMA at a time: the VMA must be <c>hmap</c>, hold a
    /// whole 2 MiB span and have an anon_vma (thp_vma_allowable_order), and its part of the range must reach a 2 MiB boundary; then every whole 2 MiB span of that part
    /// becomes a 2 MiB page, holes filled, read-only pages too, if it has a PTE table (a span already huge counts as
    /// done). A span with no PTE table (nothing was ever mapped there, or its table was freed) fails the call, EINVAL;
    /// a hole in the range fails it with ENOMEM.
    /// </summary>
    private void Collapse((ulong Start, ulong End) range, int lineNumber)
    {
        if (range.Start == range.End)
        {
            return; // madvise with length 0 succeeds and does nothing
        }

        string what = $"collapse 0x{range.Start - Base:x}..0x{range.End - Base:x}";
        List<VmaList.Vma> vmas = _vmas.Covering(range.Start, range.End)
            ?? throw new TraceRefusedException(lineNumber, $"{what} covers unmapped memory (madvise collapse: Cannot allocate memory)");
        foreach (VmaList.Vma vma in vmas)
        {
            ulong lastSpan = (vma.End - HugePageSize) & ~(HugePageSize - 1);
            string? unfit = !vma.Huge ? "is not an hmap one" : lastSpan < vma.Start ? "holds no whole 2 MiB span"
                : vma.Anon == 0 ? "has no anon_vma (nothing in it was ever touched)" : null;
            if (unfit is not null)
            {
                throw new TraceRefusedException(lineNumber, $"{what}: the mapping at 0x{vma.Start - Base:x}..0x{vma.End - Base:x} {unfit} (madvise collapse: Invalid argument)");
            }

            ulong start = Math.Max(range.Start, vma.Start), end = Math.Min(range.End, vma.End);
            ulong first = (start + HugePageSize - 1) & ~(HugePageSize - 1), last = end & ~(HugePageSize - 1);
            if (first > last)
            {
                throw new TraceRefusedException(lineNumber, $"{what}: 0x{start - Base:x}..0x{end - Base:x} lies inside one 2 MiB span (madvise collapse: Invalid argument)");
            }

            for (ulong span = first; span < last; span += HugePageSize)
            {
                if (!_hugePages.Contains(span) && !Promote(span, vma.ReadOnly ? ReadOnlyFlags : TouchFlags))
                {
                    throw new TraceRefusedException(lineNumber, $"{what}: the span at 0x{span - Base:x} has no PTE table (madvise collapse: Invalid argument)");
                }
            }
        }
    }

    /// <summary>
    /// Makes the PTE-mapped 2 MiB span at <paramref name="span"/> a 2 MiB leaf, as collapse_huge_page does: its holes
    /// are filled with <paramref name="flags"/> (every page of a VMA has its flags, and every frame is the identity one,
    /// so the 512 pages are one aligned run) and <see cref="AddressSpace.Collapse"/> promotes it. False when the span
    /// has no PTE table (filling the first hole had to hook one): the kernel refuses the call, the replay ends.
    /// </summary>
    private bool Promote(ulong span, PageFlags flags)
    {
        const int PagesPerSpan = (int)(HugePageSize / PageSize);
        var pages = new ulong[PagesPerSpan];
        var frames = new ulong[PagesPerSpan];
        for (int i = 0; i < PagesPerSpan; i++)
        {
            pages[i] = span + ((ulong)i * PageSize);
        }

        _space.TranslateMany(pages, frames);
        long pteTables = _space.Stats.PteTables;
        for (int i = 0; i < PagesPerSpan; i++)
        {
            if (frames[i] == 0)
            {
                _space.Map(pages[i], pages[i], PageSize, flags);
            }
        }

        if (_space.Stats.PteTables != pteTables)
        {
            return false;
        }

        if (_space.Collapse(span, HugePageSize) != 1)
        {
            throw new InvalidOperationException($"AddressSpace.Collapse left the filled span at 0x{span:X} as it was.");
        }

        _hugePages.Add(span);
        return true;
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
            throw new TraceRefusedException(lineNumber, $"offset {words[1]} is not page-aligned");
        }

        ulong start = unchecked(Base + offset);
        if (length == 0)
        {
            return allowEmpty ? (start, start) : throw new TraceRefusedException(lineNumber, "length is 0");
        }

        if (start >= UserEnd || length > UserEnd - start)
        {
            throw new TraceRefusedException(lineNumber, $"range {words[1]} + {words[2]} leaves the user address space");
        }

        return (start, start + ((length + PageSize - 1) & ~(PageSize - 1)));
    }

    /// <summary>A <c>protect</c> line's PROT: true for 1 (read-only), false for 3 (read/write); any other value is malformed.</summary>
    private static bool Prot(string word, int lineNumber) => Number(word, lineNumber) switch
    {
        ProtRead => true,
        ProtReadWrite => false,
        _ => throw new TraceFormatException(lineNumber, $"PROT {word} is neither 1 (read-only) nor 3 (read/write)"),
    };

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
