using System.Diagnostics.CodeAnalysis;

namespace FastReclaim;

/// <summary>
/// The one spelling of <see cref="ReclaimPolicy"/> values outside code: lowercase <c>none</c>, <c>linux</c>,
/// <c>eager</c>. The meter's <c>policy</c> tag, the events and every command-line option use it.
/// </summary>
public static class ReclaimPolicyNames
{
    /// <summary>The spelling of <see cref="ReclaimPolicy.None"/>.</summary>
    public const string None = "none";

    /// <summary>The spelling of <see cref="ReclaimPolicy.Linux"/>.</summary>
    public const string Linux = "linux";

    /// <summary>The spelling of <see cref="ReclaimPolicy.Eager"/>.</summary>
    public const string Eager = "eager";

    /// <summary>Every spelling, in the order of the enum's values: <c>none</c>, <c>linux</c>, <c>eager</c>.</summary>
    public static IReadOnlyList<string> All { get; } = [None, Linux, Eager];

    /// <summary>The spelling of <paramref name="policy"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="policy"/> is not a defined value.</exception>
    public static string Format(ReclaimPolicy policy) => policy switch
    {
        ReclaimPolicy.None => None,
        ReclaimPolicy.Linux => Linux,
        ReclaimPolicy.Eager => Eager,
        _ => throw new ArgumentOutOfRangeException(nameof(policy), policy, $"Unknown reclaim policy {(int)policy}."),
    };

    /// <summary>
    /// The policy spelled <paramref name="name"/>; only the exact lowercase spellings are accepted (no other
    /// case, no surrounding white space, no numbers).
    /// </summary>
    public static bool TryParse([NotNullWhen(true)] string? name, out ReclaimPolicy policy)
    {
        switch (name)
        {
            case None:
                policy = ReclaimPolicy.None;
                return true;
            case Linux:
                policy = ReclaimPolicy.Linux;
                return true;
            case Eager:
                policy = ReclaimPolicy.Eager;
                return true;
            default:
                policy = default;
                return false;
        }
    }

    /// <summary>The policy spelled <paramref name="name"/>, as <see cref="TryParse"/> reads it.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> is not one of <see cref="All"/>; the message names it.</exception>
    public static ReclaimPolicy Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return TryParse(name, out ReclaimPolicy policy)
            ? policy
            : throw new ArgumentException($"Unknown reclaim policy '{name}': expected {string.Join(", ", All)}.", nameof(name));
    }
}
