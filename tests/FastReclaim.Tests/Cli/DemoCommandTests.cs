using System.CommandLine;
using FastReclaim.Cli;

namespace FastReclaim.Tests.Cli;

public class DemoCommandTests
{
    [Theory]
    [InlineData("demo --gib 0", "--gib must be between 1 and 65536, got 0.")]
    [InlineData("demo --gib 65537", "--gib must be between 1 and 65536, got 65537.")]
    [InlineData("demo --seconds 0", "--seconds must be positive, got 0.")]
    [InlineData("demo --readers 0", "--readers must be at least 1, got 0.")]
    [InlineData("demo --policy linux --policy lazy", "Unknown policy 'lazy': expected linux, eager or none.")]
    public void Bad_Arguments_Are_Rejected_With_The_Value(string commandLine, string message)
    {
        var root = new RootCommand { DemoCommand.Create() };

        ParseResult parse = root.Parse(commandLine);

        Assert.Contains(message, parse.Errors.Select(e => e.Message));
    }

    [Fact]
    public void Defaults_Parse_Without_Errors()
    {
        var root = new RootCommand { DemoCommand.Create() };

        Assert.Empty(root.Parse("demo").Errors);
    }

    [Theory]
    [InlineData(0, "0 B")]
    [InlineData(4096, "4 KiB")]
    [InlineData(67244032, "64.13 MiB")]
    [InlineData(3L << 30, "3 GiB")]
    public void Byte_Sizes_Are_Shown_In_Binary_Units(long bytes, string expected) => Assert.Equal(expected, ByteSize.Format(bytes));
}
