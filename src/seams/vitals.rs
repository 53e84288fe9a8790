//! What a target reports of the pipeline's vital signs over a window ([`Vitals`], cut into the [`Window`]'s
//! periods), and the thresholds derived from the settings that `health` judges them by and the alarms fire at.

use chrono::{DateTime, Duration, DurationRound as _, Utc};
use serde::Serialize;

use crate::settings::PipelineSettings;

/// How long after the buffering intervals the oldest undelivered record may wait before it is a finding (and
/// the freshness alarm fires): Firehose's own retries and a slow S3 write fit in it, a stalled delivery does not.
pub(crate) const FRESHNESS_MARGIN_SECONDS: u32 = 300;
/// The share of the function's timeout its p90 duration may reach.
pub(crate) const DURATION_SHARE_OF_TIMEOUT: f64 = 0.8;
/// The share of a per-second limit the peak incoming rate may reach.
pub(crate) const RATE_SHARE_OF_LIMIT: f64 = 0.8;

/// CloudWatch keeps 1-minute data 15 days, 5-minute data 63 days, hourly data 455 days.
const RETENTION: [(i64, u32); 3] = crate::limits::CLOUDWATCH_RETENTION;
/// Periods a window is cut into at most (one sparkline character each).
const MAX_POINTS: i64 = 60;
/// The periods a window may use, shortest first.
const PERIODS: [u32; 11] = [60, 300, 900, 1800, 3600, 10_800, 21_600, 43_200, 86_400, 259_200, 604_800];

/// Where a target's vital signs are kept, which bounds the windows it can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keeping {
    /// CloudWatch: coarser periods for older data, nothing past its retention.
    CloudWatch,
    /// The local target's per-minute counters, kept as long as the data directory.
    EveryMinute,
}

/// A span of time cut into equal periods, aligned to the period (as CloudWatch aligns its datapoints).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub(crate) start: DateTime<Utc>,
    pub(crate) end: DateTime<Utc>,
    pub(crate) period_seconds: u32,
}

impl Window {
    /// The window from `since` to `end`, widened to whole periods: the period grows with the window (at most 60
    /// points) and, where CloudWatch keeps the data, with its age on `today` (its retention of each resolution:
    /// a short window long ago gets the period CloudWatch still has). Errors name the value when the window is
    /// shorter than a minute or older than CloudWatch keeps anything.
    pub(crate) fn over(
        since: DateTime<Utc>,
        end: DateTime<Utc>,
        today: DateTime<Utc>,
        keeping: Keeping,
    ) -> anyhow::Result<Window> {
        let span = (end - since).num_seconds();
        if span < 60 {
            return Err(crate::invalid!("the window must be at least a minute long (it is {span} s)"));
        }
        let age_days = (today - since).num_seconds().max(span) / 86_400;
        let floor = match keeping {
            Keeping::EveryMinute => 60,
            Keeping::CloudWatch => match RETENTION.iter().find(|(days, _)| age_days < *days) {
                Some(&(_, floor)) => floor,
                None => {
                    return Err(crate::invalid!(
                        "--since is {age_days} days ago: CloudWatch keeps metrics {} days",
                        crate::limits::CLOUDWATCH_RETENTION_DAYS
                    ));
                }
            },
        };
        let period = PERIODS
            .into_iter()
            .find(|p| *p >= floor && (span as u64).div_ceil(u64::from(*p)) <= MAX_POINTS as u64)
            .unwrap_or(604_800);
        let step = Duration::seconds(i64::from(period));
        let end = end.duration_trunc(Duration::seconds(60)).unwrap_or(end) + Duration::seconds(60);
        let start = since.duration_trunc(step).unwrap_or(since);
        Ok(Window { start, end, period_seconds: period })
    }

    pub(crate) fn seconds(&self) -> i64 {
        (self.end - self.start).num_seconds()
    }

    /// How many periods the window holds (the last may be partial).
    pub(crate) fn points(&self) -> usize {
        (self.seconds().max(0) as u64).div_ceil(u64::from(self.period_seconds)).max(1) as usize
    }

    /// The period a time falls in, if it is inside the window.
    pub(crate) fn index(&self, t: DateTime<Utc>) -> Option<usize> {
        (t >= self.start && t < self.end)
            .then(|| ((t - self.start).num_seconds() / i64::from(self.period_seconds)) as usize)
    }
}

/// One value per period; `None` where the period had no datapoint.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Series(pub(crate) Vec<Option<f64>>);

impl Series {
    pub(crate) fn empty(window: &Window) -> Series {
        Series(vec![None; window.points()])
    }

    /// Puts `value` into the period of `t`, combining with what is there (sum or max).
    pub(crate) fn add(&mut self, window: &Window, t: DateTime<Utc>, value: f64, combine: fn(f64, f64) -> f64) {
        if let Some(slot) = window.index(t).and_then(|i| self.0.get_mut(i)) {
            *slot = Some(slot.map_or(value, |old| combine(old, value)));
        }
    }

    pub(crate) fn sum(&self) -> f64 {
        self.0.iter().flatten().sum()
    }

    pub(crate) fn max(&self) -> Option<f64> {
        self.0.iter().flatten().copied().reduce(f64::max)
    }

    pub(crate) fn min(&self) -> Option<f64> {
        self.0.iter().flatten().copied().reduce(f64::min)
    }
}

/// An alarm of the stack in the ALARM state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct FiringAlarm {
    pub(crate) name: String,
    pub(crate) reason: String,
}

/// What a target reports over a window. A series that does not apply to the target is `None`.
#[derive(Debug, Clone, Default)]
pub struct Vitals {
    /// Records (Firehose records, one or many readings each) and bytes received, per period.
    pub(crate) incoming_records: Series,
    pub(crate) incoming_bytes: Series,
    pub(crate) throttled_records: Series,
    /// Records the transform refused, per period, and over the window when it is not their sum; where the count
    /// comes from.
    pub(crate) failed_records: Series,
    pub(crate) failed_records_window: Option<f64>,
    pub(crate) failed_records_source: FailedSource,
    /// Age in seconds of the oldest record not yet delivered (maximum per period).
    pub(crate) freshness_seconds: Series,
    /// Share of deliveries to the lake that succeeded (mean per period, 0-1).
    pub(crate) delivery_success: Series,
    pub(crate) lambda_errors: Option<Series>,
    pub(crate) lambda_throttles: Option<Series>,
    /// The function's p90 duration per period, and over the whole window.
    pub(crate) lambda_duration_p90_ms: Option<Series>,
    pub(crate) lambda_duration_p90_ms_window: Option<f64>,
    /// The IoT rule's action and error-action failures (`None` where there is no rule), and where they start
    /// when that is after the window's start (CloudWatch's Metrics Insights reaches back two weeks).
    pub(crate) iot_rule_failures: Option<Series>,
    pub(crate) iot_rule_failures_since: Option<DateTime<Utc>>,
    /// The stream's per-second limits (`None` where nothing limits it, as locally).
    pub(crate) records_per_second_limit: Option<f64>,
    pub(crate) bytes_per_second_limit: Option<f64>,
    pub(crate) alarms: Vec<FiringAlarm>,
}

/// Where the count of failed records comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum FailedSource {
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
pub(crate) struct Thresholds {
    pub(crate) freshness_seconds: f64,
    pub(crate) duration_p90_ms: f64,
}

impl Thresholds {
    pub(crate) fn of(settings: &PipelineSettings) -> Thresholds {
        Thresholds {
            freshness_seconds: f64::from(freshness_threshold_seconds(settings)),
            duration_p90_ms: f64::from(settings.lambda.timeout_seconds) * 1000.0 * DURATION_SHARE_OF_TIMEOUT,
        }
    }
}

/// The data freshness a healthy stream stays under: both buffering intervals plus the margin (the alarm's
/// threshold too). With partitioning event the S3 interval counts 1.5 times: Firehose buffers each partition in
/// stages, and documents that a batch's end-to-end delay "might be 1.5 times of the configured buffering hint
/// time" with dynamic partitioning on (Firehose developer guide, "Buffer data for dynamic partitioning").
pub fn freshness_threshold_seconds(settings: &PipelineSettings) -> u32 {
    let interval = settings.buffering.interval_seconds;
    let s3 = match settings.partitioning {
        crate::settings::Partitioning::Event => (interval * 3).div_ceil(2),
        crate::settings::Partitioning::Arrival => interval,
    };
    s3 + settings.processor.interval_seconds + FRESHNESS_MARGIN_SECONDS
}
