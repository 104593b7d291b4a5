using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace FastReclaim.Cli.Common;

/// <summary>
/// Values that the parser itself reads and checks, so that a bad one is a parse error naming the option and the
/// value (<see cref="Program"/>: one line, exit 2) before a command starts, never an exception inside it.
/// </summary>
internal static class OptionValues
{
    /// <summary>
    /// The longest duration an option takes: a day. Every timer and every time sum the commands make of a duration
    /// stays far inside <see cref="TimeSpan"/> and <see cref="Task.Delay(TimeSpan)"/> with it; a longer run is a typo.
    /// </summary>
    public const double MaxSeconds = 24 * 60 * 60;

    /// <summary>The option takes a decimal whole number from <paramref name="min"/> to <paramref name="max"/>.</summary>
    public static Option<int> AcceptRange(this Option<int> option, int min, int max)
    {
        option.CustomParser = result => WholeNumber(result, option.Name, min, max);
        return option;
    }

    /// <summary>The argument takes a decimal whole number from <paramref name="min"/> to <paramref name="max"/>.</summary>
    public static Argument<int> AcceptRange(this Argument<int> argument, int min, int max)
    {
        argument.CustomParser = result => WholeNumber(result, argument.Name, min, max);
        return argument;
    }

    /// <summary>The option takes a number of seconds above 0 and at most <see cref="MaxSeconds"/> (fractions and exponents allowed).</summary>
    public static Option<double> AcceptSeconds(this Option<double> option)
    {
        option.CustomParser = result =>
        {
            string token = result.Tokens[^1].Value;
            if (double.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds) && seconds is > 0 and <= MaxSeconds)
            {
                return seconds;
            }

            result.AddError($"{option.Name} must be a number of seconds above 0 and at most {MaxSeconds.ToString(CultureInfo.InvariantCulture)}, got '{token}'.");
            return default;
        };
        return option;
    }

    /// <summary>
    /// The option takes policy names as <see cref="ReclaimPolicyNames"/> spells them (lowercase); help and
    /// completion offer exactly those. Read the value with <see cref="ReclaimPolicyNames.Parse"/>.
    /// </summary>
    public static Option<T> AcceptPolicyNames<T>(this Option<T> option) =>
        option.AcceptTokens([.. ReclaimPolicyNames.All], token => ReclaimPolicyNames.TryParse(token, out _));

    /// <summary>The option takes one of <paramref name="names"/> (exactly as spelled); help and completion offer them.</summary>
    public static Option<string> AcceptNames(this Option<string> option, params string[] names) =>
        option.AcceptTokens(names, token => names.Contains(token, StringComparer.Ordinal));

    private static Option<T> AcceptTokens<T>(this Option<T> option, string[] names, Func<string, bool> isValid)
    {
        option.HelpName = string.Join('|', names);
        option.CompletionSources.Add(names);
        option.Validators.Add(result =>
        {
            foreach (Token token in result.Tokens)
            {
                if (!isValid(token.Value))
                {
                    result.AddError($"{option.Name} must be one of {string.Join(", ", names)}, got '{token.Value}'.");
                }
            }
        });
        return option;
    }

    private static int WholeNumber(ArgumentResult result, string name, int min, int max)
    {
        string token = result.Tokens[^1].Value;
        if (int.TryParse(token, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int value) && value >= min && value <= max)
        {
            return value;
        }

        result.AddError($"{name} must be a whole number from {min} to {max}, got '{token}'.");
        return default;
    }
}
