using System.CommandLine;
using System.CommandLine.Help;
using System.Globalization;
using FastReclaim.Cli;

namespace FastReclaim.Tests.Cli.Common;

/// <summary>Every value a command's help offers (its default, or each choice its help name lists) is one its parser takes.</summary>
public sealed class HelpOptionTests
{
    public static TheoryData<string, string, string> OfferedValues()
    {
        var data = new TheoryData<string, string, string>();
        foreach ((string command, string option, string value) in Offered())
        {
            data.Add(command, option, value);
        }

        return data;
    }

    [Fact]
    public void Every_Option_Of_Every_Command_Offers_A_Value()
    {
        HashSet<string> offered = [.. Offered().Select(o => $"{o.Command} {o.Option}")];

        Assert.All(
            Program.CreateRoot().Subcommands.SelectMany(c => c.Options.Where(o => o is not HelpOption).Select(o => $"{c.Name} {o.Name}")),
            option => Assert.Contains(option, offered));
    }

    [Theory]
    [MemberData(nameof(OfferedValues))]
    public void Offered_Value_Parses(string command, string option, string value)
    {
        string[] arguments = value.Length == 0 ? [command, option] : [command, option, value];
        if (command == "monitor")
        {
            arguments = [.. arguments, "1"]; // the required pid
        }

        Assert.Empty(Program.CreateRoot().Parse(arguments).Errors);
    }

    private static IEnumerable<(string Command, string Option, string Value)> Offered()
    {
        foreach (Command command in Program.CreateRoot().Subcommands)
        {
            foreach (Option option in command.Options.Where(o => o is not HelpOption))
            {
                if (option.ValueType == typeof(bool))
                {
                    yield return (command.Name, option.Name, "");
                }
                else if (option.HelpName?.Contains('|', StringComparison.Ordinal) == true)
                {
                    foreach (string choice in option.HelpName.Split('|'))
                    {
                        yield return (command.Name, option.Name, choice);
                    }
                }
                else if (option.HasDefaultValue)
                {
                    yield return (command.Name, option.Name, Convert.ToString(option.GetDefaultValue(), CultureInfo.InvariantCulture)!);
                }
            }
        }
    }
}
