
namespace FastReclaim.Tests.Paging;

public class PageFlagsTests
{
    [Theory]
    [InlineData(PageFlags.Present, 0)]
    [InlineData(PageFlags.Writable, 1)]
    [InlineData(PageFlags.User, 2)]
    [InlineData(PageFlags.WriteThrough, 3)]
    [InlineData(PageFlags.CacheDisable, 4)]
    [InlineData(PageFlags.Accessed, 5)]
    [InlineData(PageFlags.Dirty, 6)]
    [InlineData(PageFlags.Global, 8)]
    [InlineData(PageFlags.NoExecute, 63)]
    public void Flag_Is_The_Intel_SDM_Bit(PageFlags flag, int bit) => Assert.Equal(1UL << bit, (ulong)flag);
}
