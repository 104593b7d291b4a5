using FastReclaim.Cli.Common;

namespace FastReclaim.Tests.Cli.Common;

public class ByteSizeTests
{
    [Theory]
    [InlineData(0, "0 B")]
    [InlineData(4096, "4 KiB")]
    [InlineData(67244032, "64.13 MiB")]
    [InlineData(3L << 30, "3 GiB")]
    public void Byte_Sizes_Are_Shown_In_Binary_Units(long bytes, string expected) => Assert.Equal(expected, ByteSize.Format(bytes));
}
