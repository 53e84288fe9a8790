//! `health` for people: one row per series (its number over the window, the threshold it is judged against,
//! a sparkline of its periods), the findings, and one verdict line.

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use super::{FailedSource, Health, Series, Verdict};

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// One character per period, scaled from zero to the series' maximum; `·` where a period had no datapoint.
pub(crate) fn sparkline(series: &Series) -> String {
    let top = series.max().unwrap_or(0.0).max(0.0);
    series
        .0
        .iter()
        .map(|v| match v {
            None => '·',
            Some(_) if top == 0.0 => BARS[0],
            Some(v) => BARS[((v.max(0.0) / top) * 7.0).round().clamp(0.0, 7.0) as usize],
        })
        .collect()
}

fn number(value: Option<f64>, unit: &str) -> String {
    match value {
        None => "-".to_owned(),
        Some(v) if unit == "%" => format!("{:.1}%", v * 100.0),
        Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => format!("{}{unit}", v as i64),
        Some(v) => format!("{v:.1}{unit}"),
    }
}

/// The table, the findings and the verdict, as lines.
pub(crate) fn table(h: &Health) -> String {
    let v = &h.vitals;
    let m = &h.metrics;
    let t = &h.thresholds;
    let na = "not applicable";
    let rows: Vec<(&str, String, String, Option<&Series>)> = vec![
        (
            "incoming records",
            m.incoming_records.to_string(),
            limit(v.records_per_second_limit, "records"),
            Some(&v.incoming_records),
        ),
        (
            "incoming bytes",
            format!("{} B", m.incoming_bytes),
            limit(v.bytes_per_second_limit, "B"),
            Some(&v.incoming_bytes),
        ),
        ("throttled records", m.throttled_records.to_string(), "0".into(), Some(&v.throttled_records)),
        (
            match m.failed_records_source {
                FailedSource::Counted => "failed records",
                FailedSource::Metric => "failed records (FailedRecords metric)",
                FailedSource::Series => "failed records (incoming − succeeded, settled periods)",
            },
            m.failed_records.to_string(),
            "0".into(),
            Some(&v.failed_records),
        ),
        (
            "oldest undelivered (max)",
            number(m.freshness_seconds_max, " s"),
            format!("{} s", t.freshness_seconds),
            Some(&v.freshness_seconds),
        ),
        ("delivery success (min)", number(m.delivery_success, "%"), "100%".into(), Some(&v.delivery_success)),
        ("lambda errors", m.lambda_errors.map_or(na.into(), |e| e.to_string()), "0".into(), v.lambda_errors.as_ref()),
        (
            "lambda throttles",
            m.lambda_throttles.map_or(na.into(), |e| e.to_string()),
            "0".into(),
            v.lambda_throttles.as_ref(),
        ),
        (
            "lambda duration p90",
            number(m.lambda_duration_p90_ms, " ms"),
            format!("{:.0} ms", t.duration_p90_ms),
            v.lambda_duration_p90_ms.as_ref(),
        ),
        (
            if m.iot_rule_failures_since.is_some() { "iot rule failures (last 14 days)" } else { "iot rule failures" },
            m.iot_rule_failures.map_or(na.into(), |e| e.to_string()),
            "0".into(),
            v.iot_rule_failures.as_ref(),
        ),
    ];
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
    let period = humantime::format_duration(std::time::Duration::from_secs(u64::from(h.period_seconds)));
    table.set_header(["series", "over the window", "threshold", &format!("per {period}")]);
    for (name, value, threshold, series) in rows {
        table.add_row([name.to_owned(), value, threshold, series.map(sparkline).unwrap_or_default()]);
    }
    let mut out = format!(
        "{} pipeline {} — {} to {}\n{table}\n",
        h.target,
        h.stack,
        h.window.start.format("%Y-%m-%d %H:%M UTC"),
        h.window.end.format("%Y-%m-%d %H:%M UTC"),
    );
    if let Some(since) = m.iot_rule_failures_since {
        out.push_str(&format!(
            "  note: IoT rule failures cover {} on only: Metrics Insights reaches back 14 days\n",
            since.format("%Y-%m-%d %H:%M UTC")
        ));
    }
    for f in &h.findings {
        out.push_str(&format!("  ! {}: {}\n", f.metric, f.message));
    }
    out.push_str(match h.verdict {
        Verdict::Healthy => "verdict: healthy",
        Verdict::Idle => "verdict: idle (nothing arrived, nothing waits)",
        Verdict::Degraded => "verdict: DEGRADED",
    });
    out
}

fn limit(per_second: Option<f64>, noun: &str) -> String {
    per_second.map_or("-".into(), |l| format!("{:.0} {noun}/s peak", l * super::RATE_SHARE_OF_LIMIT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_scales_to_the_maximum_and_marks_gaps() {
        let s = Series(vec![Some(0.0), Some(4.0), None, Some(8.0), Some(2.0)]);
        assert_eq!(sparkline(&s), "▁▅·█▃");
        assert_eq!(sparkline(&Series(vec![Some(0.0), None])), "▁·");
    }

    #[test]
    fn numbers_keep_their_units() {
        assert_eq!(number(Some(12.0), " B"), "12 B");
        assert_eq!(number(Some(0.995), "%"), "99.5%");
        assert_eq!(number(None, " s"), "-");
        assert_eq!(number(Some(2.25), " ms"), "2.2 ms");
    }
}
