//! `reaqtions cost`'s model: what a fleet costs month by month on the pipeline, per component, for one reading
//! per record and for packed records, plain or gzip. Firehose bills each record rounded up to 5 KB; Lambda is
//! invoked per processor buffer (size or interval, whichever comes first) and billed per request and
//! GB-second; S3 gets one object per destination buffer (with partitioning event, per active partition, and
//! Firehose bills the GB and objects it delivers: `partitioning`); the function logs one summary line per batch;
//! the lake accumulates (`lake`).
//! Prices come from `data/prices.json` (dated, with its source) or a file of the same shape.

pub(crate) mod lake;
pub(crate) mod partitioning;
mod prices;

use std::collections::BTreeMap;

use serde::Serialize;

use lake::Lake;
use partitioning::Arrivals;
pub(crate) use prices::{PartitioningPrices, Prices, RegionPrices};

use crate::compression::Compression;
use crate::lifecycle::{Lifecycle, StorageClass};
use crate::limits::{FIREHOSE, billed_bytes};
use crate::settings::{Partitioning, PipelineSettings};

/// Seconds in the month the estimate is for (30 days).
pub(crate) const MONTH_SECONDS: f64 = 30.0 * 86_400.0;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
/// Bytes the transform adds to each reading (`,"_firehose_arrival":"2026-11-25T21:00:00.123Z"` and
/// `,"_reading_time":"2026-11-25T21:00:00.123Z"`).
const ADDED_BYTES: f64 = 45.0 + 43.0;
/// The function's log bytes per invocation: its summary line and Lambda's START/END/REPORT lines.
const LOG_BYTES_PER_INVOCATION: f64 = 700.0;
/// The bootstrap's time per batch through the Lambda Runtime API, measured here (README, Benchmarks): a fixed
/// part plus a part per MB of batch. Used for both architectures (qemu timings are not Graviton timings).
const INVOCATION_FIXED_MS: f64 = 2.0;
const INVOCATION_MS_PER_MB: f64 = 5.0;

/// The fleet and how it sends.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fleet {
    pub(crate) devices: u64,
    /// Readings per device per second.
    pub(crate) rate: f64,
    pub(crate) reading_bytes: u64,
    /// Packed records hold at most this many bytes.
    pub(crate) record_bytes: u64,
    /// A packed record is sent once its oldest reading has waited this long.
    pub(crate) linger_seconds: f64,
}

/// One line of the estimate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Row {
    pub(crate) scenario: &'static str,
    /// How the lake's objects are written: `gzip` or `none`.
    pub(crate) compression: &'static str,
    /// The month it is priced in, from 1.
    pub(crate) month: u32,
    pub(crate) component: &'static str,
    pub(crate) quantity: f64,
    pub(crate) unit: &'static str,
    pub(crate) usd: f64,
}

/// How a scenario sends: records per second and their size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sending {
    pub(crate) readings_per_record: u64,
    pub(crate) records_per_second: f64,
    pub(crate) bytes_per_second: f64,
}

/// How the lake is kept: its compression with the ratio measured for it, its tiers and retention, and how long
/// the versioned bucket keeps what expired.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Keeping {
    pub(crate) compression: Compression,
    /// How many times smaller the objects are than the JSON lines they hold (1 for `none`).
    pub(crate) ratio: f64,
    pub(crate) lifecycle: Lifecycle,
    pub(crate) noncurrent_days: u32,
}

impl Fleet {
    fn readings_per_second(&self) -> f64 {
        self.devices as f64 * self.rate
    }

    /// Readings per record: one, or packed until the record is full or the linger ends.
    pub(crate) fn sending(&self, packed: bool) -> Sending {
        let per_record = if packed {
            let fits = (self.record_bytes / self.reading_bytes.max(1)).max(1);
            let in_linger = (self.rate * self.linger_seconds).ceil().max(1.0) as u64;
            fits.min(in_linger)
        } else {
            1
        };
        Sending {
            readings_per_record: per_record,
            records_per_second: self.readings_per_second() / per_record as f64,
            bytes_per_second: self.readings_per_second() * self.reading_bytes as f64,
        }
    }
}

/// The month-by-month bill of one scenario for `months` months: what recurs every month (ingestion,
/// processing, PUTs, logs, alarms), the lake as it accumulates, and each month's `total`; then, not in the
/// total, one Athena query at the month's end over the last day, week and month of data
/// (`athena_query_<window>`, with `s3_retrieval_<window>` when the cold class bills reading).
pub(crate) fn bill(
    fleet: &Fleet,
    pipeline: &PipelineSettings,
    prices: &RegionPrices,
    packed: bool,
    keeping: &Keeping,
    months: u32,
) -> Vec<Row> {
    let scenario = if packed { "packed" } else { "per-reading" };
    let compression = keeping.compression.as_str();
    let recurring = monthly(fleet, pipeline, prices, packed);
    let lake = lake_of(fleet, pipeline, keeping);
    let (p, class) = (&prices.lake, keeping.lifecycle.cold_storage_class);
    let cold = lake.moves_after().is_some();
    let mut rows = Vec::new();
    for (index, m) in lake.months(months, prices.s3_storage_per_gb_month, p).iter().enumerate() {
        let month = index as u32 + 1;
        let row = |component, quantity: f64, unit, usd: f64| Row {
            scenario,
            compression,
            month,
            component,
            quantity,
            unit,
            usd,
        };
        let first = rows.len();
        rows.extend(recurring.iter().map(|&(component, quantity, unit, usd)| row(component, quantity, unit, usd)));
        rows.push(row("s3_stored", m.stored_gb, "GB held at the month's end", 0.0));
        rows.push(row(
            "s3_storage",
            m.standard_gb_months,
            "GB-months in Standard",
            m.standard_gb_months * prices.s3_storage_per_gb_month,
        ));
        if cold {
            rows.push(row("s3_storage_cold", m.cold_gb_months, cold_unit(class), m.cold_usd));
            rows.push(row(
                "s3_transitions",
                m.transitions,
                "objects moved",
                m.transitions / 1000.0 * lake::transition_price(class, p),
            ));
            if class == StorageClass::IntelligentTiering {
                rows.push(row(
                    "s3_monitoring",
                    m.monitored_object_months,
                    "object-months monitored",
                    m.monitored_object_months / 1000.0 * p.intelligent_tiering_monitoring_per_1000_objects,
                ));
            } else {
                let price = if class == StorageClass::StandardIa {
                    p.standard_ia_per_gb_month
                } else {
                    p.glacier_ir_per_gb_month
                };
                rows.push(row(
                    "s3_early_deletion",
                    m.early_gb_months,
                    "GB-months short of the minimum",
                    m.early_gb_months * price,
                ));
            }
        }
        let total: f64 = rows[first..].iter().map(|r| r.usd).sum();
        rows.push(row("total", total, "USD", total));
        if let Some((objects, usd)) = backlog_objects(fleet, pipeline, prices) {
            rows.push(row("partitioned_objects_backlog", objects, BACKLOG_UNIT, usd));
        }
        for q in &m.queries {
            let (athena, retrieval) = q.usd(class, p);
            let (query, retrieved) = query_components(q.window);
            rows.push(row(query, q.scanned_gb, "GB scanned by one query (not in the total)", athena));
            if cold && class != StorageClass::IntelligentTiering {
                rows.push(row(retrieved, q.retrieved_gb, "GB retrieved by that query (not in the total)", retrieval));
            }
        }
    }
    rows
}

/// The unit of the month's objects if every flush held a day's backlog, beside the steady fleet's in the total.
const BACKLOG_UNIT: &str =
    "objects if every flush holds a day's backlog: Firehose's fee and S3 PUTs (not in the total)";

/// With partitioning event, a month's objects when every flush holds [`BACKLOG_HOURS`] hours' partitions, and
/// what they cost in Firehose's object fee and S3 PUTs (the GB are the same however late they arrive).
pub(crate) fn backlog_objects(fleet: &Fleet, pipeline: &PipelineSettings, prices: &RegionPrices) -> Option<(f64, f64)> {
    (pipeline.partitioning == Partitioning::Event).then(|| {
        let flow = flow(fleet, pipeline);
        let objects =
            Arrivals::DayBacklog.objects_per_second(flow.out_bytes_per_second, &pipeline.buffering) * MONTH_SECONDS;
        let per_1000 = prices.dynamic_partitioning.per_1000_objects + prices.s3_put_per_1000;
        (objects, objects / 1000.0 * per_1000)
    })
}

fn cold_unit(class: StorageClass) -> &'static str {
    match class {
        StorageClass::IntelligentTiering => "GB-months in INTELLIGENT_TIERING",
        StorageClass::StandardIa => "GB-months in STANDARD_IA",
        StorageClass::GlacierIr => "GB-months in GLACIER_IR",
    }
}

fn query_components(window: &str) -> (&'static str, &'static str) {
    match window {
        "day" => ("athena_query_day", "s3_retrieval_day"),
        "week" => ("athena_query_week", "s3_retrieval_week"),
        _ => ("athena_query_month", "s3_retrieval_month"),
    }
}

/// How the pipeline carries a fleet's readings (the same packed or not: packing changes records, not bytes).
struct Flow {
    /// Lambda invocations per second: the processor buffer fills or its interval ends.
    invocations_per_second: f64,
    /// What the lake is written at, before compression, with the arrival field.
    out_bytes_per_second: f64,
    /// One S3 object per destination buffer (size or interval, counted before compression); interval 0 writes
    /// every batch; with partitioning event, one per active partition of a steady fleet.
    objects_per_second: f64,
}

fn flow(fleet: &Fleet, pipeline: &PipelineSettings) -> Flow {
    let bytes_per_second = fleet.readings_per_second() * fleet.reading_bytes as f64;
    let buffer_bytes = pipeline.processor.size_mb * 1_000_000.0;
    let interval = f64::from(pipeline.processor.interval_seconds.max(1));
    let invocations_per_second = (bytes_per_second / buffer_bytes).max(1.0 / interval);
    let out_bytes_per_second = bytes_per_second + fleet.readings_per_second() * ADDED_BYTES;
    let objects_per_second = if pipeline.partitioning == Partitioning::Event {
        Arrivals::Steady.objects_per_second(out_bytes_per_second, &pipeline.buffering)
    } else if pipeline.buffering.interval_seconds == 0 {
        invocations_per_second
    } else {
        (out_bytes_per_second / (f64::from(pipeline.buffering.size_mib) * 1024.0 * 1024.0))
            .max(1.0 / f64::from(pipeline.buffering.interval_seconds))
    };
    Flow { invocations_per_second, out_bytes_per_second, objects_per_second }
}

/// What reaches the lake a day and how it is kept.
pub(crate) fn lake_of(fleet: &Fleet, pipeline: &PipelineSettings, keeping: &Keeping) -> Lake {
    let flow = flow(fleet, pipeline);
    let ratio = keeping.ratio.max(1.0);
    Lake {
        gb_per_day: flow.out_bytes_per_second * 86_400.0 / ratio / GIB,
        objects_per_day: flow.objects_per_second * 86_400.0,
        object_bytes: flow.out_bytes_per_second / flow.objects_per_second.max(f64::MIN_POSITIVE) / ratio,
        lifecycle: keeping.lifecycle,
        noncurrent_days: keeping.noncurrent_days,
    }
}

/// What recurs every month, as (component, quantity, unit, usd).
type Recurring = (&'static str, f64, &'static str, f64);

fn monthly(fleet: &Fleet, pipeline: &PipelineSettings, prices: &RegionPrices, packed: bool) -> Vec<Recurring> {
    let s = fleet.sending(packed);
    let records = s.records_per_second * MONTH_SECONDS;
    let billed_per_record = billed_bytes((s.readings_per_record * fleet.reading_bytes) as usize) as f64;
    let ingested_gb = records * billed_per_record / GIB;

    let flow = flow(fleet, pipeline);
    let invocations = flow.invocations_per_second * MONTH_SECONDS;
    let batch_mb = s.bytes_per_second / flow.invocations_per_second / 1_000_000.0;
    let billed_ms = (INVOCATION_FIXED_MS + INVOCATION_MS_PER_MB * batch_mb).ceil();
    let gb_seconds = invocations * billed_ms / 1000.0 * f64::from(pipeline.lambda.memory_mb) / 1024.0;
    let gb_second_price =
        if pipeline.architecture == "arm64" { prices.lambda_gb_second_arm64 } else { prices.lambda_gb_second_x86_64 };
    let objects = flow.objects_per_second * MONTH_SECONDS;
    let log_gb = invocations * LOG_BYTES_PER_INVOCATION / GIB;

    let mut rows = vec![
        // What the ingestion line bills: the records, each rounded up to 5 KB.
        ("firehose_records", records, "records", 0.0),
        (
            "firehose_ingestion",
            ingested_gb,
            "GB billed (5 KB per record)",
            ingested_gb * prices.firehose_ingestion_per_gb,
        ),
    ];
    if pipeline.partitioning == Partitioning::Event {
        // What the transform returns, before compression (whether Firehose counts the GB after is unconfirmed).
        let gb = flow.out_bytes_per_second * MONTH_SECONDS / GIB;
        let (gb_usd, objects_usd) = partitioning::fees(gb, objects, &prices.dynamic_partitioning);
        rows.push(("firehose_partitioned_gb", gb, "GB delivered partitioned (before compression)", gb_usd));
        rows.push(("firehose_partitioned_objects", objects, "objects delivered partitioned", objects_usd));
    }
    rows.extend([
        ("lambda_requests", invocations, "invocations", invocations / 1e6 * prices.lambda_requests_per_million),
        ("lambda_compute", gb_seconds, "GB-seconds", gb_seconds * gb_second_price),
        ("s3_put", objects, "PUT requests", objects / 1000.0 * prices.s3_put_per_1000),
        ("cloudwatch_logs", log_gb, "GB ingested", log_gb * prices.logs_ingestion_per_gb),
    ]);
    if pipeline.monitoring.alarms {
        // Partitioning event has one more: PartitionCountExceeded.
        let alarms = crate::aws::stack::alarms_of(pipeline.partitioning).len() as f64;
        rows.push(("cloudwatch_alarms", alarms, "alarms", alarms * prices.cloudwatch_alarm_per_month));
        // FailedRecords, from the function's log by a metric filter.
        rows.push(("cloudwatch_metrics", 1.0, "custom metrics", prices.cloudwatch_custom_metric_per_month));
    }
    if pipeline.monitoring.dashboard {
        rows.push(("cloudwatch_dashboard", 1.0, "dashboards", prices.cloudwatch_dashboard_per_month));
    }
    rows
}

/// What a scenario would exceed of a stream's quota in `region`, one message each.
pub(crate) fn quota_warnings(fleet: &Fleet, region: &str) -> Vec<String> {
    let q = crate::limits::firehose_quota(region);
    let mut warnings = Vec::new();
    for packed in [false, true] {
        let s = fleet.sending(packed);
        let scenario = if packed { "packed" } else { "one reading per record" };
        // Calls a second: each PutRecordBatch carries at most FIREHOSE's records and bytes.
        let calls = (s.records_per_second / FIREHOSE.batch_records as f64)
            .max(s.bytes_per_second / FIREHOSE.batch_bytes as f64);
        let mut over = BTreeMap::new();
        if s.records_per_second > q.records_per_second {
            over.insert("records/s", (s.records_per_second, q.records_per_second));
        }
        if s.bytes_per_second > q.bytes_per_second {
            over.insert("bytes/s", (s.bytes_per_second, q.bytes_per_second));
        }
        if calls > q.calls_per_second {
            over.insert("calls/s", (calls, q.calls_per_second));
        }
        for (what, (need, limit)) in over {
            warnings.push(format!(
                "{scenario}: {need:.0} {what} exceeds a stream's quota of {limit:.0} {what} in {region} (ask AWS for \
                 more, or split the fleet over several streams){}",
                if !packed && what == "records/s" { "; packing changes that" } else { "" }
            ));
        }
    }
    warnings
}

/// Why packed records hold fewer readings than fit, when the linger is what limits them.
pub(crate) fn packing_advice(fleet: &Fleet) -> Option<String> {
    let s = fleet.sending(true);
    let fits = (fleet.record_bytes / fleet.reading_bytes.max(1)).max(1);
    (s.readings_per_record < fits).then(|| {
        let linger = (fits as f64 / fleet.rate).ceil();
        format!(
            "at {} reading(s)/s per device, a {}s linger packs {} of the {fits} readings that fit in a {} KB record: \
             a linger of {linger}s (or packing several devices at a gateway) fills each record",
            fleet.rate,
            fleet.linger_seconds,
            s.readings_per_record,
            fleet.record_bytes / 1024
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default pipeline without its alarms and dashboard.
    fn pipeline() -> PipelineSettings {
        let mut settings = PipelineSettings::defaults();
        settings.monitoring.alarms = false;
        settings.monitoring.dashboard = false;
        settings
    }

    fn prices() -> RegionPrices {
        Prices::embedded().region("us-east-1").unwrap().clone()
    }

    fn usd(rows: &[Row], component: &str) -> f64 {
        rows.iter().find(|r| r.component == component).unwrap().usd
    }

    fn keeping(compression: Compression, ratio: f64, lifecycle: Lifecycle) -> Keeping {
        Keeping { compression, ratio, lifecycle, noncurrent_days: 30 }
    }

    /// One month of plain objects kept in Standard.
    fn estimate(fleet: &Fleet, pipeline: &PipelineSettings, prices: &RegionPrices, packed: bool) -> Vec<Row> {
        bill(fleet, pipeline, prices, packed, &keeping(Compression::None, 1.0, Lifecycle::default()), 1)
    }

    /// 1,000 devices, one 250-byte reading a second each, worked out by hand.
    #[test]
    fn the_bill_for_a_fleet_worked_out_by_hand() {
        let fleet = Fleet { devices: 1000, rate: 1.0, reading_bytes: 250, record_bytes: 5120, linger_seconds: 20.0 };
        let month: f64 = 30.0 * 86_400.0;
        let gib: f64 = 1024.0 * 1024.0 * 1024.0;
        // One reading per record: 2.592e9 records, each billed as 5,120 bytes.
        let per_reading = estimate(&fleet, &pipeline(), &prices(), false);
        let billed = 1000.0 * month * 5120.0 / gib;
        assert!((billed - 12_359.6).abs() < 0.1, "{billed}");
        assert!((usd(&per_reading, "firehose_ingestion") - billed * 0.029).abs() < 1e-6);
        // Packed: 20 readings (5,000 bytes) fit and a 20 s linger collects them: one 5 KB unit per 20 readings.
        let packed = estimate(&fleet, &pipeline(), &prices(), true);
        assert_eq!(fleet.sending(true).readings_per_record, 20);
        let packed_billed = 1000.0 * month / 20.0 * 5120.0 / gib;
        assert!((usd(&packed, "firehose_ingestion") - packed_billed * 0.029).abs() < 1e-6);
        assert!((usd(&per_reading, "firehose_ingestion") / usd(&packed, "firehose_ingestion") - 20.0).abs() < 1e-9);
        // Lambda: 250 kB/s of readings fill the 1 MB processor buffer every 4 s: 648,000 invocations of 1 MB,
        // each 2 + 5 = 7 ms at 0.25 GB.
        let invocations = month / 4.0;
        let gb_s = invocations * 0.007 * 0.25;
        assert!((usd(&packed, "lambda_requests") - invocations / 1e6 * 0.20).abs() < 1e-9);
        assert!((usd(&packed, "lambda_compute") - gb_s * 0.0000166667).abs() < 1e-6);
        // The month's data, 338 bytes a reading with the transform's two fields, stored half the month on average.
        let stored = 1000.0 * 86_400.0 * 338.0 / gib * 15.0;
        assert!((usd(&packed, "s3_storage") - stored * 0.023).abs() < 1e-6);
        // The total is the sum of the month's components; the per-query and backlog rows are not in it.
        let in_total = |r: &&Row| r.component != "total" && !r.unit.ends_with("(not in the total)");
        let sum: f64 = packed.iter().filter(in_total).map(|r| r.usd).sum();
        assert!((usd(&packed, "total") - sum).abs() < 1e-9);
        assert!(packed.iter().all(|r| r.month == 1 && r.compression == "none"));
    }

    /// A year of 1,000 devices: gzip divides the lake and what queries scan by the ratio; storage grows month
    /// by month while ingestion stays the same; Glacier IR after 90 days adds transitions and costs less by the
    /// year's end.
    #[test]
    fn a_year_month_by_month_plain_gzip_and_tiers() {
        let fleet = Fleet { devices: 1000, rate: 1.0, reading_bytes: 250, record_bytes: 5120, linger_seconds: 20.0 };
        let year = |keeping: &Keeping| bill(&fleet, &pipeline(), &prices(), true, keeping, 12);
        let plain = year(&keeping(Compression::None, 1.0, Lifecycle::default()));
        let gzip = year(&keeping(Compression::Gzip, 5.0, Lifecycle::default()));
        let at = |rows: &[Row], month: u32, component: &str| {
            rows.iter().find(|r| r.month == month && r.component == component).unwrap().clone()
        };
        for month in 1..=12 {
            let (p, g) = (at(&plain, month, "s3_storage"), at(&gzip, month, "s3_storage"));
            assert!((p.quantity / g.quantity - 5.0).abs() < 1e-9);
            let (p, g) = (at(&plain, month, "athena_query_month"), at(&gzip, month, "athena_query_month"));
            assert!((p.usd / g.usd - 5.0).abs() < 1e-9, "month {month}");
            assert_eq!(at(&plain, month, "firehose_ingestion"), Row { month, ..at(&plain, 1, "firehose_ingestion") });
        }
        // Month 12 stores 23 times month 1's average (330 + 15 days against 15).
        let grows = at(&plain, 12, "s3_storage").quantity / at(&plain, 1, "s3_storage").quantity;
        assert!((grows - 23.0).abs() < 1e-9, "{grows}");
        // A query over the last month scans 30 days of data: 338 bytes × 1,000 devices × 86,400 s × 30, plain.
        let scanned = at(&plain, 12, "athena_query_month").quantity;
        assert!((scanned - 338.0 * 1000.0 * 86_400.0 * 30.0 / (1024.0 * 1024.0 * 1024.0)).abs() < 1e-6);

        let cold =
            Lifecycle { cold_after_days: Some(90), cold_storage_class: StorageClass::GlacierIr, ..Default::default() };
        let tiered = year(&keeping(Compression::Gzip, 5.0, cold));
        assert_eq!(at(&tiered, 3, "s3_transitions").quantity, 0.0);
        assert!(at(&tiered, 4, "s3_transitions").quantity > 0.0);
        assert!(at(&tiered, 12, "total").usd < at(&gzip, 12, "total").usd);
        // No query within the last month reads Glacier IR data moved after 90 days: nothing retrieved.
        assert_eq!(at(&tiered, 12, "s3_retrieval_month").usd, 0.0);
    }

    #[test]
    fn a_short_linger_limits_packing_and_says_how_to_fix_it() {
        let fleet = Fleet { devices: 1000, rate: 1.0, reading_bytes: 330, record_bytes: 5120, linger_seconds: 1.0 };
        assert_eq!(fleet.sending(true).readings_per_record, 1);
        let advice = packing_advice(&fleet).unwrap();
        assert!(advice.contains("linger of 15s"), "{advice}");
        let fast = Fleet { rate: 20.0, ..fleet };
        assert_eq!(fast.sending(true).readings_per_record, 15);
        assert!(packing_advice(&fast).is_none());
    }

    #[test]
    fn quotas_are_checked_per_region() {
        let fleet = Fleet { devices: 200_000, rate: 1.0, reading_bytes: 330, record_bytes: 5120, linger_seconds: 20.0 };
        let warnings = quota_warnings(&fleet, "eu-central-1");
        assert!(
            warnings.iter().any(|w| w.starts_with("one reading per record: 200000 records/s exceeds")
                && w.contains("packing changes that")),
            "{warnings:?}"
        );
        assert!(warnings.iter().all(|w| !w.starts_with("packed") || w.contains("bytes/s")), "{warnings:?}");
        assert!(quota_warnings(&Fleet { devices: 100, ..fleet }, "us-east-1").is_empty());
    }

    #[test]
    fn alarms_and_the_dashboard_are_priced_when_on() {
        let fleet = Fleet { devices: 10, rate: 1.0, reading_bytes: 330, record_bytes: 5120, linger_seconds: 1.0 };
        let on = estimate(&fleet, &PipelineSettings::defaults(), &prices(), true);
        // Partitioning event (the default) has PartitionCountExceeded beside arrival's eight.
        assert!((usd(&on, "cloudwatch_alarms") - 0.90).abs() < 1e-9);
        let arrival = PipelineSettings { partitioning: Partitioning::Arrival, ..PipelineSettings::defaults() };
        let arrival = estimate(&fleet, &arrival, &prices(), true);
        assert!((usd(&arrival, "cloudwatch_alarms") - 0.80).abs() < 1e-9);
        assert!((usd(&on, "cloudwatch_metrics") - 0.30).abs() < 1e-9);
        assert!((usd(&on, "cloudwatch_dashboard") - 3.00).abs() < 1e-9);
        let off = estimate(&fleet, &pipeline(), &prices(), true);
        assert!((usd(&on, "total") - usd(&off, "total") - 4.20).abs() < 1e-9);
        assert!(!off.iter().any(|r| r.component.starts_with("cloudwatch_a")));
        assert!(!on.iter().any(|r| r.component.contains("kms")), "the alarm topic has no key to pay for");
    }

    /// 1,000 devices, one 250-byte reading a second each, partitioned by the readings' hour, worked out by hand.
    #[test]
    fn event_mode_bills_the_gb_and_objects_it_delivers_and_prices_a_days_backlog_apart() {
        let fleet = Fleet { devices: 1000, rate: 1.0, reading_bytes: 250, record_bytes: 5120, linger_seconds: 20.0 };
        let (month, gib): (f64, f64) = (30.0 * 86_400.0, 1024.0 * 1024.0 * 1024.0);
        let event = pipeline();
        assert_eq!(event.partitioning, Partitioning::Event, "new pipelines");
        let rows = estimate(&fleet, &event, &prices(), true);
        let row = |c: &str| row_of(&rows, c);
        // Delivered: 338 bytes a reading with the transform's two fields, before compression.
        let gb = 1000.0 * 338.0 * month / gib;
        let delivered = row("firehose_partitioned_gb");
        assert!((delivered.quantity - gb).abs() < 1e-6 && (delivered.usd - gb * 0.020).abs() < 1e-6);
        // 338 kB/s fills no 64 MiB buffer in 60 s: one object a minute, and one more an hour for the readings of
        // the hour before still arriving; S3 gets a PUT for each.
        let objects = month / 3600.0 * 61.0;
        let written = row("firehose_partitioned_objects");
        assert!((written.quantity - objects).abs() < 1e-6 && (written.usd - objects / 1000.0 * 0.005).abs() < 1e-9);
        assert!((row("s3_put").quantity - objects).abs() < 1e-6);
        // A fleet sending a day's backlog: 24 partitions a flush, each an object and a PUT; beside the total.
        let backlog = row("partitioned_objects_backlog");
        let backlog_objects = month / 60.0 * 24.0;
        assert!((backlog.quantity - backlog_objects).abs() < 1e-6, "{backlog:?}");
        assert!((backlog.usd - backlog_objects / 1000.0 * (0.005 + 0.005)).abs() < 1e-6);
        assert!(backlog.unit.ends_with("(not in the total)"));

        let arrival = PipelineSettings { partitioning: Partitioning::Arrival, ..pipeline() };
        let rows = estimate(&fleet, &arrival, &prices(), true);
        assert!(!rows.iter().any(|r| r.component.contains("partitioned")), "arrival mode has no such fee");
        assert!((row_of(&rows, "s3_put").quantity - month / 60.0).abs() < 1e-6, "one buffer, one object a minute");
    }

    fn row_of(rows: &[Row], component: &str) -> Row {
        rows.iter().find(|r| r.component == component).unwrap_or_else(|| panic!("no {component} row")).clone()
    }

    #[test]
    fn arm64_compute_is_cheaper() {
        let fleet = Fleet { devices: 1000, rate: 1.0, reading_bytes: 330, record_bytes: 5120, linger_seconds: 1.0 };
        let x86 = usd(&estimate(&fleet, &pipeline(), &prices(), true), "lambda_compute");
        let arm64 = PipelineSettings { architecture: "arm64".into(), ..pipeline() };
        let arm = usd(&estimate(&fleet, &arm64, &prices(), true), "lambda_compute");
        assert!((arm / x86 - 0.8).abs() < 0.001, "{arm} vs {x86}");
    }
}
