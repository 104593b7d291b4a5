using System.CommandLine;
using System.Diagnostics;
using FastReclaim.Cli;
using FastReclaim.Cli.Demo;

namespace FastReclaim.Tests.Cli.Demo;

public class DemoCommandTests
{
    [Theory]
    [InlineData("demo --gib 0", "--gib must be a whole number from 1 to 65536, got '0'.")]
    [InlineData("demo --seconds 0", "--seconds must be a number of seconds above 0 and at most 86400, got '0'.")]
    [InlineData("demo --readers 0", "--readers must be a whole number from 1 to 1024, got '0'.")]
    [InlineData("demo --policy linux --policy lazy", "--policy must be one of none, linux, eager, got 'lazy'.")]
    [InlineData("demo --policy Eager", "--policy must be one of none, linux, eager, got 'Eager'.")]
    public void Bad_Arguments_Are_Rejected_With_The_Value(string commandLine, string message)
    {
        ParseResult parse = Program.CreateRoot().Parse(commandLine);

        Assert.Equal(message, Assert.Single(parse.Errors).Message);
    }

    [Theory]
    [InlineData("demo")]
    [InlineData("demo --policy none --policy linux eager --seconds 0.5 --gib 65536 --readers 1024")]
    public void Good_Arguments_Parse_Without_Errors(string commandLine) => Assert.Empty(Program.CreateRoot().Parse(commandLine).Errors);

    [Fact]
    public void Lookups_Per_Second_Count_Only_Readers_That_Ran_Over_Their_Own_Wall_Time()
    {
        long second = Stopwatch.Frequency;
        // Reader 0 ran from 1 s to 3 s, reader 1 never ran before the stop, reader 2 ran from 2 s to 5 s
        // (scheduled late, finished after the writer): 4 s of wall time from the first lookup to the last.
        ReaderTally tally = ReaderTally.Of(
            translations: [2_000, 0, 6_000],
            bad: [1, 0, 2],
            starts: [1 * second, 0, 2 * second],
            ends: [3 * second, 0, 5 * second]);

        Assert.Equal(new ReaderTally(8_000, 3, 2, 4.0), tally);
        Assert.Equal(2_000, tally.TranslationsPerSecond);
    }

    [Fact]
    public void No_Reader_That_Ran_Means_No_Rate() =>
        Assert.Equal(0, ReaderTally.Of([0, 0], [0, 0], [5, 6], [7, 8]).TranslationsPerSecond);

    [Theory]
    [InlineData(1, (512 + 1 + 1 + 1) * 4096L)]
    [InlineData(65536, ((65536L * 512) + 65536 + 128 + 1) * 4096)]
    public void Table_Bytes_Count_Every_Level_Of_The_Built_Space(int gib, long bytes) => Assert.Equal(bytes, DemoRun.TableBytes(gib));
}
