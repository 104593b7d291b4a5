namespace FastReclaim.Cli.Monitor;

/// <summary>Kind of instrument a published series comes from, as MetricsEventSource reports it.</summary>
internal enum MetricKind
{
    Gauge,
    Counter,
    Histogram,
}

/// <summary>
/// The latest published value of one time series (an instrument and one set of tag values).
/// <see cref="Value"/> is the gauge value, the running total of a counter,
/// or the count of a histogram in the last interval; <see cref="RatePerSecond"/> is a counter's increase per
/// second over the last interval; <see cref="Quantiles"/> are a histogram's p50, p95, p99.
/// </summary>
internal sealed record MetricSeries(
    string Instrument, string Tags, string Unit, MetricKind Kind, double Value, double? RatePerSecond, string Quantiles)
{
    /// <summary>One line of <c>monitor --plain</c>: <c>INSTRUMENT{TAGS} VALUE [UNIT] [rate=R/s] [QUANTILES]</c>.</summary>
    public string ToPlainLine()
    {
        var line = new System.Text.StringBuilder();
        line.Append(Instrument).Append('{').Append(Tags).Append("} ")
            .Append(Value.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
        if (Unit.Length > 0)
        {
            line.Append(' ').Append(Unit);
        }

        if (RatePerSecond is double rate)
        {
            line.Append(" rate=").Append(rate.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture)).Append("/s");
        }

        if (Quantiles.Length > 0)
        {
            line.Append(' ').Append(Quantiles);
        }

        return line.ToString();
    }
}
