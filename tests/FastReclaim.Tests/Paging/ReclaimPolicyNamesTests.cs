
namespace FastReclaim.Tests.Paging;

public sealed class ReclaimPolicyNamesTests
{
    [Theory]
    [InlineData(ReclaimPolicy.None, "none")]
    [InlineData(ReclaimPolicy.Linux, "linux")]
    [InlineData(ReclaimPolicy.Eager, "eager")]
    public void Format_And_Parse_Use_The_Lowercase_Spelling(ReclaimPolicy policy, string name)
    {
        Assert.Equal(name, ReclaimPolicyNames.Format(policy));
        Assert.Equal(policy, ReclaimPolicyNames.Parse(name));
        Assert.True(ReclaimPolicyNames.TryParse(name, out ReclaimPolicy parsed));
        Assert.Equal(policy, parsed);
    }

    [Fact]
    public void All_Lists_Every_Policy_In_Enum_Order() =>
        Assert.Equal(["none", "linux", "eager"], ReclaimPolicyNames.All);

    [Fact]
    public void Every_Defined_Policy_Has_A_Name_That_Parses_Back()
    {
        foreach (ReclaimPolicy policy in Enum.GetValues<ReclaimPolicy>())
        {
            Assert.Equal(policy, ReclaimPolicyNames.Parse(ReclaimPolicyNames.Format(policy)));
        }

        Assert.Equal(Enum.GetValues<ReclaimPolicy>().Length, ReclaimPolicyNames.All.Count);
    }

    [Theory]
    [InlineData("Linux")]
    [InlineData("EAGER")]
    [InlineData(" none")]
    [InlineData("linux ")]
    [InlineData("1")]
    [InlineData("")]
    [InlineData("kernel")]
    public void Other_Spellings_Are_Rejected_With_The_Value_Named(string name)
    {
        Assert.False(ReclaimPolicyNames.TryParse(name, out ReclaimPolicy policy));
        Assert.Equal(default, policy);
        ArgumentException e = Assert.Throws<ArgumentException>(() => ReclaimPolicyNames.Parse(name));
        Assert.Contains($"'{name}'", e.Message, StringComparison.Ordinal);
        Assert.Contains("none, linux, eager", e.Message, StringComparison.Ordinal);
        Assert.Equal("name", e.ParamName);
    }

    [Fact]
    public void Null_Is_Rejected()
    {
        Assert.False(ReclaimPolicyNames.TryParse(null, out _));
        Assert.Throws<ArgumentNullException>(() => ReclaimPolicyNames.Parse(null!));
    }

    [Fact]
    public void Unknown_Policy_Value_Is_Rejected_With_Its_Value() =>
        Assert.Contains("99", Assert.Throws<ArgumentOutOfRangeException>(() => ReclaimPolicyNames.Format((ReclaimPolicy)99)).Message, StringComparison.Ordinal);
}
