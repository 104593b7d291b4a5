using System.Globalization;
using FastReclaim.Cli;
using FastReclaim.Cli.Replay;

namespace FastReclaim.Tests.Cli.Replay;

/// <summary>
/// The replay against the golden files in Traces/: each <c>NAME.expected</c> was printed by the real Linux 6.18
/// kernel (shared/kernel-oracle/kernel_replay.c, see tools/traces/make-golden.sh) for <c>NAME.trace</c>, and
/// <c>NAME.exit</c>, when there is one, holds the oracle's exit status (a call the kernel refused part-way).
/// </summary>
public sealed class ReplayCommandTests
{
    private static readonly string s_traceDirectory = Path.Combine(AppContext.BaseDirectory, "Traces");

    public static TheoryData<string> Traces()
    {
        var data = new TheoryData<string>();
        foreach (string path in Directory.EnumerateFiles(s_traceDirectory, "*.trace").Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileNameWithoutExtension(path));
        }

        return data;
    }

    [Fact]
    public void The_Corpus_Has_Golden_Files_For_Every_Trace()
    {
        string[] traces = [.. Directory.EnumerateFiles(s_traceDirectory, "*.trace")];
        Assert.True(traces.Length >= 30, $"only {traces.Length} traces in {s_traceDirectory}");
        Assert.All(traces, t => Assert.True(File.Exists(Path.ChangeExtension(t, ".expected")), t));
    }

    [Theory]
    [MemberData(nameof(Traces))]
    public void Linux_Policy_Prints_What_The_Kernel_Printed_Byte_For_Byte(string trace)
    {
        string exitFile = Path.Combine(s_traceDirectory, trace + ".exit");
        int kernelExit = File.Exists(exitFile) ? int.Parse(File.ReadAllText(exitFile), CultureInfo.InvariantCulture) : 0;
        (int exit, string output, string error) = Invoke("replay", "--policy", "linux", TracePath(trace));
        Assert.Equal(kernelExit, exit);
        if (kernelExit == 0)
        {
            Assert.Equal("", error);
        }
        else
        {
            Assert.Matches(@"^\S+: line \d+: .+\n$", error.ReplaceLineEndings("\n")); // one line naming the refused line
        }

        Assert.Equal(File.ReadAllText(Path.Combine(s_traceDirectory, trace + ".expected")), output);
    }

    public static TheoryData<string, string> TracesInOtherFormats()
    {
        var data = new TheoryData<string, string>();
        foreach (string trace in Traces())
        {
            data.Add(trace, "arm64");
            data.Add(trace, "riscv64");
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(TracesInOtherFormats))]
    public void Every_Format_Prints_What_The_Kernel_Printed(string trace, string format)
    {
        // The formats share the table geometry, so the same operations hold the same tables: the same VmPTE.
        string exitFile = Path.Combine(s_traceDirectory, trace + ".exit");
        int kernelExit = File.Exists(exitFile) ? int.Parse(File.ReadAllText(exitFile), CultureInfo.InvariantCulture) : 0;
        (int exit, string output, _) = Invoke("replay", "--policy", "linux", "--format", format, TracePath(trace));
        Assert.Equal(kernelExit, exit);
        Assert.Equal(File.ReadAllText(Path.Combine(s_traceDirectory, trace + ".expected")), output);
    }

    [Fact]
    public void An_Unknown_Format_Exits_2_Naming_It()
    {
        (int exit, string output, string error) = Invoke("replay", "--format", "mips", TracePath(Traces().First().Data));
        Assert.Equal(2, exit);
        Assert.Equal("", output);
        Assert.Contains("'mips'", error, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Traces))]
    public void Eager_Policy_Never_Holds_More_Page_Table_Bytes_Than_Linux(string trace)
    {
        // A collapse Linux grants may be refused under eager, which has freed the span's emptied PTE table: the checks
        // are compared as far as both replays got.
        (string linuxOutput, bool linuxRefused) = ReplayUntilRefused(File.ReadAllText(TracePath(trace)), ReclaimPolicy.Linux);
        (string eagerOutput, bool eagerRefused) = ReplayUntilRefused(File.ReadAllText(TracePath(trace)), ReclaimPolicy.Eager);
        long[] linux = Checks(linuxOutput), eager = Checks(eagerOutput);
        if (!linuxRefused && !eagerRefused)
        {
            Assert.Equal(linux.Length, eager.Length);
        }

        for (int i = 0; i < Math.Min(linux.Length, eager.Length); i++)
        {
            Assert.True(eager[i] <= linux[i], $"check {i}: eager {eager[i]} > linux {linux[i]}");
            Assert.True(eager[i] >= 0, $"check {i}: eager {eager[i]} < 0 (a table the process holds was freed)");
        }
    }

    [Theory]
    [MemberData(nameof(Traces))]
    public void None_Policy_Never_Frees_On_Zap(string trace)
    {
        // A check before and after every zap: under none, no zap may lower the page-table bytes.
        var text = new StringWriter();
        foreach (string line in File.ReadLines(TracePath(trace)))
        {
            bool zap = line.StartsWith("zap", StringComparison.Ordinal);
            text.WriteLine(zap ? $"check\n{line}\ncheck" : line.StartsWith("check", StringComparison.Ordinal) ? "" : line);
        }

        long[] checks = Checks(ReplayUntilRefused(text.ToString(), ReclaimPolicy.None).Output);
        for (int i = 0; i + 1 < checks.Length; i += 2)
        {
            Assert.True(checks[i + 1] >= checks[i], $"zap #{i / 2} freed tables: {checks[i]} -> {checks[i + 1]}");
        }
    }

    [Theory]
    [InlineData(2, "map 0x0 0x1000\nfrobnicate 1\n", 2, "unknown operation")]
    [InlineData(2, "# comment\n\nmap 0x0\n", 3, "map OFF LEN")]
    [InlineData(1, "map 0x0 0x1000\ntouch 0x1000\n", 2, "outside every mapping")]
    [InlineData(1, "map 0x0 0x10000\ntouch 0x0 17 0x1000\n", 2, "outside every mapping")]
    [InlineData(1, "map 0x0 0x2000\nmap 0x1000 0x1000\n", 2, "overlaps")]
    [InlineData(1, "map 0x0 0x1000\nzap 0x0 0x2000\n", 2, "unmapped")]
    [InlineData(1, "map 0x0 0x1000\nunmap 0x800 0x1000\n", 2, "page-aligned")]
    [InlineData(2, "map 0x0 0xzz\n", 1, "'0xzz' is not a number")]
    [InlineData(2, "check extra\n", 1, "expected 'check'")]
    [InlineData(1, "map 0x0 0x800000000000\n", 1, "leaves the user address space")]
    [InlineData(1, "map 0x6ffffffff000 0x1000\n", 1, "leaves the user address space")] // TASK_SIZE: 2^47 less a page
    [InlineData(2, "map 0x0 99999999999999999999999\n", 1, "'99999999999999999999999' overflows a 64-bit signed number")]
    [InlineData(2, "map 0x10000000000000000 0x1000\n", 1, "'0x10000000000000000' overflows a 64-bit signed number")]
    [InlineData(2, "map 0x0 0x1000\ntouch -0x8000000000000001\n", 2, "overflows")]
    [InlineData(2, "check\rcheck\n", 1, "expected 'check'")] // a lone CR is white space, not a line break (fgets)
    [InlineData(1, "map 0x0 0x2000\ntouch 0x0 9223372036854775807 1\n", 2, "touch of 0x2000 is outside every mapping")]
    [InlineData(1, "map 0x0 0x2000\ntouch 0x1fff 9223372036854775807 -1\n", 2, "touch of 0xffffffffffffffff is outside every mapping")]
    [InlineData(2, "hmap 0x0\n", 1, "expected 'hmap OFF LEN'")]
    [InlineData(2, "hmap 0x0 0x200000\nprotect 0x0 0x1000\n", 2, "expected 'protect OFF LEN PROT'")]
    [InlineData(2, "hmap 0x0 0x200000\nprotect 0x0 0x1000 2\n", 2, "PROT 2 is neither 1 (read-only) nor 3 (read/write)")]
    [InlineData(2, "hmap 0x0 0x200000\nprotect 0x0 0x1000 0x\n", 2, "'0x' is not a number")]
    [InlineData(2, "hmap 0x0 0x200000\ncollapse 0x0\n", 2, "expected 'collapse OFF LEN'")]
    [InlineData(2, "hmap 0x0 0x200000\ncollapse 0x0 0x200000 0x1\n", 2, "expected 'collapse OFF LEN'")]
    [InlineData(2, "thp 1\n", 1, "expected 'thp'")]
    [InlineData(1, "hmap 0x0 0x200000\nhmap 0x100000 0x200000\n", 2, "overlaps")]
    [InlineData(1, "hmap 0x0 0x200000\nprotect 0x800 0x1000 1\n", 2, "page-aligned")]
    [InlineData(1, "hmap 0x0 0x200000\nprotect 0x0 0x1000 1\ntouch 0x0\n", 3, "touch of 0x0 writes a read-only mapping")]
    [InlineData(1, "hmap 0x0 0x200000\ntouch 0x0\ncollapse 0x1000 0x1000\n", 3, "lies inside one 2 MiB span (madvise collapse: Invalid argument)")]
    public void Bad_Line_Exits_2_And_Refused_Line_Exits_1_With_A_Message_Naming_The_Line(int expectedExit, string trace, int line, string message)
    {
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, trace);
            (int exit, _, string error) = Invoke("replay", path);
            Assert.Equal(expectedExit, exit);
            Assert.Contains($"line {line}:", error, StringComparison.Ordinal);
            Assert.Contains(message, error, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Unknown_Policy_Is_Rejected_By_The_Parser()
    {
        (int exit, _, string error) = Invoke("replay", "--policy", "lazy", TracePath("example"));
        Assert.Equal(2, exit);
        Assert.Contains("'lazy'", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Crlf_Trace_Reads_As_Its_Lf_Twin()
    {
        Assert.Equal("check 0 12288\n", Replay("map 0x0 0x1000\r\ntouch 0x0\r\ncheck\r\n", ReclaimPolicy.Linux).ReplaceLineEndings("\n"));
    }

    [Fact]
    public async Task Touch_Of_One_Page_2_To_The_63_Times_Ends_With_The_Tables_Of_One_Touch()
    {
        // Stride 0: the oracle writes one page 2^63 - 1 times; one write and 2^63 - 2 that change nothing.
        Task<string> replay = Task.Run(() => Replay("map 0x0 0x1000\ntouch 0 9223372036854775807 0\ncheck\n", ReclaimPolicy.Linux));

        Assert.Equal("check 0 12288\n", (await replay.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken)).ReplaceLineEndings("\n"));
    }

    [Theory]
    [InlineData("touch 0x0 4 0x800", "touch 0x0 2")]                    // half-page stride: each page twice
    [InlineData("touch 0x1800 4 -0x800", "touch 0x0 2")]                // downwards
    [InlineData("touch 0x0 9223372036854775807 -0x8000000000000000", "")] // period 2: the second address is far outside
    [InlineData("touch 0x3000 3 -0x1000", "touch 0x1000 3")]
    public void Touch_Steps_Over_Repeated_Pages_Exactly_As_The_Oracle_Touches_Them(string touch, string same)
    {
        string Trace(string line) => $"map 0x0 0x200000\n{line}\ncheck\n";
        if (same.Length == 0)
        {
            Assert.Throws<TraceRefusedException>(() => Replay(Trace(touch), ReclaimPolicy.Linux));
            return;
        }

        Assert.Equal(Replay(Trace(same), ReclaimPolicy.Linux), Replay(Trace(touch), ReclaimPolicy.Linux));
    }

    [Fact]
    public void Numbers_Are_Read_Like_Strtol_Base_0_And_Hash_Starts_A_Comment()
    {
        // 0x hex, leading-0 octal (010000 = 0x1000), decimal; touch's COUNT may come without STRIDE; # starts a comment.
        string output = Replay("map 0x0 2097152 # 2 MiB\ntouch 010000 2\n  # indented comment\ntouch 8192\ncheck\n", ReclaimPolicy.Linux);
        Assert.Equal("check 0 12288\n", output.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void Zap_Is_Applied_One_Vma_At_A_Time_So_A_Vma_Boundary_Inside_A_Table_Keeps_It()
    {
        // Two mappings touched before they became adjacent cannot merge (different anon_vma): the kernel zaps
        // each separately and neither zap covers the table's span (golden: vma-boundary.expected).
        var vmas = new VmaList();
        Assert.True(vmas.Map(0, 0x10_0000));
        Assert.NotNull(vmas.Fault(0));
        Assert.True(vmas.Map(0x18_0000, 0x20_0000));
        Assert.NotNull(vmas.Fault(0x18_0000));
        Assert.True(vmas.Map(0x10_0000, 0x18_0000));
        Assert.Equal([(0UL, 0x18_0000UL), (0x18_0000UL, 0x20_0000UL)], vmas.Vmas.Select(v => (v.Start, v.End)));
        Assert.Equal([(0UL, 0x18_0000UL), (0x18_0000UL, 0x20_0000UL)], vmas.Pieces(0, 0x20_0000)!);
    }

    [Fact]
    public void Protect_Splits_The_Vmas_It_Changes_And_Merges_Them_Back_Like_Mprotect()
    {
        // golden: thp-protect-vmas.expected (the kernel's VmPTE and AnonHugePages show these VMA boundaries).
        var vmas = new VmaList();
        Assert.True(vmas.Map(0, 0x40_0000, huge: true));
        Assert.Equal([(0x10_0000UL, 0x20_0000UL)], vmas.Protect(0x10_0000, 0x20_0000, readOnly: true)!);
        Assert.Equal(3, vmas.Vmas.Count);
        Assert.Empty(vmas.Protect(0x10_0000, 0x18_0000, readOnly: true)!); // already read-only: nothing changes
        Assert.NotNull(vmas.Fault(0));                    // its own anon_vma: the read-only neighbour has none
        Assert.NotNull(vmas.Fault(0x20_0000));            // another one
        vmas.Protect(0x10_0000, 0x20_0000, readOnly: false);
        Assert.Equal([(0UL, 0x20_0000UL), (0x20_0000UL, 0x40_0000UL)], vmas.Vmas.Select(v => (v.Start, v.End)));
        Assert.Null(vmas.Protect(0x30_0000, 0x50_0000, readOnly: true)); // a hole: ENOMEM, nothing changed
        Assert.Equal(2, vmas.Vmas.Count);

        // A VMA touched next to one that differs only in protection takes its anon_vma, so they merge later.
        var reuse = new VmaList();
        Assert.True(reuse.Map(0, 0x10_0000));
        int anon = reuse.Fault(0)!.Value.Anon;
        reuse.Protect(0, 0x10_0000, readOnly: true);
        Assert.True(reuse.Map(0x10_0000, 0x20_0000));
        Assert.Equal(anon, reuse.Fault(0x10_0000)!.Value.Anon);
        reuse.Protect(0, 0x10_0000, readOnly: false);
        Assert.Equal([(0UL, 0x20_0000UL)], reuse.Vmas.Select(v => (v.Start, v.End)));

        // map (VM_NOHUGEPAGE) and hmap (VM_HUGEPAGE) never merge.
        var kinds = new VmaList();
        Assert.True(kinds.Map(0, 0x20_0000, huge: true));
        Assert.True(kinds.Map(0x20_0000, 0x40_0000));
        Assert.Equal(2, kinds.Vmas.Count);
    }

    [Fact]
    public void Unmap_Frees_Tables_In_Batches_Like_Free_Pgtables()
    {
        var vmas = new VmaList();
        Assert.True(vmas.Map(0x100_0000, 0x110_0000));
        Assert.True(vmas.Map(0x130_0000, 0x140_0000));   // 2 MiB gap: gathered with the first
        Assert.True(vmas.Map(0x200_0000, 0x210_0000));   // far: its own call
        Assert.True(vmas.Map(0x300_0000, 0x310_0000));   // kept, the ceiling
        Assert.True(vmas.Map(0x0, 0x1000));              // kept, the floor
        List<VmaList.TableFreeRange> calls = vmas.Unmap(0x80_0000, 0x280_0000);
        Assert.Equal(
            [new(0x100_0000, 0x140_0000, 0x1000, 0x200_0000), new(0x200_0000, 0x210_0000, 0x1000, 0x300_0000)],
            calls);
        Assert.Equal([(0UL, 0x1000UL), (0x300_0000UL, 0x310_0000UL)], vmas.Vmas.Select(v => (v.Start, v.End)));
    }

    private static string TracePath(string trace) => Path.Combine(s_traceDirectory, trace + ".trace");

    private static string Replay(string trace, ReclaimPolicy policy)
    {
        var output = new StringWriter(CultureInfo.InvariantCulture);
        ReplayCommand.Run(new StringReader(trace), output, policy, CancellationToken.None);
        return output.ToString();
    }

    /// <summary>The output of a replay, up to the line the kernel would refuse, and whether there was one.</summary>
    private static (string Output, bool Refused) ReplayUntilRefused(string trace, ReclaimPolicy policy)
    {
        var output = new StringWriter(CultureInfo.InvariantCulture);
        try
        {
            ReplayCommand.Run(new StringReader(trace), output, policy, CancellationToken.None);
            return (output.ToString(), false);
        }
        catch (TraceRefusedException)
        {
            return (output.ToString(), true);
        }
    }

    private static long[] Checks(string output) =>
        [.. output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("check ", StringComparison.Ordinal))
            .Select(l => long.Parse(l.Split(' ')[2], CultureInfo.InvariantCulture))];

    private static (int Exit, string Output, string Error) Invoke(params string[] args)
    {
        var output = new StringWriter(CultureInfo.InvariantCulture);
        var error = new StringWriter(CultureInfo.InvariantCulture);
        int exit = Program.InvokeAsync(args, output, error, CancellationToken.None).GetAwaiter().GetResult();
        return (exit, output.ToString(), error.ToString());
    }
}
