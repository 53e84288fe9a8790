//! `--verify`: waits until every accepted reading of this run is visible under the processed or error prefix,
//! matched by (device_id, seq) and the run id, and measures end-to-end latency (made → object visible).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;

use super::Tracker;
use crate::device::key_in;
use crate::prefix::{Prefix, first_partition_hour, key_hour};
use crate::read_ahead::for_each_object;
use crate::settings::{DEFAULT_ERROR_PREFIX, DEFAULT_PREFIX, PipelineSettings};
use crate::target::{ObjectLake, ObjectMeta};

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

/// Where the readings of a run can be: under the processed and error roots, from the partition of the hour before
/// the run on (keys sort by time there, so the listing starts at that hour), plus keys whose prefix expressions
/// were never evaluated (an emulator stores `processed/year=!{timestamp:yyyy}/…` literally).
fn candidate_objects(
    lake: &dyn ObjectLake,
    settings: &PipelineSettings,
    tracker: &Tracker,
) -> Result<Vec<(ObjectMeta, bool)>> {
    let since_hour = first_partition_hour(tracker.started);
    let mut out = Vec::new();
    for (text, error) in [(&settings.prefix, false), (&settings.error_prefix, true)] {
        let prefix = Prefix::parse(text, error)?;
        let root = prefix.static_root();
        // The default prefixes sort by time (yyyy, MM, dd, HH, zero-padded): the listing can start at the run's
        // first hour. Other prefixes may not, and are listed whole.
        let sorted_by_time = [DEFAULT_PREFIX, DEFAULT_ERROR_PREFIX].contains(&text.as_str());
        let after = if sorted_by_time { prefix.render(since_hour, "processing-failed") } else { String::new() };
        let mut objects = lake.list_after(root, &after)?;
        objects.extend(lake.list(&format!("{root}!{{"))?);
        for object in objects {
            // Skip partitions from before this run; keep keys without a recognisable hour.
            if key_hour(&object.key).is_some_and(|h| h < since_hour) {
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
    use crate::settings::SettingsInput;

    #[test]
    fn candidates_start_at_the_run_and_include_literal_prefixes() {
        let dir = tempfile::tempdir().unwrap();
        let lake = DirLake::new(dir.path(), "b");
        let settings = PipelineSettings::resolve(SettingsInput::default()).unwrap();
        let started: chrono::DateTime<chrono::Utc> = "2026-11-25T21:30:00Z".parse().unwrap();
        let tracker = Tracker::new("run1", started, 1);
        let prefix = Prefix::parse(&settings.prefix, false).unwrap();
        for (hours_before, name) in [(3, "old"), (1, "hour-before"), (0, "now")] {
            let key = prefix.render(started - chrono::Duration::hours(hours_before), "") + name;
            lake.put(&key, b"{}\n").unwrap();
        }
        lake.put("processed/year=!{timestamp:yyyy}/month=!{timestamp:MM}/2026/11/25/21/moto", b"{}\n").unwrap();
        lake.put("error/processing-failed/year=2026/month=11/day=25/hour=21/e", b"{}\n").unwrap();
        let keys: Vec<String> =
            candidate_objects(&lake, &settings, &tracker).unwrap().into_iter().map(|(o, _)| o.key).collect();
        assert_eq!(
            keys,
            [
                "error/processing-failed/year=2026/month=11/day=25/hour=21/e",
                "processed/year=!{timestamp:yyyy}/month=!{timestamp:MM}/2026/11/25/21/moto",
                "processed/year=2026/month=11/day=25/hour=20/hour-before",
                "processed/year=2026/month=11/day=25/hour=21/now",
            ]
        );
    }
}
