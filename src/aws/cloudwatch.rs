//! CloudWatch metrics and alarms as the deployed pipeline's [`VitalSource`]: Firehose's and Lambda's series by
//! their documented names and dimensions in one paginated GetMetricData request, the function's `FailedRecords`
//! (the alarms' metric filter) beside them when alarms are on, the IoT rule's action failures by Metrics
//! Insights over every `ActionType` (one query per request, as CloudWatch allows), and the stack's own alarms
//! in ALARM by name from DescribeAlarms.

use std::collections::BTreeMap;

use anyhow::Result;
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, StateValue};
use aws_smithy_types::DateTime as SmithyTime;
use chrono::{DateTime, Duration, DurationRound as _, Utc};
use tokio::runtime::Handle;

use crate::seams::VitalSource;
use crate::seams::vitals::{FailedSource, FiringAlarm, Series, Vitals, Window};
use crate::settings::PipelineSettings;

/// How far back a Metrics Insights query reaches for graphs (CloudWatch's Metrics Insights quotas).
pub(crate) const INSIGHTS_REACH_DAYS: i64 = 14;

/// What one query of a GetMetricData call asks for.
enum What {
    /// A metric by namespace, name and dimensions, with a statistic.
    Stat { namespace: String, metric: String, dimensions: Vec<(String, String)>, stat: &'static str },
    /// A Metrics Insights query.
    Insights(String),
}

/// One query: its id, what it asks, and its own period when not the window's.
struct Ask {
    id: String,
    what: What,
    period: Option<u32>,
}

fn ask(id: &str, namespace: &str, metric: &str, dimensions: &[(&str, &str)], stat: &'static str) -> Ask {
    let what = What::Stat {
        namespace: namespace.to_owned(),
        metric: metric.to_owned(),
        dimensions: dimensions.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        stat,
    };
    Ask { id: id.to_owned(), what, period: None }
}

/// The Metrics Insights query summing `metric` of the IoT rule over every `ActionType` (its value for the
/// Firehose action is not documented); the same query the rule's alarms and the dashboard use.
pub fn iot_rule_query(metric: &str, rule: &str) -> String {
    format!("SELECT SUM({metric}) FROM SCHEMA(\"AWS/IoT\", ActionType, RuleName) WHERE RuleName = '{rule}'")
}

pub(crate) struct CloudWatchVitals {
    client: Client,
    runtime: Handle,
    settings: PipelineSettings,
    /// The IoT rule feeding the stream, when the stack has one.
    rule: Option<String>,
}

impl CloudWatchVitals {
    pub(crate) fn new(client: Client, runtime: Handle, settings: PipelineSettings, rule: Option<String>) -> Self {
        CloudWatchVitals { client, runtime, settings, rule }
    }

    fn asks(&self, window: &Window) -> Vec<Ask> {
        let stream = [("DeliveryStreamName", self.settings.stream.as_str())];
        let function = [("FunctionName", self.settings.function.as_str())];
        let mut asks = vec![
            ask("incoming_records", "AWS/Firehose", "IncomingRecords", &stream, "Sum"),
            ask("incoming_bytes", "AWS/Firehose", "IncomingBytes", &stream, "Sum"),
            ask("throttled_records", "AWS/Firehose", "ThrottledRecords", &stream, "Sum"),
            ask("succeeded_records", "AWS/Firehose", "SucceedProcessing.Records", &stream, "Sum"),
            ask("freshness", "AWS/Firehose", "DeliveryToS3.DataFreshness", &stream, "Maximum"),
            ask("delivery_success", "AWS/Firehose", "DeliveryToS3.Success", &stream, "Average"),
            ask("records_limit", "AWS/Firehose", "RecordsPerSecondLimit", &stream, "Maximum"),
            ask("bytes_limit", "AWS/Firehose", "BytesPerSecondLimit", &stream, "Maximum"),
            ask("lambda_errors", "AWS/Lambda", "Errors", &function, "Sum"),
            ask("lambda_throttles", "AWS/Lambda", "Throttles", &function, "Sum"),
            ask("lambda_duration", "AWS/Lambda", "Duration", &function, "p90"),
            // The p90 over the whole window: one datapoint of a period as long as the window.
            Ask {
                period: Some((window.seconds().max(0) as u32).div_ceil(window.period_seconds) * window.period_seconds),
                ..ask("lambda_duration_window", "AWS/Lambda", "Duration", &function, "p90")
            },
        ];
        if self.settings.monitoring.alarms {
            let namespace = crate::aws::stack::failed_records_namespace(&self.settings.stack);
            asks.push(ask("failed_metric", &namespace, "FailedRecords", &[], "Sum"));
        }
        asks
    }

    /// The stack's own alarms that are in ALARM, asked for by their names.
    async fn firing(&self) -> Result<Vec<FiringAlarm>> {
        let names = crate::aws::stack::alarm_names(&self.settings.stack);
        let mut pages = self
            .client
            .describe_alarms()
            .set_alarm_names(Some(names))
            .state_value(StateValue::Alarm)
            .into_paginator()
            .send();
        let mut firing = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(super::fail("cannot read the stack's alarms"))?;
            for alarm in page.metric_alarms() {
                firing.push(FiringAlarm {
                    name: alarm.alarm_name().unwrap_or_default().to_owned(),
                    reason: alarm.state_reason().unwrap_or_default().to_owned(),
                });
            }
        }
        Ok(firing)
    }

    /// The rule's action and error-action failures per period, each from its own Metrics Insights request, over
    /// the part of the window Metrics Insights reaches; with that part's start when it is later than the window's.
    async fn iot_failures(&self, rule: &str, window: &Window) -> Result<(Series, Option<DateTime<Utc>>)> {
        let reach = (Utc::now() - Duration::days(INSIGHTS_REACH_DAYS))
            .duration_trunc(Duration::seconds(i64::from(window.period_seconds)))
            .map(|t| t + Duration::seconds(i64::from(window.period_seconds)))
            .unwrap_or(window.start);
        let start = window.start.max(reach);
        let since = (start > window.start).then_some(start);
        let mut failures = Series(vec![Some(0.0); window.points()]);
        for metric in ["Failure", "ErrorActionFailure"] {
            let query = Ask { id: "iot".into(), what: What::Insights(iot_rule_query(metric, rule)), period: None };
            let data = metric_data(&self.client, &[query], start, window.end, window.period_seconds).await?;
            for (t, v) in data.get("iot").into_iter().flatten() {
                if let Some(slot) = window.index(*t).and_then(|i| failures.0.get_mut(i)) {
                    *slot = Some(slot.unwrap_or(0.0) + v);
                }
            }
        }
        if let Some(since) = since {
            for (i, slot) in failures.0.iter_mut().enumerate() {
                let end = window.start + Duration::seconds(i64::from(window.period_seconds) * (i as i64 + 1));
                if end <= since {
                    *slot = None;
                }
            }
        }
        Ok((failures, since))
    }
}

impl VitalSource for CloudWatchVitals {
    fn vitals(&self, window: &Window) -> Result<Vitals> {
        self.runtime.block_on(async {
            let mut data =
                metric_data(&self.client, &self.asks(window), window.start, window.end, window.period_seconds).await?;
            let series =
                |data: &mut BTreeMap<String, Vec<(DateTime<Utc>, f64)>>, id: &str, combine: fn(f64, f64) -> f64| {
                    let mut s = Series::empty(window);
                    for (t, v) in data.remove(id).unwrap_or_default() {
                        s.add(window, t, v, combine);
                    }
                    s
                };
            let sum = |a: f64, b: f64| a + b;
            let zeroed = |s: Series| Series(s.0.into_iter().map(|v| Some(v.unwrap_or(0.0))).collect());
            let incoming_records = series(&mut data, "incoming_records", sum);
            let succeeded = series(&mut data, "succeeded_records", sum);
            let (failed_records, failed_total, failed_records_source) = if self.settings.monitoring.alarms {
                let metric = zeroed(series(&mut data, "failed_metric", sum));
                let total = metric.sum();
                (metric, total, FailedSource::Metric)
            } else {
                let lag = i64::from(self.settings.processor.interval_seconds) + 60;
                let (total, per_period) =
                    failed(window, &incoming_records, &succeeded, Utc::now() - Duration::seconds(lag));
                (per_period, total, FailedSource::Series)
            };
            let (iot_rule_failures, iot_rule_failures_since) = match &self.rule {
                Some(rule) => {
                    let (failures, since) = self.iot_failures(rule, window).await?;
                    (Some(failures), since)
                }
                None => (None, None),
            };
            Ok(Vitals {
                incoming_bytes: zeroed(series(&mut data, "incoming_bytes", sum)),
                throttled_records: zeroed(series(&mut data, "throttled_records", sum)),
                freshness_seconds: series(&mut data, "freshness", f64::max),
                delivery_success: series(&mut data, "delivery_success", f64::min),
                records_per_second_limit: series(&mut data, "records_limit", f64::max).max(),
                bytes_per_second_limit: series(&mut data, "bytes_limit", f64::max).max(),
                lambda_errors: Some(zeroed(series(&mut data, "lambda_errors", sum))),
                lambda_throttles: Some(zeroed(series(&mut data, "lambda_throttles", sum))),
                lambda_duration_p90_ms: Some(series(&mut data, "lambda_duration", f64::max)),
                lambda_duration_p90_ms_window: data
                    .get("lambda_duration_window")
                    .and_then(|p| p.first())
                    .map(|(_, v)| *v),
                iot_rule_failures,
                iot_rule_failures_since,
                incoming_records: zeroed(incoming_records),
                failed_records,
                failed_records_window: Some(failed_total),
                failed_records_source,
                alarms: self.firing().await?,
            })
        })
    }
}

/// What a stream received over CloudWatch's retention, from its daily sums.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub(crate) struct Received {
    pub(crate) records: u64,
    pub(crate) bytes: u64,
    /// Firehose bills each record rounded up to 5 KB; from daily sums it is estimated as each day's records ×
    /// 5 KB × ⌈the day's mean record size / 5 KB⌉ (exact when a day's records are alike in size).
    pub(crate) billed_bytes: u64,
}

pub(crate) async fn received(client: &Client, stream: &str, now: DateTime<Utc>) -> Result<Received> {
    const DAY: i64 = 86_400;
    let end = DateTime::from_timestamp((now.timestamp() / DAY + 1) * DAY, 0).unwrap_or(now);
    let window = Window {
        start: end - chrono::Duration::days(crate::limits::CLOUDWATCH_RETENTION_DAYS),
        end,
        period_seconds: DAY as u32,
    };
    let dims = [("DeliveryStreamName", stream)];
    let asks = [
        ask("records", "AWS/Firehose", "IncomingRecords", &dims, "Sum"),
        ask("bytes", "AWS/Firehose", "IncomingBytes", &dims, "Sum"),
    ];
    let data = metric_data(client, &asks, window.start, window.end, window.period_seconds).await?;
    let per_day = |id: &str| -> BTreeMap<i64, f64> {
        data.get(id).into_iter().flatten().map(|(t, v)| (t.timestamp(), *v)).collect()
    };
    let (records, bytes) = (per_day("records"), per_day("bytes"));
    let mut total = Received::default();
    for (day, n) in &records {
        let b = bytes.get(day).copied().unwrap_or(0.0);
        let unit = crate::limits::BILLING_UNIT as f64;
        let units = if *n > 0.0 { (b / n / unit).ceil().max(1.0) } else { 0.0 };
        total.records += n.round() as u64;
        total.billed_bytes += (n * units * unit).round() as u64;
    }
    total.bytes = bytes.values().sum::<f64>().round() as u64;
    Ok(total)
}

/// Every series asked for, by id: `(timestamp, value)` pairs.
async fn metric_data(
    client: &Client,
    asks: &[Ask],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    period: u32,
) -> Result<BTreeMap<String, Vec<(DateTime<Utc>, f64)>>> {
    let queries = asks.iter().map(|a| {
        let period = a.period.unwrap_or(period).max(60);
        let query = MetricDataQuery::builder().id(&a.id).return_data(true);
        match &a.what {
            What::Stat { namespace, metric, dimensions, stat } => {
                let mut m = Metric::builder().namespace(namespace).metric_name(metric);
                for (name, value) in dimensions {
                    m = m.dimensions(Dimension::builder().name(name).value(value).build());
                }
                let stat = MetricStat::builder().metric(m.build()).period(period as i32).stat(*stat).build();
                query.metric_stat(stat).build()
            }
            What::Insights(sql) => query.expression(sql).period(period as i32).build(),
        }
    });
    let mut pages = client
        .get_metric_data()
        .start_time(SmithyTime::from_secs(start.timestamp()))
        .end_time(SmithyTime::from_secs(end.timestamp()))
        .set_metric_data_queries(Some(queries.collect()))
        .into_paginator()
        .send();
    let mut out: BTreeMap<String, Vec<(DateTime<Utc>, f64)>> = BTreeMap::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(super::fail("cannot read the pipeline's metrics"))?;
        for result in page.metric_data_results() {
            let points = out.entry(result.id().unwrap_or_default().to_owned()).or_default();
            for (t, v) in result.timestamps().iter().zip(result.values()) {
                if let Some(t) = DateTime::from_timestamp(t.secs(), 0) {
                    points.push((t, *v));
                }
            }
        }
    }
    Ok(out)
}

/// Records that failed processing, from Firehose's series when there is no `FailedRecords` metric: a record is
/// counted incoming when it arrives but succeeded (Ok or Dropped) when the processor's buffer is flushed, up to
/// the processor's interval later. Both series are compared over the same settled periods (those that ended
/// before `settled`), so what is still buffered is neither counted as failed nor hides failures; per period,
/// incoming − succeeded where positive (None for a period not settled yet), and over them, at least 0.
fn failed(window: &Window, incoming: &Series, succeeded: &Series, settled: DateTime<Utc>) -> (f64, Series) {
    let period = Duration::seconds(i64::from(window.period_seconds));
    let per_period: Vec<Option<f64>> = (incoming.0.iter().zip(&succeeded.0).enumerate())
        .map(|(i, (inc, ok))| {
            let end = window.start + period * (i as i32 + 1);
            (end <= settled).then(|| inc.unwrap_or(0.0) - ok.unwrap_or(0.0))
        })
        .collect();
    let total = per_period.iter().flatten().sum::<f64>().max(0.0);
    (total, Series(per_period.into_iter().map(|d| d.map(|d| d.max(0.0))).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_records_compare_both_series_over_the_settled_periods() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let window =
            Window::over(now - Duration::minutes(60), now, now, crate::seams::vitals::Keeping::CloudWatch).unwrap();
        assert_eq!(window.points(), 61);
        // An hour of 1,000 records a minute, 1% refused, each minute's processed the minute after; the last two
        // minutes (the processor's 60 s and a minute) are not settled.
        let incoming = Series(vec![Some(1000.0); window.points()]);
        let succeeded = Series(vec![Some(990.0); window.points()]);
        let settled = window.end - Duration::seconds(120);
        let (total, per_period) = failed(&window, &incoming, &succeeded, settled);
        assert_eq!(total, 590.0, "59 settled minutes × 10 refused");
        assert_eq!(per_period.0[0], Some(10.0));
        assert_eq!(per_period.0[60], None, "an unsettled period shows no difference");
        // A healthy busy stream: what is still in the processor's buffer is not failed.
        let buffered = Series((0..window.points()).map(|i| Some(if i == 0 { 0.0 } else { 1000.0 })).collect());
        let (none, _) = failed(&window, &incoming, &buffered, settled);
        assert!(none <= 1000.0, "at most the one period whose records straddle the window's start: {none}");
        let (idle, _) = failed(&window, &Series(vec![Some(0.0); 61]), &Series(vec![Some(5.0); 61]), settled);
        assert_eq!(idle, 0.0, "never below zero");
    }

    #[test]
    fn the_iot_query_sums_the_rule_over_every_action_type() {
        assert_eq!(
            iot_rule_query("Failure", "lab_readings"),
            "SELECT SUM(Failure) FROM SCHEMA(\"AWS/IoT\", ActionType, RuleName) WHERE RuleName = 'lab_readings'"
        );
    }
}
