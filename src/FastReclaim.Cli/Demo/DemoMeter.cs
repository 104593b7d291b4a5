using System.Diagnostics.Metrics;

namespace FastReclaim.Cli;

/// <summary>Reads the library's <c>FastReclaim</c> meter in process, as any exporter would, to check it against Stats.</summary>
internal static class DemoMeter
{
    private const string MeterName = "FastReclaim";
    private const string PageTableBytes = "fastreclaim.page_tables.size";
    private const string PolicyTag = "policy";

    /// <summary>Sum over levels of the page-table bytes the meter reports for the live space of <paramref name="policy"/>; null when the meter reports none.</summary>
    public static long? ReadPageTableBytes(ReclaimPolicy policy)
    {
        string policyName = PolicyName(policy);
        long sum = 0;
        bool seen = false;
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == MeterName && instrument.Name == PageTableBytes)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                if (tag.Key == PolicyTag && Equals(tag.Value, policyName))
                {
                    sum += value;
                    seen = true;
                }
            }
        });
        listener.Start();
        listener.RecordObservableInstruments();
        return seen ? sum : null;
    }

    /// <summary>The policy as the CLI and the meter's <c>policy</c> tag spell it.</summary>
    public static string PolicyName(ReclaimPolicy policy) => policy.ToString().ToLowerInvariant();
}
