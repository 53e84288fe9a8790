//! The pipeline's vital signs over a window, judged the same way on every target: the series a source reports
//! (CloudWatch on AWS, the local stream's per-minute counters locally), the thresholds derived from the
//! deployment's settings, and the findings and verdict `health` prints and exits on.

pub(crate) mod render;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::seams::Place;
use crate::seams::vitals::{FailedSource, RATE_SHARE_OF_LIMIT, Series, Thresholds, Vitals, Window};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Verdict {
    Healthy,
    Degraded,
    Idle,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Finding {
    pub(crate) metric: String,
    pub(crate) value: Option<f64>,
    pub(crate) threshold: Option<f64>,
    pub(crate) message: String,
}

/// The numbers `--format json` carries, under the same keys on every target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Metrics {
    pub(crate) incoming_records: u64,
    pub(crate) incoming_bytes: u64,
    pub(crate) throttled_records: u64,
    pub(crate) failed_records: u64,
    pub(crate) freshness_seconds_max: Option<f64>,
    pub(crate) delivery_success: Option<f64>,
    pub(crate) lambda_errors: Option<u64>,
    pub(crate) lambda_throttles: Option<u64>,
    pub(crate) lambda_duration_p90_ms: Option<f64>,
    pub(crate) iot_rule_failures: Option<u64>,
    /// Where `failed_records` comes from: `counted`, `metric` or `series`.
    pub(crate) failed_records_source: FailedSource,
    /// When `iot_rule_failures` starts, if later than the window (Metrics Insights reaches back 14 days).
    pub(crate) iot_rule_failures_since: Option<DateTime<Utc>>,
}

/// A count CloudWatch (or the local counters) summed, as the whole number it is.
fn count(value: f64) -> u64 {
    value.round().max(0.0) as u64
}

/// `health`'s result.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Health {
    pub(crate) target: &'static str,
    pub(crate) stack: String,
    pub(crate) window_seconds: i64,
    pub(crate) period_seconds: u32,
    pub(crate) verdict: Verdict,
    pub(crate) findings: Vec<Finding>,
    pub(crate) metrics: Metrics,
    #[serde(skip)]
    pub(crate) vitals: Vitals,
    #[serde(skip)]
    pub(crate) thresholds: Thresholds,
    #[serde(skip)]
    pub(crate) window: Window,
}

/// Judges the vitals of the pipeline at `place`: a finding for each threshold crossed and each alarm firing
/// (the commands they suggest typed for that pipeline); `degraded` with any finding, `idle` when nothing arrived
/// and nothing waits, `healthy` otherwise.
pub(crate) fn assess_at(place: &Place, window: Window, vitals: Vitals, thresholds: Thresholds) -> Health {
    let v = &vitals;
    let metrics = Metrics {
        incoming_records: count(v.incoming_records.sum()),
        incoming_bytes: count(v.incoming_bytes.sum()),
        throttled_records: count(v.throttled_records.sum()),
        failed_records: count(v.failed_records_window.unwrap_or_else(|| v.failed_records.sum())),
        freshness_seconds_max: v.freshness_seconds.max(),
        delivery_success: v.delivery_success.min(),
        lambda_errors: v.lambda_errors.as_ref().map(|s| count(s.sum())),
        lambda_throttles: v.lambda_throttles.as_ref().map(|s| count(s.sum())),
        lambda_duration_p90_ms: v.lambda_duration_p90_ms_window,
        iot_rule_failures: v.iot_rule_failures.as_ref().map(|s| count(s.sum())),
        failed_records_source: v.failed_records_source,
        iot_rule_failures_since: v.iot_rule_failures_since,
    };
    let mut findings = Vec::new();
    let over = |findings: &mut Vec<Finding>, metric: &str, value: f64, threshold: f64, message: String| {
        findings.push(Finding { metric: metric.into(), value: Some(value), threshold: Some(threshold), message });
    };
    let m = &metrics;
    if m.throttled_records > 0 {
        over(
            &mut findings,
            "throttled_records",
            m.throttled_records as f64,
            0.0,
            format!(
                "{} records were throttled: the stream is at its quota; pack readings or ask AWS for a higher limit",
                m.throttled_records
            ),
        );
    }
    if m.failed_records > 0 {
        over(
            &mut findings,
            "failed_records",
            m.failed_records as f64,
            0.0,
            format!(
                "{} records failed processing and are in the error prefix: see `{}`, then `{}` once fixed",
                m.failed_records,
                place.command("logs", ""),
                place.command("reprocess", "")
            ),
        );
    }
    if let Some(age) = m.freshness_seconds_max.filter(|a| *a > thresholds.freshness_seconds) {
        over(
            &mut findings,
            "freshness_seconds_max",
            age,
            thresholds.freshness_seconds,
            format!(
                "the oldest undelivered record waited {age:.0} s, beyond the buffering intervals and margin: delivery is stalled; Firehose keeps data 24 hours"
            ),
        );
    }
    if let Some(share) = m.delivery_success.filter(|s| *s < 1.0) {
        over(
            &mut findings,
            "delivery_success",
            share,
            1.0,
            format!(
                "deliveries to the lake failed ({:.0}% succeeded in the worst period): check the bucket and the stream's role",
                share * 100.0
            ),
        );
    }
    if let Some(errors) = m.lambda_errors.filter(|e| *e > 0) {
        over(
            &mut findings,
            "lambda_errors",
            errors as f64,
            0.0,
            format!(
                "{errors} invocations of the transform failed: Firehose retried them, then wrote their records to the error prefix"
            ),
        );
    }
    if let Some(throttles) = m.lambda_throttles.filter(|t| *t > 0) {
        over(
            &mut findings,
            "lambda_throttles",
            throttles as f64,
            0.0,
            format!("{throttles} invocations were throttled: the account's Lambda concurrency is exhausted"),
        );
    }
    if let Some(p90) = m.lambda_duration_p90_ms.filter(|d| *d > thresholds.duration_p90_ms) {
        over(
            &mut findings,
            "lambda_duration_p90_ms",
            p90,
            thresholds.duration_p90_ms,
            format!("the transform's p90 duration {p90:.0} ms nears its timeout: raise the memory or the timeout"),
        );
    }
    if let Some(failures) = m.iot_rule_failures.filter(|f| *f > 0) {
        over(
            &mut findings,
            "iot_rule_failures",
            failures as f64,
            0.0,
            format!(
                "the IoT rule failed {failures} times to put messages into the stream: those messages are lost unless the error action kept them"
            ),
        );
    }
    let seconds = f64::from(window.period_seconds);
    for (metric, series, limit, noun) in [
        ("incoming_records", &v.incoming_records, v.records_per_second_limit, "records"),
        ("incoming_bytes", &v.incoming_bytes, v.bytes_per_second_limit, "bytes"),
    ] {
        let (Some(limit), Some(peak)) = (limit, series.max().map(|p| p / seconds)) else { continue };
        if peak >= limit * RATE_SHARE_OF_LIMIT {
            over(
                &mut findings,
                metric,
                peak,
                limit * RATE_SHARE_OF_LIMIT,
                format!(
                    "{peak:.0} {noun}/s at the peak, {:.0}% of the stream's limit of {limit:.0}/s",
                    100.0 * peak / limit
                ),
            );
        }
    }
    let waiting = m.freshness_seconds_max.is_some_and(|age| age > 0.0);
    if m.incoming_records == 0 && waiting && !findings.iter().any(|f| f.metric == "freshness_seconds_max") {
        let age = m.freshness_seconds_max.unwrap_or_default();
        over(
            &mut findings,
            "freshness_seconds_max",
            age,
            0.0,
            format!("nothing arrived, yet records wait undelivered ({age:.0} s old)"),
        );
    }
    for alarm in &v.alarms {
        findings.push(Finding {
            metric: format!("alarm:{}", alarm.name),
            value: None,
            threshold: None,
            message: format!("alarm {} is in ALARM: {}", alarm.name, alarm.reason),
        });
    }
    let verdict = if !findings.is_empty() {
        Verdict::Degraded
    } else if m.incoming_records == 0 && !waiting {
        Verdict::Idle
    } else {
        Verdict::Healthy
    };
    Health {
        target: if place.is_local() { "local" } else { "aws" },
        stack: place.stack.clone(),
        window_seconds: window.seconds(),
        period_seconds: window.period_seconds,
        verdict,
        findings,
        metrics,
        vitals,
        thresholds,
        window,
    }
}

#[cfg(test)]
mod tests;
