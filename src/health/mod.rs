//! The pipeline's vital signs over a window, judged the same way on every target: the series a source reports
//! (CloudWatch on AWS, the local stream's per-minute counters locally), the thresholds derived from the
//! deployment's settings, and the findings and verdict `health` prints and exits on.

pub mod render;

use chrono::{DateTime, Duration, DurationRound as _, Utc};
use serde::Serialize;

use crate::settings::PipelineSettings;

/// How long after the buffering intervals the oldest undelivered record may wait before it is a finding (and
/// the freshness alarm fires): Firehose's own retries and a slow S3 write fit in it, a stalled delivery does not.
pub const FRESHNESS_MARGIN_SECONDS: u32 = 300;
/// The share of the function's timeout its p90 duration may reach.
pub const DURATION_SHARE_OF_TIMEOUT: f64 = 0.8;
/// The share of a per-second limit the peak incoming rate may reach.
pub const RATE_SHARE_OF_LIMIT: f64 = 0.8;

/// CloudWatch keeps 1-minute data 15 days, 5-minute data 63 days, hourly data 455 days.
const RETENTION: [(i64, u32); 3] = [(15, 60), (63, 300), (455, 3600)];
/// Periods a window is cut into at most (one sparkline character each).
const MAX_POINTS: i64 = 60;
/// The periods a window may use, shortest first.
const PERIODS: [u32; 11] = [60, 300, 900, 1800, 3600, 10_800, 21_600, 43_200, 86_400, 259_200, 604_800];

/// A span of time cut into equal periods, aligned to the period (as CloudWatch aligns its datapoints).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub period_seconds: u32,
}

impl Window {
    /// The window from `since` to `now`: the period grows with the window (at most 60 points) and with its
    /// age (CloudWatch's retention of each resolution). Errors name the value when it is in the future or
    /// older than CloudWatch keeps anything.
    pub fn since(since: DateTime<Utc>, now: DateTime<Utc>) -> anyhow::Result<Window> {
        let span = (now - since).num_seconds();
        if span < 60 {
            return Err(crate::invalid!("--since must be at least a minute ago (it is {span} s ago)"));
        }
        let age_days = span / 86_400;
        let Some(&(_, floor)) = RETENTION.iter().find(|(days, _)| age_days < *days) else {
            return Err(crate::invalid!("--since is {age_days} days ago: CloudWatch keeps metrics 455 days"));
        };
        let period = PERIODS
            .into_iter()
            .find(|p| *p >= floor && (span as u64).div_ceil(u64::from(*p)) <= MAX_POINTS as u64)
            .unwrap_or(604_800);
        let step = Duration::seconds(i64::from(period));
        let end = now.duration_trunc(Duration::seconds(60)).unwrap_or(now) + Duration::seconds(60);
        let start = since.duration_trunc(step).unwrap_or(since);
        Ok(Window { start, end, period_seconds: period })
    }

    pub fn seconds(&self) -> i64 {
        (self.end - self.start).num_seconds()
    }

    /// How many periods the window holds (the last may be partial).
    pub fn points(&self) -> usize {
        (self.seconds().max(0) as u64).div_ceil(u64::from(self.period_seconds)).max(1) as usize
    }

    /// The period a time falls in, if it is inside the window.
    pub fn index(&self, t: DateTime<Utc>) -> Option<usize> {
        (t >= self.start && t < self.end)
            .then(|| ((t - self.start).num_seconds() / i64::from(self.period_seconds)) as usize)
    }
}

/// One value per period; `None` where the period had no datapoint.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series(pub Vec<Option<f64>>);

impl Series {
    pub fn empty(window: &Window) -> Series {
        Series(vec![None; window.points()])
    }

    /// Puts `value` into the period of `t`, combining with what is there (sum or max).
    pub fn add(&mut self, window: &Window, t: DateTime<Utc>, value: f64, combine: fn(f64, f64) -> f64) {
        if let Some(slot) = window.index(t).and_then(|i| self.0.get_mut(i)) {
            *slot = Some(slot.map_or(value, |old| combine(old, value)));
        }
    }

    pub fn sum(&self) -> f64 {
        self.0.iter().flatten().sum()
    }

    pub fn max(&self) -> Option<f64> {
        self.0.iter().flatten().copied().reduce(f64::max)
    }

    pub fn min(&self) -> Option<f64> {
        self.0.iter().flatten().copied().reduce(f64::min)
    }

    pub fn mean(&self) -> Option<f64> {
        let values: Vec<f64> = self.0.iter().flatten().copied().collect();
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    }
}

/// An alarm of the stack in the ALARM state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FiringAlarm {
    pub name: String,
    pub reason: String,
}

/// What a target reports over a window. A series that does not apply to the target is `None`.
#[derive(Debug, Clone, Default)]
pub struct Vitals {
    /// Records (Firehose records, one or many readings each) and bytes received, per period.
    pub incoming_records: Series,
    pub incoming_bytes: Series,
    pub throttled_records: Series,
    /// Records the transform refused, per period, and over the window when it is not their sum; where the count
    /// comes from.
    pub failed_records: Series,
    pub failed_records_window: Option<f64>,
    pub failed_records_source: FailedSource,
    /// Age in seconds of the oldest record not yet delivered (maximum per period).
    pub freshness_seconds: Series,
    /// Share of deliveries to the lake that succeeded (mean per period, 0-1).
    pub delivery_success: Series,
    pub lambda_errors: Option<Series>,
    pub lambda_throttles: Option<Series>,
    /// The function's p90 duration per period, and over the whole window.
    pub lambda_duration_p90_ms: Option<Series>,
    pub lambda_duration_p90_ms_window: Option<f64>,
    /// The IoT rule's action and error-action failures (`None` where there is no rule), and where they start
    /// when that is after the window's start (CloudWatch's Metrics Insights reaches back two weeks).
    pub iot_rule_failures: Option<Series>,
    pub iot_rule_failures_since: Option<DateTime<Utc>>,
    /// The stream's per-second limits (`None` where nothing limits it, as locally).
    pub records_per_second_limit: Option<f64>,
    pub bytes_per_second_limit: Option<f64>,
    pub alarms: Vec<FiringAlarm>,
}

/// Where the count of failed records comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FailedSource {
    /// The stream counts them itself (the local target): exact.
    #[default]
    Counted,
    /// The function's `FailedRecords` metric (the alarms' metric filter on its summary line): exact, refused
    /// records only (a failed invocation is `lambda_errors`).
    Metric,
    /// Firehose's incoming minus succeeded records over the settled periods (alarms off, so no metric filter):
    /// the periods that may still hold buffered records are left out, so it lags by up to the processor's
    /// interval plus a minute, and a burst of records straddling a period edge can move it by that many.
    Series,
}

/// What a source of vitals needs to know of the deployment to judge them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub freshness_seconds: f64,
    pub duration_p90_ms: f64,
}

impl Thresholds {
    pub fn of(settings: &PipelineSettings) -> Thresholds {
        Thresholds {
            freshness_seconds: f64::from(freshness_threshold_seconds(settings)),
            duration_p90_ms: f64::from(settings.lambda.timeout_seconds) * 1000.0 * DURATION_SHARE_OF_TIMEOUT,
        }
    }
}

/// The data freshness a healthy stream stays under: both buffering intervals plus the margin (the alarm's
/// threshold too).
pub fn freshness_threshold_seconds(settings: &PipelineSettings) -> u32 {
    settings.buffering.interval_seconds + settings.processor.interval_seconds + FRESHNESS_MARGIN_SECONDS
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Healthy,
    Degraded,
    Idle,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub metric: String,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub message: String,
}

/// The numbers `--output json` carries, under the same keys on every target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    pub incoming_records: u64,
    pub incoming_bytes: u64,
    pub throttled_records: u64,
    pub failed_records: u64,
    pub freshness_seconds_max: Option<f64>,
    pub delivery_success: Option<f64>,
    pub lambda_errors: Option<u64>,
    pub lambda_throttles: Option<u64>,
    pub lambda_duration_p90_ms: Option<f64>,
    pub iot_rule_failures: Option<u64>,
    /// Where `failed_records` comes from: `counted`, `metric` or `series`.
    pub failed_records_source: FailedSource,
    /// When `iot_rule_failures` starts, if later than the window (Metrics Insights reaches back 14 days).
    pub iot_rule_failures_since: Option<DateTime<Utc>>,
}

/// A count CloudWatch (or the local counters) summed, as the whole number it is.
fn count(value: f64) -> u64 {
    value.round().max(0.0) as u64
}

/// `health`'s result.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    pub target: &'static str,
    pub stack: String,
    pub window_seconds: i64,
    pub period_seconds: u32,
    pub verdict: Verdict,
    pub findings: Vec<Finding>,
    pub metrics: Metrics,
    #[serde(skip)]
    pub vitals: Vitals,
    #[serde(skip)]
    pub thresholds: Thresholds,
    #[serde(skip)]
    pub window: Window,
}

/// Judges the vitals: a finding for each threshold crossed and each alarm firing; `degraded` with any finding,
/// `idle` when nothing arrived and nothing waits, `healthy` otherwise.
pub fn assess(target: &'static str, stack: &str, window: Window, vitals: Vitals, thresholds: Thresholds) -> Health {
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
                "{} records failed processing and are in the error prefix: see `reaqtions logs`, then `reaqtions reprocess` once fixed",
                m.failed_records
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
        target,
        stack: stack.to_owned(),
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
