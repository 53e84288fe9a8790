//! What a `simulate` run asks for, said before it sends: devices × rate, readings, bytes, and on AWS the
//! ingestion it costs (the prices `cost` uses) and whether one stream's quota allows the rate; with `--start` or
//! `--every`, the time span the readings' `TIME`s cover — and whether the run is over the thresholds that make
//! `simulate` ask first (a typo in `--rate` is a per-device rate).

use super::Plan;
use crate::cost::{Fleet, Prices};
use crate::limits::{billed_bytes, firehose_quota};
use crate::output::thousands as count;

/// The plan in one line, and why it needs a yes (empty when it does not).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Statement {
    pub(crate) line: String,
    pub(crate) over: Vec<String>,
    pub(crate) readings: u64,
    pub(crate) usd: Option<f64>,
}

/// `1.3 TB`, `330 kB`: decimal units, three significant figures.
pub(crate) fn bytes(n: f64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut value = n;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < units.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 { format!("{value:.0} B") } else { format!("{value:.3} {}", units[unit]) }
}

/// The statement for `plan` with readings of `reading_bytes`; `aws_region` when the run goes to AWS.
pub(crate) fn state(plan: &Plan, reading_bytes: u64, aws_region: Option<&str>) -> Statement {
    let readings = plan.total();
    let aggregate = plan.rate * plan.devices as f64;
    let seconds = plan.per_device as f64 / plan.rate;
    let duration = humantime::format_duration(std::time::Duration::from_secs(seconds.ceil() as u64));
    let mut line = format!(
        "simulate: {} devices × {}/s = {}/s for {duration}: {} readings, {}",
        plan.devices,
        plan.rate,
        count(aggregate),
        count(readings as f64),
        bytes(readings as f64 * reading_bytes as f64)
    );
    let mut over = Vec::new();
    if readings > plan.confirm_over_readings {
        over.push(format!(
            "{} readings is more than {}",
            count(readings as f64),
            count(plan.confirm_over_readings as f64)
        ));
    }
    let mut usd = None;
    if let Some(region) = aws_region {
        let packed = plan.record_bytes > 0 && plan.mqtt.is_none();
        let fleet = Fleet {
            devices: plan.devices as u64,
            rate: plan.rate,
            reading_bytes,
            record_bytes: (plan.record_bytes as u64).max(reading_bytes),
            linger_seconds: plan.linger.as_secs_f64(),
        };
        let sending = fleet.sending(packed);
        let records = readings as f64 / sending.readings_per_record as f64;
        let billed = records * billed_bytes((sending.readings_per_record * reading_bytes) as usize) as f64;
        let prices = Prices::embedded();
        let price = prices.region(region).or_else(|_| prices.region("us-east-1")).map(|p| p.firehose_ingestion_per_gb);
        let cost = billed / f64::from(1u32 << 30) * price.unwrap_or(0.0);
        usd = Some(cost);
        let q = firehose_quota(region);
        let within =
            sending.records_per_second <= q.records_per_second && sending.bytes_per_second <= q.bytes_per_second;
        line.push_str(&format!(
            ", ~${cost:.2} of Firehose ingestion ({} records, {} per record); {}",
            count(records),
            if sending.readings_per_record > 1 {
                format!("{} readings", sending.readings_per_record)
            } else {
                "one reading".to_owned()
            },
            if within {
                format!("within a stream's quota in {region}")
            } else {
                format!(
                    "over a stream's quota in {region} ({} records/s, {}/s): Firehose will throttle and the run \
                     falls behind",
                    count(q.records_per_second),
                    bytes(q.bytes_per_second)
                )
            }
        ));
        if cost > plan.confirm_over_usd {
            over.push(format!("~${cost:.2} is more than ${:.2}", plan.confirm_over_usd));
        }
    }
    if let Some(timeline) = &plan.timeline {
        line.push_str("; ");
        line.push_str(&timeline.describe(plan.per_device));
    }
    Statement { line, over, readings, usd }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;

    fn plan(devices: usize, rate: f64, seconds: f64) -> Plan {
        let per_device = (seconds * rate).round() as u64;
        Plan {
            deadline: Some(Duration::from_secs_f64(seconds)),
            ..Plan::new(devices, rate, per_device, PathBuf::new())
        }
    }

    #[test]
    fn the_typo_from_the_issue_is_stated_and_needs_a_yes() {
        // 1,000 devices at 100,000 readings/s each for 50 s: 5 billion readings.
        let s = state(&plan(1000, 100_000.0, 50.0), 330, Some("us-east-1"));
        assert_eq!(s.readings, 5_000_000_000);
        assert!(
            s.line.starts_with(
                "simulate: 1000 devices × 100000/s = 100,000,000/s for 50s: 5,000,000,000 readings, 1.650 TB"
            ),
            "{}",
            s.line
        );
        assert!(s.line.contains("over a stream's quota in us-east-1"), "{}", s.line);
        let usd = s.usd.unwrap();
        // Packed 15 to a 5 KB record: 333 million records, 1.59 TiB billed at $0.029/GB.
        assert!((40.0..50.0).contains(&usd), "{usd}");
        assert_eq!(s.over.len(), 2, "{:?}", s.over);
        let local = state(&plan(1000, 100_000.0, 50.0), 330, None);
        assert_eq!((local.usd, local.over.len()), (None, 1), "locally only the readings count");
    }

    #[test]
    fn a_small_run_goes_without_asking() {
        let s = state(&plan(10, 1.0, 10.0), 330, Some("eu-west-1"));
        assert_eq!(
            s.line,
            "simulate: 10 devices × 1/s = 10/s for 10s: 100 readings, 33.000 kB, ~$0.00 of Firehose ingestion (100 records, one reading per record); within a stream's quota in eu-west-1"
        );
        assert!(s.over.is_empty());
        assert!(!s.line.contains("TIME"), "wall-clock TIMEs go unsaid");
        assert_eq!(bytes(999.0), "999 B");
        assert_eq!(count(1234567.0), "1,234,567");
    }

    #[test]
    fn a_timeline_states_the_span_its_readings_cover() {
        let timeline = crate::simulate::clock::Timeline {
            start: "2026-12-06T00:00:00Z".parse().unwrap(),
            every: Duration::from_secs(60),
            devices: 12,
        };
        let plan = Plan { timeline: Some(timeline), ..Plan::new(12, 1000.0, 1440, PathBuf::new()) };
        let s = state(&plan, 330, None);
        assert_eq!(
            s.line,
            "simulate: 12 devices × 1000/s = 12,000/s for 2s: 17,280 readings, 5.702 MB; readings' TIME from \
             2026-12-06T00:00:00Z to 2026-12-07T00:00:00Z (1day, one per device every 1m)"
        );
    }
}
