using System.Diagnostics;

namespace FastReclaim.Cli.Demo;

/// <summary>
/// What the demo's reader threads did: lookups, wrong lookups, and the wall time they ran, from the first reader's
/// first lookup to the last reader's last one. The rate is honest whatever the scheduler did: a reader that never
/// got a core before the stop counts neither lookups nor time, and a reader that ran past the writer's last step
/// counts both its lookups and that time.
/// </summary>
internal readonly record struct ReaderTally(long Translations, long BadTranslations, int ReadersThatRan, double Seconds)
{
    /// <summary>Lookups per second of wall time over all readers together; 0 when no reader ran.</summary>
    public double TranslationsPerSecond => Seconds > 0 ? Translations / Seconds : 0;

    /// <summary>
    /// The tally of readers whose i-th one made <paramref name="translations"/>[i] lookups between the
    /// <see cref="Stopwatch"/> timestamps <paramref name="starts"/>[i] and <paramref name="ends"/>[i].
    /// </summary>
    public static ReaderTally Of(long[] translations, long[] bad, long[] starts, long[] ends)
    {
        long total = 0, wrong = 0, first = long.MaxValue, last = long.MinValue;
        int ran = 0;
        for (int i = 0; i < translations.Length; i++)
        {
            if (translations[i] == 0)
            {
                continue;
            }

            ran++;
            total += translations[i];
            wrong += bad[i];
            first = Math.Min(first, starts[i]);
            last = Math.Max(last, ends[i]);
        }

        return new ReaderTally(total, wrong, ran, ran == 0 ? 0 : Stopwatch.GetElapsedTime(first, last).TotalSeconds);
    }
}
