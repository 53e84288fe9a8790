//! `--verify`: waits until every accepted reading of this run is visible under the processed or error prefix,
//! matched by (device_id, seq) and the run id, and measures end-to-end latency (made → object visible). Readings
//! are looked for in the partitions [`Prefix::partition_hours`] names for the lake's layout: from the hour of the
//! run's first `TIME` when filed by the reading's hour (a past day sent with `--start` is found in its own hours),
//! from the hour before the run when filed by arrival.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;

use super::Tracker;
use crate::device::key_in;
use crate::prefix::{Prefix, key_hour};
use crate::read_ahead::for_each_object;
use crate::seams::{ObjectLake, ObjectMeta};
use crate::settings::{DEFAULT_ERROR_PREFIX, DEFAULT_PREFIX, PipelineSettings};

/// What verification found.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub(crate) struct Verification {
    pub(crate) expected: usize,
    pub(crate) delivered: usize,
    pub(crate) in_error: usize,
    /// Of those in error, how many were sent malformed on purpose.
    pub(crate) malformed_in_error: usize,
    /// Malformed readings that were delivered as processed (the pipeline did not run the transform).
    pub(crate) malformed_delivered: usize,
    pub(crate) missing: usize,
    pub(crate) duplicated: usize,
    pub(crate) latency_ms_p50: Option<i64>,
    pub(crate) latency_ms_p95: Option<i64>,
    pub(crate) latency_ms_p99: Option<i64>,
    pub(crate) objects_read: usize,
    pub(crate) unreadable_objects: usize,
}

/// Where the readings of a run can be: under the processed and error roots, in the partitions that can hold
/// them ([`Prefix::partition_hours`] from the run's first reading's hour, when filed by the reading's hour, or from
/// the run's start, when filed by arrival; keys sort by time there, so the listing starts at the first), plus keys
/// whose prefix expressions were never evaluated (an emulator stores `processed/year=!{timestamp:yyyy}/…`
/// literally).
fn candidate_objects(
    lake: &dyn ObjectLake,
    settings: &PipelineSettings,
    tracker: &Tracker,
) -> Result<Vec<(ObjectMeta, bool)>> {
    let now = chrono::Utc::now();
    let mut out = Vec::new();
    for (text, error) in [(&settings.prefix, false), (&settings.error_prefix, true)] {
        let prefix = Prefix::parse(text, error)?;
        // Filed by the reading's hour, a reading is under its `TIME`'s (or, without a usable one, its arrival's);
        // filed by arrival, under an hour after the run started.
        let since = if prefix.is_keyed() { tracker.measured_from.min(tracker.started) } else { tracker.started };
        let hours = prefix.partition_hours(Some(since), None, now);
        let root = prefix.static_root();
        // The default prefixes and the keys the tool writes sort by time (yyyy, MM, dd, HH, zero-padded): the
        // listing can start at the first hour. Other prefixes may not, and are listed whole.
        let sorted_by_time = [DEFAULT_PREFIX, DEFAULT_ERROR_PREFIX].contains(&text.as_str()) || prefix.is_keyed();
        let after = match hours.first {
            Some(first) if sorted_by_time => prefix.render(first, "processing-failed"),
            _ => String::new(),
        };
        let mut objects = lake.list_after(root, &after)?;
        objects.extend(lake.list(&format!("{root}!{{"))?);
        for object in objects {
            // Skip partitions that cannot hold this run's readings; keep keys without a recognisable hour.
            if key_hour(&object.key).is_some_and(|h| !hours.contains(h)) {
                continue;
            }
            out.push((object, error));
        }
    }
    out.sort_by(|a, b| a.0.key.cmp(&b.0.key));
    out.dedup_by(|a, b| a.0.key == b.0.key);
    Ok(out)
}

/// Polls the lake until every accepted reading is found or `timeout` passes.
pub(crate) fn verify(
    lake: &dyn ObjectLake,
    settings: &PipelineSettings,
    tracker: &Tracker,
    timeout: Duration,
    concurrency: usize,
) -> Result<Verification> {
    let expected: HashSet<(usize, u64)> = tracker.accepted_keys().into_iter().collect();
    let mut found: HashMap<(usize, u64), (bool, u32)> = HashMap::with_capacity(expected.len());
    let mut read: HashSet<String> = HashSet::new();
    let mut latencies = Vec::with_capacity(expected.len());
    let mut report = Verification { expected: expected.len(), ..Verification::default() };
    let deadline = Instant::now() + timeout;
    loop {
        let objects: Vec<(ObjectMeta, bool)> =
            candidate_objects(lake, settings, tracker)?.into_iter().filter(|(o, _)| !read.contains(&o.key)).collect();
        let metas: Vec<ObjectMeta> = objects.iter().map(|(o, _)| o.clone()).collect();
        let is_error: HashMap<&str, bool> = objects.iter().map(|(o, e)| (o.key.as_str(), *e)).collect();
        for_each_object(lake, &metas, concurrency, |meta, bytes| {
            read.insert(meta.key.clone());
            report.objects_read += 1;
            let Ok(bytes) = bytes else {
                report.unreadable_objects += 1;
                return Ok(());
            };
            let error = is_error[meta.key.as_str()];
            for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let failed;
                let (payload, topic_device) = if error {
                    // A refused record, opened: an IoT message's device is its topic's.
                    let Some(record) = crate::failed_records::parse(line) else { continue };
                    failed = record;
                    (&failed.payload[..], failed.device_id.as_deref())
                } else {
                    (line, None)
                };
                let Some((claimed, seq, run)) = key_in(payload) else { continue };
                let device = topic_device.map_or(claimed, str::to_owned);
                if run != tracker.run {
                    continue;
                }
                let Some(index) = tracker.device_index(&device) else { continue };
                let entry = found.entry((index, seq)).or_insert((error, 0));
                entry.1 += 1;
                if entry.1 > 1 {
                    continue;
                }
                if let Some(made) = tracker.made_at(index, seq) {
                    latencies.push((meta.last_modified - made).num_milliseconds().max(0));
                }
            }
            Ok(())
        })?;
        let missing = expected.iter().filter(|k| !found.contains_key(k)).count();
        if missing == 0 || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(500).min(deadline.saturating_duration_since(Instant::now())));
    }
    for (key, (error, count)) in &found {
        if !expected.contains(key) {
            continue;
        }
        let malformed = tracker.is_malformed(key.0, key.1);
        match (error, malformed) {
            (true, true) => {
                report.in_error += 1;
                report.malformed_in_error += 1;
            }
            (true, false) => report.in_error += 1,
            (false, true) => {
                report.delivered += 1;
                report.malformed_delivered += 1;
            }
            (false, false) => report.delivered += 1,
        }
        if *count > 1 {
            report.duplicated += 1;
        }
    }
    report.missing = expected.iter().filter(|k| !found.contains_key(k)).count();
    latencies.sort_unstable();
    let pct = |p: f64| (!latencies.is_empty()).then(|| latencies[((latencies.len() - 1) as f64 * p).round() as usize]);
    report.latency_ms_p50 = pct(0.50);
    report.latency_ms_p95 = pct(0.95);
    report.latency_ms_p99 = pct(0.99);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::lake::DirLake;
    use crate::settings::{Partitioning, SettingsInput};

    fn keys(lake: &DirLake, settings: &PipelineSettings, tracker: &Tracker) -> Vec<String> {
        candidate_objects(lake, settings, tracker).unwrap().into_iter().map(|(o, _)| o.key).collect()
    }

    #[test]
    fn candidates_start_at_the_run_and_include_literal_prefixes() {
        let dir = tempfile::tempdir().unwrap();
        let lake = DirLake::new(dir.path(), "b");
        let input = SettingsInput { partitioning: Some(Partitioning::Arrival), ..SettingsInput::default() };
        let settings = PipelineSettings::resolve(input).unwrap();
        let started: chrono::DateTime<chrono::Utc> = "2026-11-25T21:30:00Z".parse().unwrap();
        let tracker = Tracker::new("run1", started, started, 1);
        let prefix = Prefix::parse(&settings.prefix, false).unwrap();
        for (hours_before, name) in [(3, "old"), (1, "hour-before"), (0, "now")] {
            let key = prefix.render(started - chrono::Duration::hours(hours_before), "") + name;
            lake.put(&key, b"{}\n").unwrap();
        }
        lake.put("processed/year=!{timestamp:yyyy}/month=!{timestamp:MM}/2026/11/25/21/moto", b"{}\n").unwrap();
        lake.put("error/processing-failed/year=2026/month=11/day=25/hour=21/e", b"{}\n").unwrap();
        assert_eq!(
            keys(&lake, &settings, &tracker),
            [
                "error/processing-failed/year=2026/month=11/day=25/hour=21/e",
                "processed/year=!{timestamp:yyyy}/month=!{timestamp:MM}/2026/11/25/21/moto",
                "processed/year=2026/month=11/day=25/hour=20/hour-before",
                "processed/year=2026/month=11/day=25/hour=21/now",
            ]
        );
    }

    /// Filed by the reading's hour, a run sent now with `--start` a day back is found in the hours it was
    /// measured, and partitions from before its first reading are not read; refused records stay by arrival.
    #[test]
    fn keyed_candidates_are_the_hours_the_run_was_measured_in() {
        let dir = tempfile::tempdir().unwrap();
        let lake = DirLake::new(dir.path(), "b");
        let input = SettingsInput { partitioning: Some(Partitioning::Event), ..SettingsInput::default() };
        let settings = PipelineSettings::resolve(input).unwrap();
        let prefix = Prefix::parse(&settings.prefix, false).unwrap();
        assert!(prefix.is_keyed());
        let now = chrono::Utc::now();
        let measured_from = crate::prefix::hour_of(now) - chrono::Duration::hours(24) + chrono::Duration::minutes(59);
        let tracker = Tracker::new("run1", now, measured_from, 1);
        let hour = |h: i64| crate::prefix::hour_of(measured_from) + chrono::Duration::hours(h);
        for (h, name) in [(-1, "before-the-run"), (0, "first-hour"), (1, "second-hour"), (24, "sent-now")] {
            lake.put(&(prefix.render_partition(now, hour(h), "") + name), b"{}\n").unwrap();
        }
        let error = Prefix::parse(&settings.error_prefix, true).unwrap();
        lake.put(&(error.render(hour(0), "processing-failed") + "measured-hour"), b"{}\n").unwrap();
        lake.put(&(error.render(now, "processing-failed") + "arrived-now"), b"{}\n").unwrap();
        let found = keys(&lake, &settings, &tracker);
        let names: Vec<&str> = found.iter().map(|k| k.rsplit('/').next().unwrap()).collect();
        assert_eq!(names, ["arrived-now", "first-hour", "second-hour", "sent-now"], "{found:?}");
    }
}
