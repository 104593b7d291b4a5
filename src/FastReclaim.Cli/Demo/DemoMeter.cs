using System.Diagnostics.Metrics;

namespace FastReclaim.Cli.Demo;

/// <summary>Reads the library's meter in process, as any exporter would, to check it against Stats.</summary>
internal static class DemoMeter
{
    /// <summary>Sum over levels of the page-table bytes the meter reports for the live space of <paramref name="policy"/>; null when the meter reports none.</summary>
    public static long? ReadPageTableBytes(ReclaimPolicy policy)
    {
        string policyName = ReclaimPolicyNames.Format(policy);
        long sum = 0;
        bool seen = false;
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == FastReclaimDiagnostics.MeterName && instrument.Name == FastReclaimDiagnostics.Instruments.PageTableSize)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                if (tag.Key == FastReclaimDiagnostics.Tags.Policy && Equals(tag.Value, policyName))
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
}
