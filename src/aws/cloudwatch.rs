//! CloudWatch metrics and alarms as the deployed pipeline's [`VitalSource`]: every series in one paginated
//! GetMetricData request (Firehose's and Lambda's by their documented names and dimensions, the IoT rule's
//! action failures under whatever `ActionType` ListMetrics finds), the stack's alarms in ALARM from
//! DescribeAlarms. Values derived from several series (failed records) are derived here, client-side.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow};
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::{Dimension, DimensionFilter, Metric, MetricDataQuery, MetricStat, StateValue};
use aws_smithy_types::DateTime as SmithyTime;
use chrono::{DateTime, Utc};
use tokio::runtime::Handle;

use crate::health::{FiringAlarm, Series, Vitals, Window};
use crate::settings::PipelineSettings;
use crate::target::VitalSource;

/// One series asked for: its query id, namespace, metric, dimensions and statistic.
struct Ask {
    id: String,
    namespace: &'static str,
    metric: String,
    dimensions: Vec<(String, String)>,
    stat: &'static str,
    /// Its own period, when not the window's (each query of a GetMetricData call may have its own).
    period: Option<u32>,
}

fn ask(id: &str, namespace: &'static str, metric: &str, dimensions: &[(&str, &str)], stat: &'static str) -> Ask {
    Ask {
        id: id.to_owned(),
        namespace,
        metric: metric.to_owned(),
        dimensions: dimensions.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        stat,
        period: None,
    }
}

pub struct CloudWatchVitals {
    client: Client,
    runtime: Handle,
    settings: PipelineSettings,
    /// The IoT rule feeding the stream, when the stack has one.
    rule: Option<String>,
}

impl CloudWatchVitals {
    pub fn new(client: Client, runtime: Handle, settings: PipelineSettings, rule: Option<String>) -> Self {
        CloudWatchVitals { client, runtime, settings, rule }
    }

    fn asks(&self, window: &Window, iot_actions: &[(String, String)]) -> Vec<Ask> {
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
        if let Some(rule) = &self.rule {
            for (i, (metric, action_type)) in iot_actions.iter().enumerate() {
                asks.push(ask(
                    &format!("iot_{i}"),
                    "AWS/IoT",
                    metric,
                    &[("RuleName", rule), ("ActionType", action_type)],
                    "Sum",
                ));
            }
        }
        asks
    }

    /// The rule's failure metrics as CloudWatch holds them: `(metric, ActionType)` for each one listed.
    async fn iot_failure_metrics(&self, rule: &str) -> Result<Vec<(String, String)>> {
        let mut found = Vec::new();
        for metric in ["Failure", "ErrorActionFailure"] {
            let mut pages = self
                .client
                .list_metrics()
                .namespace("AWS/IoT")
                .metric_name(metric)
                .dimensions(DimensionFilter::builder().name("RuleName").value(rule).build())
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| anyhow!("cannot list the IoT rule's metrics: {}", super::explain(&e)))?;
                for m in page.metrics() {
                    if let Some(action) = m.dimensions().iter().find(|d| d.name() == Some("ActionType")) {
                        found.push((metric.to_owned(), action.value().unwrap_or_default().to_owned()));
                    }
                }
            }
        }
        found.sort();
        found.dedup();
        Ok(found)
    }

    /// The stack's alarms in ALARM (named `<stack>-…`).
    async fn firing(&self) -> Result<Vec<FiringAlarm>> {
        let mut pages = self
            .client
            .describe_alarms()
            .alarm_name_prefix(format!("{}-", self.settings.stack))
            .state_value(StateValue::Alarm)
            .into_paginator()
            .send();
        let mut firing = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| anyhow!("cannot read the stack's alarms: {}", super::explain(&e)))?;
            for alarm in page.metric_alarms() {
                firing.push(FiringAlarm {
                    name: alarm.alarm_name().unwrap_or_default().to_owned(),
                    reason: alarm.state_reason().unwrap_or_default().to_owned(),
                });
            }
        }
        Ok(firing)
    }
}

impl VitalSource for CloudWatchVitals {
    fn vitals(&self, window: &Window) -> Result<Vitals> {
        self.runtime.block_on(async {
            let iot_actions = match &self.rule {
                Some(rule) => self.iot_failure_metrics(rule).await?,
                None => vec![],
            };
            let mut data =
                metric_data(&self.client, &self.asks(window, &iot_actions), window, window.period_seconds).await?;
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
            let lag = i64::from(self.settings.processor.interval_seconds) + 60;
            let (failed_total, failed_records) =
                failed(window, &incoming_records, &succeeded, Utc::now() - chrono::Duration::seconds(lag));
            let mut iot = Series(vec![Some(0.0); window.points()]);
            for i in 0..iot_actions.len() {
                for (slot, v) in iot.0.iter_mut().zip(series(&mut data, &format!("iot_{i}"), sum).0) {
                    *slot = Some(slot.unwrap_or(0.0) + v.unwrap_or(0.0));
                }
            }
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
                iot_rule_failures: self.rule.as_ref().map(|_| iot),
                incoming_records: zeroed(incoming_records),
                failed_records,
                failed_records_window: Some(failed_total),
                alarms: self.firing().await?,
            })
        })
    }
}

/// What a stream received over CloudWatch's retention, from its daily sums.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Received {
    pub records: u64,
    pub bytes: u64,
    /// Firehose bills each record rounded up to 5 KB; from daily sums it is estimated as each day's records ×
    /// 5 KB × ⌈the day's mean record size / 5 KB⌉ (exact when a day's records are alike in size).
    pub billed_bytes: u64,
}

pub async fn received(client: &Client, stream: &str, now: DateTime<Utc>) -> Result<Received> {
    const DAY: i64 = 86_400;
    let end = DateTime::from_timestamp((now.timestamp() / DAY + 1) * DAY, 0).unwrap_or(now);
    let window = Window { start: end - chrono::Duration::days(455), end, period_seconds: DAY as u32 };
    let dims = [("DeliveryStreamName", stream)];
    let asks = [
        ask("records", "AWS/Firehose", "IncomingRecords", &dims, "Sum"),
        ask("bytes", "AWS/Firehose", "IncomingBytes", &dims, "Sum"),
    ];
    let data = metric_data(client, &asks, &window, window.period_seconds).await?;
    let per_day = |id: &str| -> BTreeMap<i64, f64> {
        data.get(id).into_iter().flatten().map(|(t, v)| (t.timestamp(), *v)).collect()
    };
    let (records, bytes) = (per_day("records"), per_day("bytes"));
    let mut total = Received::default();
    for (day, n) in &records {
        let b = bytes.get(day).copied().unwrap_or(0.0);
        let units = if *n > 0.0 { (b / n / 5120.0).ceil().max(1.0) } else { 0.0 };
        total.records += n.round() as u64;
        total.billed_bytes += (n * units * 5120.0).round() as u64;
    }
    total.bytes = bytes.values().sum::<f64>().round() as u64;
    Ok(total)
}

/// Every series asked for, by id: `(timestamp, value)` pairs.
async fn metric_data(
    client: &Client,
    asks: &[Ask],
    window: &Window,
    period: u32,
) -> Result<BTreeMap<String, Vec<(DateTime<Utc>, f64)>>> {
    let queries = asks.iter().map(|a| {
        let mut metric = Metric::builder().namespace(a.namespace).metric_name(&a.metric);
        for (name, value) in &a.dimensions {
            metric = metric.dimensions(Dimension::builder().name(name).value(value).build());
        }
        let period = a.period.unwrap_or(period).max(60);
        let stat = MetricStat::builder().metric(metric.build()).period(period as i32).stat(a.stat).build();
        MetricDataQuery::builder().id(&a.id).metric_stat(stat).return_data(true).build()
    });
    let mut pages = client
        .get_metric_data()
        .start_time(SmithyTime::from_secs(window.start.timestamp()))
        .end_time(SmithyTime::from_secs(window.end.timestamp()))
        .set_metric_data_queries(Some(queries.collect()))
        .into_paginator()
        .send();
    let mut out: BTreeMap<String, Vec<(DateTime<Utc>, f64)>> = BTreeMap::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| anyhow!("cannot read the pipeline's metrics: {}", super::explain(&e)))?;
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

/// Records that failed processing: Firehose publishes no such count, and a record is counted incoming when
/// it arrives but succeeded (Ok or Dropped) when the processor's buffer is flushed, up to `lag` later. Over the
/// window, failed = incoming − succeeded − what arrived within `lag` of its end (it may still be buffered), at
/// least 0. Records that arrived before the window and succeeded in it hide as many failures: an undercount by
/// at most one lag's records, never a false alarm. Also returns, per period, incoming − succeeded where
/// positive, for the sparkline.
fn failed(window: &Window, incoming: &Series, succeeded: &Series, settled: DateTime<Utc>) -> (f64, Series) {
    let period = chrono::Duration::seconds(i64::from(window.period_seconds));
    let unsettled: f64 = (incoming.0.iter().enumerate())
        .filter(|(i, _)| window.start + period * (*i as i32 + 1) > settled)
        .filter_map(|(_, v)| *v)
        .sum();
    let total = (incoming.sum() - succeeded.sum() - unsettled).max(0.0);
    let per_period =
        incoming.0.iter().zip(&succeeded.0).map(|(i, s)| Some((i.unwrap_or(0.0) - s.unwrap_or(0.0)).max(0.0)));
    (total, Series(per_period.collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_records_leave_out_what_may_still_be_buffered() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let window = Window::since(now - chrono::Duration::minutes(5), now).unwrap();
        assert_eq!(window.points(), 6);
        let s = |v: &[f64]| Series(v.iter().map(|x| Some(*x)).collect());
        // 10 arrive each minute, each processed the minute after; 3 fail; the last minute is not settled yet.
        let incoming = s(&[10.0, 10.0, 10.0, 10.0, 10.0, 10.0]);
        let succeeded = s(&[0.0, 10.0, 10.0, 7.0, 10.0, 10.0]);
        let settled = window.start + chrono::Duration::minutes(5);
        let (total, per_period) = failed(&window, &incoming, &succeeded, settled);
        assert_eq!(total, 3.0, "60 in, 47 succeeded, 10 may still be buffered: {per_period:?}");
        assert_eq!(per_period.0[0], Some(10.0), "the sparkline shows each period's difference");
        let (none, _) = failed(&window, &incoming, &s(&[0.0, 10.0, 10.0, 10.0, 10.0, 10.0]), settled);
        assert_eq!(none, 0.0, "a healthy busy stream: what is in the processor's buffer is not failed");
    }
}
