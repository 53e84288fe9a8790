//! `report`: reads the processed readings back from the lake as rows — objects chosen by partition before any
//! is read, read concurrently with bounded memory, rows streamed to the chosen format — plus the per-device
//! summary and the count of error records by type.

pub(crate) mod athena;
pub mod columns;
pub mod html;
pub mod sql;
pub mod summary;
pub mod writer;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};

use self::writer::{Engine, Format};
use crate::copies::{Copies, CopyCounts, Verdict};
use crate::prefix::{PartitionHours, Prefix, key_hour};
use crate::read_ahead::for_each_object;
use crate::seams::{GivenNames, ObjectLake, ObjectMeta};
use crate::settings::PipelineSettings;

pub type Row = Map<String, Value>;

/// A report to write, validated.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) format: Format,
    pub(crate) engine: Engine,
    /// A query of the user's, run as it is (Athena).
    pub(crate) sql: Option<String>,
    pub(crate) output: Option<PathBuf>,
    pub(crate) query: Query,
    pub(crate) summary: bool,
    pub(crate) concurrency: usize,
    pub(crate) names: GivenNames,
}

/// Which rows to report: readings measured in `[since, until)` ([`reading_time`]), of `devices` (all when empty).
#[derive(Debug, Clone)]
pub struct Query {
    pub(crate) since: Option<DateTime<Utc>>,
    pub(crate) until: Option<DateTime<Utc>>,
    pub(crate) devices: Vec<String>,
    /// How long after `until` a reading of the window may have arrived and still be read (`report --late`);
    /// `None` reads every later arrival. Only a lake filed by arrival needs it ([`Prefix::partition_hours`]).
    pub(crate) late: Option<Duration>,
    /// Whether `--late` was given: a lake filed by the reading's hour says once that it does not apply.
    pub(crate) late_asked: bool,
    /// Every line the lake holds (`report --keep-duplicates`) instead of one copy of each reading
    /// ([`crate::copies`]).
    pub(crate) keep_duplicates: bool,
}

/// `report --late`'s default: readings that arrive up to an hour after the window still count.
pub(crate) const DEFAULT_LATENESS: Duration = Duration::hours(1);

impl Default for Query {
    /// Every reading, of every device, with the default lateness allowance.
    fn default() -> Query {
        Query {
            since: None,
            until: None,
            devices: Vec::new(),
            late: Some(DEFAULT_LATENESS),
            late_asked: false,
            keep_duplicates: false,
        }
    }
}

impl Query {
    /// Readings measured in `[since, until)` (`None`: open on that side), of every device.
    pub fn window(since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>) -> Query {
        Query { since, until, ..Query::default() }
    }

    /// The same query, for these devices only.
    pub fn of_devices(self, devices: Vec<String>) -> Query {
        Query { devices, ..self }
    }

    /// The same query with another lateness allowance (`report --late`; `None`: every later arrival).
    pub fn with_lateness(self, late: Option<Duration>) -> Query {
        Query { late, ..self }
    }

    /// The same query, keeping every copy of a reading (`true`) or one (`false`, the default).
    pub fn keeping_duplicates(self, keep: bool) -> Query {
        Query { keep_duplicates: keep, ..self }
    }

    /// The last arrival time whose partition is read: `until` plus the lateness allowance, or now when there is
    /// no `until` or no allowance (`--late all`). Readings arrive after they are measured, so the arrival
    /// partitions of a window end here ([`Prefix::partition_hours`]); partitions by reading time need no allowance.
    pub(crate) fn last_arrival(&self) -> DateTime<Utc> {
        match (self.until, self.late) {
            (Some(until), Some(late)) => until + late,
            (Some(until), None) => until.max(Utc::now()),
            (None, _) => Utc::now(),
        }
    }

    /// The partition hours under `prefix` that can hold the query's readings: the one rule of
    /// [`Prefix::partition_hours`], for both engines (exactly the window's hours when the prefix is keyed by the
    /// reading's hour; by arrival, an hour before `since` to the last arrival read).
    pub(crate) fn partition_hours(&self, prefix: &Prefix) -> PartitionHours {
        prefix.partition_hours(self.since, self.until, self.last_arrival())
    }
}

/// What reading the lake found besides rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadStats {
    pub(crate) objects: usize,
    pub rows: u64,
    /// One message per unreadable object or corrupt line (the report is partial when not empty).
    pub(crate) problems: Vec<String>,
    /// When the newest reported reading arrived (readings of a past window can still be arriving).
    pub(crate) newest_arrival: Option<DateTime<Utc>>,
    /// Copies dropped and conflicts kept, in all and by device; `None` when copies were kept.
    pub copies: Option<CopyCounts>,
    pub(crate) copies_by_device: BTreeMap<String, CopyCounts>,
}

/// Objects under `prefix` that can hold rows in the query's time range ([`Prefix::partition_hours`]): with a
/// time filter, only those partitions are listed (or, for a prefix that cannot be enumerated by hour, keys outside
/// them are skipped); without one, everything under the prefix's fixed root, whatever its layout.
pub fn select_objects(
    lake: &dyn ObjectLake,
    prefix: &Prefix,
    error_type: &str,
    query: &Query,
) -> Result<Vec<ObjectMeta>> {
    if query.since.is_none() && query.until.is_none() {
        return lake.list(prefix.static_root());
    }
    let hours = query.partition_hours(prefix);
    if let Some(prefixes) = prefix.hour_prefixes(hours, error_type) {
        let mut objects = Vec::new();
        for p in prefixes {
            objects.extend(lake.list(&p)?);
        }
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        objects.dedup_by(|a, b| a.key == b.key);
        return Ok(objects);
    }
    Ok(lake
        .list(prefix.static_root())?
        .into_iter()
        .filter(|o| key_hour(&o.key).is_none_or(|h| hours.contains(h)))
        .collect())
}

/// When a reading was measured: the `_reading_time` the transform adds. A row written before it added one gets
/// the transform's own rule (`reaqtions_lambda::time::reading_time_ms`): the device's `TIME` (UTC when it has no
/// zone), unless it is missing, more than an hour after the arrival or before 2024, then the arrival. A row
/// without an arrival (not written by the transform) has its `TIME`.
pub(crate) fn reading_time(row: &Row) -> Option<DateTime<Utc>> {
    let text = |field: &str| row.get(field).and_then(Value::as_str);
    if let Some(measured) = text(reaqtions_lambda::READING_TIME_FIELD).and_then(parse_row_time) {
        return Some(measured);
    }
    match arrival_time(row) {
        Some(arrival) => DateTime::from_timestamp_millis(reaqtions_lambda::time::reading_time_ms(
            text("TIME"),
            arrival.timestamp_millis(),
        )),
        None => text("TIME").and_then(parse_row_time),
    }
}

/// When an arrival row was ingested: Firehose's arrival time, or `None` for a row without one.
pub(crate) fn arrival_time(row: &Row) -> Option<DateTime<Utc>> {
    row.get(reaqtions_lambda::ARRIVAL_FIELD).and_then(Value::as_str).and_then(parse_row_time)
}

/// A time as rows carry it, read as the transform reads `TIME`: RFC 3339, or ISO 8601 without a zone (UTC).
fn parse_row_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(reaqtions_lambda::time::parse_utc_ms(text.as_bytes())?)
}

/// Reads every row of `objects` that matches the query, in key order, handing each to `row` with the line it
/// was parsed from; `object_done` hears the running row count after each object (for progress). Unless the query
/// keeps duplicates, a copy of a reading already handed over is dropped and counted ([`crate::copies`]): objects
/// come in key order and lines in order, so the first copy is kept whatever the concurrency.
pub fn for_each_row(
    lake: &dyn ObjectLake,
    objects: &[ObjectMeta],
    query: &Query,
    concurrency: usize,
    object_done: &mut dyn FnMut(u64),
    mut row: impl FnMut(Row, &[u8]) -> Result<()>,
) -> Result<ReadStats> {
    let mut stats = ReadStats::default();
    let mut copies = (!query.keep_duplicates).then(Copies::default);
    for_each_object(lake, objects, concurrency, |meta, bytes| {
        stats.objects += 1;
        let bytes = match bytes {
            Ok(b) => b,
            Err(e) => {
                stats.problems.push(format!("skipped {}: {e:#}", lake.location(&meta.key)));
                return Ok(());
            }
        };
        for (n, line) in bytes.split(|b| *b == b'\n').enumerate().filter(|(_, l)| !l.trim_ascii().is_empty()) {
            let parsed: Row = match serde_json::from_slice(line) {
                Ok(r) => r,
                Err(e) => {
                    stats.problems.push(format!("skipped line {} of {}: {e}", n + 1, lake.location(&meta.key)));
                    continue;
                }
            };
            if !query.devices.is_empty() {
                let device = parsed.get("device_id").and_then(Value::as_str).unwrap_or("");
                if !query.devices.iter().any(|d| d == device) {
                    continue;
                }
            }
            if query.since.is_some() || query.until.is_some() {
                let Some(t) = reading_time(&parsed) else { continue };
                if query.since.is_some_and(|s| t < s) || query.until.is_some_and(|u| t >= u) {
                    continue;
                }
            }
            if let Some(copies) = copies.as_mut()
                && copies.judge(&parsed, line) == Verdict::Copy
            {
                continue;
            }
            // How late the newest reading arrived is said only for a window with an end.
            if query.until.is_some()
                && let Some(arrived) = arrival_time(&parsed)
            {
                stats.newest_arrival = stats.newest_arrival.max(Some(arrived));
            }
            stats.rows += 1;
            row(parsed, line)?;
        }
        object_done(stats.rows);
        Ok(())
    })?;
    if let Some(copies) = copies {
        stats.copies = Some(copies.counts());
        stats.copies_by_device = copies.by_device().clone();
    }
    Ok(stats)
}

/// Says what a window of the past may still lack. In a lake filed by arrival (`prefix` not keyed), readings that
/// arrived after the lateness allowance are not read; in one filed by the reading's hour every reading of the window
/// is read, and a `--late` given is said not to apply. In both, the newest arrival read says how late the lake was
/// still filling the window (a past hour can still change).
pub(crate) fn lateness_said(query: &Query, prefix: &Prefix, newest_arrival: Option<DateTime<Utc>>) {
    if prefix.is_keyed() && query.late_asked {
        crate::say!(
            "report: --late does not apply here: readings are filed under the hour they were measured, so every \
             reading of the window is read however late it arrived"
        );
    }
    let Some(until) = query.until else { return };
    let at = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ");
    if let Some(late) = query.late.filter(|_| !prefix.is_keyed()) {
        crate::say!(
            "report: readings measured before {} that arrived after {} are not read (--late all reads them)",
            at(until),
            at(until + late)
        );
    }
    if let Some(arrived) = newest_arrival.filter(|a| *a > until) {
        let after = humantime::format_duration(std::time::Duration::from_secs((arrived - until).num_seconds() as u64));
        crate::say!("report: the newest reading read arrived {after} after the window's end, at {}", at(arrived));
    }
}

/// Error records under the error prefix that belong to the query, counted by their `errorCode` and by device
/// (an IoT message opened). They honour the report's filters as its rows do: `--since/--until` by when the refused
/// reading was measured ([`failed_time`]), `--device` by the device the record names ([`failed_device`]). A record
/// a filter cannot be decided for (one that names no device under `--device`, a line that is no error record under
/// either) is not counted but said in [`ErrorCounts::undecided`].
pub(crate) fn error_counts(
    lake: &dyn ObjectLake,
    settings: &PipelineSettings,
    query: &Query,
    concurrency: usize,
) -> Result<ErrorCounts> {
    let prefix = Prefix::parse(&settings.error_prefix, true)?;
    let mut objects = Vec::new();
    for folder in crate::failed_records::ERROR_FOLDERS {
        objects.extend(select_objects(lake, &prefix, folder, query)?);
    }
    objects.sort_by(|a, b| a.key.cmp(&b.key));
    objects.dedup_by(|a, b| a.key == b.key);
    let windowed = query.since.is_some() || query.until.is_some();
    let filtered = windowed || !query.devices.is_empty();
    let mut counts = ErrorCounts::default();
    for_each_object(lake, &objects, concurrency, |_, bytes| {
        for line in bytes.unwrap_or_default().split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let Some(failed) = crate::failed_records::parse(line) else {
                if filtered {
                    counts.undecided += 1;
                } else {
                    *counts.by_code.entry("unparseable".to_owned()).or_insert(0) += 1;
                    *counts.by_device.entry(UNATTRIBUTED.to_owned()).or_insert(0) += 1;
                }
                continue;
            };
            let device = failed_device(&failed);
            if !query.devices.is_empty() {
                match &device {
                    None => {
                        counts.undecided += 1;
                        continue;
                    }
                    Some(d) if !query.devices.contains(d) => continue,
                    Some(_) => {}
                }
            }
            if windowed {
                let Some(t) = failed_time(&failed) else {
                    counts.undecided += 1;
                    continue;
                };
                if query.since.is_some_and(|s| t < s) || query.until.is_some_and(|u| t >= u) {
                    continue;
                }
            }
            let code = failed.error_code.unwrap_or_else(|| "unparseable".to_owned());
            *counts.by_code.entry(code).or_insert(0) += 1;
            *counts.by_device.entry(device.unwrap_or_else(|| UNATTRIBUTED.to_owned())).or_insert(0) += 1;
        }
        Ok(())
    })?;
    Ok(counts)
}

/// Refused records, counted by Firehose's error code and by device.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ErrorCounts {
    pub(crate) by_code: BTreeMap<String, u64>,
    /// By the topic's device for an IoT message, by the `device_id` a Direct-PUT record's bytes name, else
    /// [`UNATTRIBUTED`] (only without `--device`).
    pub(crate) by_device: BTreeMap<String, u64>,
    /// Records read but not counted because a filter given cannot be decided for them: under `--device`, those that
    /// name no device (they may be the device's); under a window or `--device`, lines that are no error record.
    pub(crate) undecided: u64,
}

/// The device of a refused record that names none.
pub(crate) const UNATTRIBUTED: &str = "(unattributed)";

/// The device a refused record names: the IoT topic's, else the `device_id` its bytes hold.
fn failed_device(failed: &crate::failed_records::FailedRecord) -> Option<String> {
    failed.device_id.clone().or_else(|| claimed_device(&failed.payload))
}

/// The `device_id` a refused record's own bytes name, when they are a JSON object with one.
fn claimed_device(payload: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(payload).ok()?;
    value.get("device_id")?.as_str().map(str::to_owned)
}

/// When a refused record's reading was measured, by the rule rows are read by ([`reading_time`]): the `TIME` of
/// its first reading when the bytes are JSON and the transform would believe it, else Firehose's arrival. A record
/// without an arrival (not written by Firehose) has its `TIME`, or no time.
fn failed_time(failed: &crate::failed_records::FailedRecord) -> Option<DateTime<Utc>> {
    let first = failed.payload.split(|b| *b == b'\n').find(|l| !l.trim_ascii().is_empty()).unwrap_or_default();
    let reading: Option<Row> = serde_json::from_slice(first).ok();
    let time = reading.as_ref().and_then(|r| r.get("TIME")).and_then(Value::as_str);
    match failed.arrival_ms {
        Some(arrival) => DateTime::from_timestamp_millis(reaqtions_lambda::time::reading_time_ms(time, arrival)),
        None => time.and_then(parse_row_time),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::lake::DirLake;
    use crate::settings::DEFAULT_PREFIX;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn time_filters_prune_by_partition_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let lake = DirLake::new(dir.path(), "b");
        let prefix = Prefix::parse(DEFAULT_PREFIX, false).unwrap();
        for hour in ["2026-11-25T20:10:00Z", "2026-11-25T21:10:00Z", "2026-11-25T22:10:00Z", "2026-11-26T01:00:00Z"] {
            lake.put(&format!("{}obj", prefix.render(at(hour), "")), b"{}\n").unwrap();
        }
        let keys = |q: Query| -> Vec<String> {
            select_objects(&lake, &prefix, "", &q).unwrap().into_iter().map(|o| o.key).collect()
        };
        let q = Query {
            since: Some(at("2026-11-25T21:30:00Z")),
            until: Some(at("2026-11-25T22:30:00Z")),
            late: Some(Duration::zero()),
            ..Query::default()
        };
        // Hour 20 can hold what arrived at 21:30 (an object is filed under its oldest record's hour).
        let window = [
            "processed/year=2026/month=11/day=25/hour=20/obj",
            "processed/year=2026/month=11/day=25/hour=21/obj",
            "processed/year=2026/month=11/day=25/hour=22/obj",
        ];
        assert_eq!(keys(q.clone()), window);
        // The same partitions when the prefix cannot be listed by hour and keys are filtered instead.
        let unlisted = Prefix::parse("processed/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/!{firehose:random-string}/", false).unwrap();
        let filtered: Vec<String> =
            select_objects(&lake, &unlisted, "", &q).unwrap().into_iter().map(|o| o.key).collect();
        assert_eq!(filtered, window);
        assert_eq!(keys(Query::default()).len(), 4);
        // Readings of the window arrive up to the lateness allowance after it (an hour by default), and `until`
        // is exclusive: the hour that starts at until + allowance holds nothing the window reads.
        let punctual = Query { late: Some(Duration::zero()), ..q.clone() };
        assert_eq!(keys(punctual), window, "without lateness, the window's own arrival hours");
        let open_ended = Query { until: Some(at("2026-11-25T21:00:00Z")), ..Query::default() };
        assert_eq!(keys(open_ended).len(), 2, "hour 21 can hold what was measured before 21:00");
        let open_ended = Query { until: Some(at("2026-11-25T21:00:00Z")), late: Some(Duration::zero()), ..q.clone() };
        assert_eq!(keys(open_ended).len(), 1);
        let any = Query { until: Some(at("2026-11-25T21:00:00Z")), late: None, ..Query::default() };
        assert_eq!(keys(any).len(), 4, "--late all reads every later arrival");
    }

    #[test]
    fn a_keyed_prefix_lists_exactly_the_windows_hours_however_late_its_readings_arrived() {
        let dir = tempfile::tempdir().unwrap();
        let lake = DirLake::new(dir.path(), "b");
        let prefix = Prefix::parse(&crate::prefix::keyed_prefix("processed/"), false).unwrap();
        assert!(prefix.is_keyed());
        // (arrival of the object's oldest record, the readings' hour, a reading measured then)
        let objects = [
            ("2026-11-25T12:05:00Z", "2026-11-25T10:00:00Z", "late", "2026-11-25T10:59:00.000Z"),
            ("2026-11-25T09:30:05Z", "2026-11-25T09:00:00Z", "before", "2026-11-25T09:30:00.000Z"),
            ("2026-11-25T11:00:05Z", "2026-11-25T11:00:00Z", "after", "2026-11-25T11:00:00.000Z"),
            ("2026-11-25T12:30:05Z", "2026-11-25T12:00:00Z", "noon", "2026-11-25T12:30:00.000Z"),
        ];
        for (arrival, hour, device, measured) in objects {
            let line = serde_json::json!({"device_id": device, "seq": 1, "_firehose_arrival": arrival, "_reading_time": measured});
            let key = format!("{}{device}", prefix.render_partition(at(arrival), at(hour), ""));
            lake.put(&key, format!("{line}\n").as_bytes()).unwrap();
        }
        let read = |since: &str, until: &str, late: Option<Duration>| {
            let q = Query { late, ..Query::window(Some(at(since)), Some(at(until))) };
            let objects = select_objects(&lake, &prefix, "", &q).unwrap();
            let listed: Vec<String> = objects.iter().map(|o| o.key.clone()).collect();
            let mut devices = Vec::new();
            let stats = for_each_row(&lake, &objects, &q, 2, &mut |_| {}, |row, _| {
                devices.push(row["device_id"].as_str().unwrap().to_owned());
                Ok(())
            })
            .unwrap();
            (listed, devices, stats.newest_arrival)
        };
        for late in [Some(Duration::zero()), Some(DEFAULT_LATENESS), None] {
            let (listed, devices, newest) = read("2026-11-25T10:00:00Z", "2026-11-25T11:00:00Z", late);
            assert_eq!(listed, ["processed/year=2026/month=11/day=25/hour=10/late"], "only hour 10, --late {late:?}");
            assert_eq!(devices, ["late"], "measured 10:59, arrived 12:05");
            assert_eq!(newest, Some(at("2026-11-25T12:05:00Z")), "how late the newest arrival read was");
            let (listed, devices, _) = read("2026-11-25T12:00:00Z", "2026-11-25T13:00:00Z", late);
            assert_eq!(listed, ["processed/year=2026/month=11/day=25/hour=12/noon"], "not the hour it arrived");
            assert_eq!(devices, ["noon"]);
        }
        // Without an end, from --since's own hour to the hour a reading may be ahead of now.
        let open = Query::window(Some(at("2026-11-25T11:00:00Z")), None);
        assert_eq!(select_objects(&lake, &prefix, "", &open).unwrap().len(), 2, "hours 11 and 12");
    }

    #[test]
    fn other_layouts_are_read_without_a_time_filter() {
        let dir = tempfile::tempdir().unwrap();
        let lake = DirLake::new(dir.path(), "b");
        // What an emulator writes: the prefix taken literally, then its own folders.
        lake.put("processed/year=!{timestamp:yyyy}/2026/11/25/21/x", b"{\"device_id\":\"a\"}\n").unwrap();
        let prefix = Prefix::parse(DEFAULT_PREFIX, false).unwrap();
        let objects = select_objects(&lake, &prefix, "", &Query::default()).unwrap();
        assert_eq!(objects.len(), 1);
        let mut rows = Vec::new();
        let stats = for_each_row(&lake, &objects, &Query::default(), 4, &mut |_| {}, |r, _| {
            rows.push(r);
            Ok(())
        })
        .unwrap();
        assert_eq!((stats.rows, rows.len()), (1, 1));
    }

    #[test]
    fn corrupt_lines_are_skipped_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let lake = DirLake::new(dir.path(), "b");
        lake.put("processed/a", b"{\"device_id\":\"d1\"}\nnot json\n{\"device_id\":\"d2\"}\n").unwrap();
        let objects = lake.list("processed/").unwrap();
        let q = Query { devices: vec!["d2".into()], ..Query::default() };
        let mut rows = Vec::new();
        let stats = for_each_row(&lake, &objects, &q, 2, &mut |_| {}, |r, _| {
            rows.push(r);
            Ok(())
        })
        .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(stats.problems.len(), 1);
        let named = format!("line 2 of {}", lake.location("processed/a"));
        assert!(stats.problems[0].contains(&named), "{:?}", stats.problems);
    }

    /// The error counts beside a filtered report honour its window and devices, as its rows do.
    #[test]
    fn error_counts_honour_the_window_and_the_devices() {
        use base64_simd::STANDARD as B64;
        let dir = tempfile::tempdir().unwrap();
        let lake = DirLake::new(dir.path(), "b");
        let settings = PipelineSettings::defaults();
        let prefix = Prefix::parse(&settings.error_prefix, true).unwrap();
        let record = |raw: &[u8], arrival: &str, code: &str| {
            let ms = at(arrival).timestamp_millis();
            let raw = B64.encode_to_string(raw);
            serde_json::json!({"attemptsMade": 1, "arrivalTimestamp": ms, "errorCode": code, "rawData": raw})
                .to_string()
        };
        // Arrived 10:20: an IoT message of aq-1, aq-2's Direct-PUT reading measured 09:10 (before the window,
        // arrived late), bytes that name no device, and a line that is no error record.
        let early = [
            record(&reaqtions_lambda::envelope::seal("aq-1", b"{\"PM2_5\": -1}"), "2026-11-25T10:20:00Z", "Bad"),
            record(br#"{"device_id":"aq-2","TIME":"2026-11-25T09:10:00Z","PM2_5":"x"}"#, "2026-11-25T10:20:00Z", "Bad"),
            record(b"not json", "2026-11-25T10:20:00Z", "Unparseable"),
            "garbage".to_owned(),
        ];
        let late = [record(br#"{"device_id":"aq-2","PM2_5":"y"}"#, "2026-11-25T11:30:00Z", "Bad")];
        for (arrival, lines) in [("2026-11-25T10:20:00Z", &early[..]), ("2026-11-25T11:30:00Z", &late[..])] {
            let key = format!("{}obj", prefix.render(at(arrival), crate::failed_records::PROCESSING_FAILED_FOLDER));
            lake.put(&key, (lines.join("\n") + "\n").as_bytes()).unwrap();
        }
        let counts = |q: Query| error_counts(&lake, &settings, &q, 2).unwrap();
        let all = counts(Query::default());
        assert_eq!(
            all.by_code,
            BTreeMap::from([("Bad".into(), 3), ("Unparseable".into(), 1), ("unparseable".into(), 1)])
        );
        assert_eq!(all.by_device, BTreeMap::from([("aq-1".into(), 1), ("aq-2".into(), 2), (UNATTRIBUTED.into(), 2)]));
        assert_eq!(all.undecided, 0);

        let ten = Query::window(Some(at("2026-11-25T10:00:00Z")), Some(at("2026-11-25T11:00:00Z")));
        let windowed = counts(ten.clone());
        assert_eq!(
            windowed.by_device,
            BTreeMap::from([("aq-1".into(), 1), (UNATTRIBUTED.into(), 1)]),
            "09:10 and 11:30 are not in it"
        );
        assert_eq!(windowed.undecided, 1, "the line that is no error record has no time");

        let aq2 = counts(Query::default().of_devices(vec!["aq-2".into()]));
        assert_eq!(
            (aq2.by_code, aq2.by_device),
            (BTreeMap::from([("Bad".into(), 2)]), BTreeMap::from([("aq-2".into(), 2)]))
        );
        assert_eq!(aq2.undecided, 2, "what names no device may be aq-2's: said, not counted");
        let nine = Query::window(Some(at("2026-11-25T09:00:00Z")), Some(at("2026-11-25T10:00:00Z")));
        let aq2_nine = counts(nine.of_devices(vec!["aq-2".into()]));
        assert_eq!(aq2_nine.by_device, BTreeMap::from([("aq-2".into(), 1)]), "measured 09:10, arrived 10:20");
    }
}
