//! The local stream's per-minute counters, what CloudWatch is to the deployed one: each running stream (in
//! `simulate`, `broker` or `demo`) appends one JSON line per minute it was busy to its stack's `metrics.jsonl`
//! (`<data-dir>/stacks/<stack>/`), while it runs and when it stops. Each line is written with one `write` on a
//! file opened for appending, so two processes writing at once interleave whole lines; `health --local` sums the
//! lines of each minute.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::seams::VitalSource;
use crate::seams::vitals::{Series, Vitals, Window};

/// Width of a duration histogram bucket: each is 10% wider than the one before.
const BUCKET_GROWTH: f64 = 1.1;

/// What one stream did in one minute.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Minute {
    /// Minutes since the Unix epoch.
    pub(crate) minute: i64,
    pub(crate) records_in: u64,
    pub(crate) bytes_in: u64,
    pub(crate) records_failed: u64,
    /// Age in seconds of the oldest record held undelivered, the largest seen in the minute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) freshness_max_s: Option<f64>,
    /// Objects written to the lake, and writes that failed.
    pub(crate) deliveries: u64,
    pub(crate) deliveries_failed: u64,
    pub(crate) invocations: u64,
    pub(crate) invocation_errors: u64,
    /// Invocation durations: bucket `i` counts durations up to 1.1^i microseconds.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) duration_us: BTreeMap<u16, u64>,
    /// Messages the local IoT rule (the broker) could not put into the stream.
    pub(crate) rule_failures: u64,
}

impl Minute {
    fn busy(&self) -> bool {
        *self != Minute { minute: self.minute, ..Minute::default() }
    }

    pub(crate) fn note_duration(&mut self, d: std::time::Duration) {
        let us = (d.as_secs_f64() * 1e6).max(1.0);
        let bucket = us.log(BUCKET_GROWTH).ceil().clamp(0.0, f64::from(u16::MAX)) as u16;
        *self.duration_us.entry(bucket).or_default() += 1;
    }

    pub(crate) fn note_freshness(&mut self, age_seconds: f64) {
        self.freshness_max_s = Some(self.freshness_max_s.map_or(age_seconds, |a| a.max(age_seconds)));
    }
}

/// The minute a stream is counting, appended to the file when the minute ends or the stream stops.
#[derive(Debug)]
pub(crate) struct MinuteLog {
    path: PathBuf,
    current: Minute,
}

impl MinuteLog {
    pub(crate) fn new(path: PathBuf) -> MinuteLog {
        MinuteLog { path, current: Minute { minute: Utc::now().timestamp().div_euclid(60), ..Minute::default() } }
    }

    /// The counters of the minute `now` is in (the previous minute is written out first).
    pub(crate) fn at(&mut self, now: DateTime<Utc>) -> Result<&mut Minute> {
        let minute = now.timestamp().div_euclid(60);
        if minute != self.current.minute {
            self.flush()?;
            self.current = Minute { minute, ..Minute::default() };
        }
        Ok(&mut self.current)
    }

    /// Appends the current minute if anything happened in it (one `write` of one line).
    pub(crate) fn flush(&mut self) -> Result<()> {
        if !self.current.busy() {
            return Ok(());
        }
        let mut line = serde_json::to_vec(&self.current)?;
        line.push(b'\n');
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .and_then(|mut f| f.write_all(&line))
            .with_context(|| format!("cannot append the stream's counters to {}", self.path.display()))?;
        self.current = Minute { minute: self.current.minute, ..Minute::default() };
        Ok(())
    }
}

/// The counters file read back as the local target's vitals.
pub(crate) struct LocalVitals {
    pub(crate) path: PathBuf,
}

impl LocalVitals {
    /// Every minute recorded in the file (a line cut short by a crash is skipped).
    pub(crate) fn minutes(path: &Path) -> Result<Vec<Minute>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        Ok(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
    }
}

impl VitalSource for LocalVitals {
    fn vitals(&self, window: &Window) -> Result<Vitals> {
        let mut v = Vitals {
            incoming_records: Series::empty(window),
            incoming_bytes: Series::empty(window),
            throttled_records: Series::empty(window),
            failed_records: Series::empty(window),
            freshness_seconds: Series::empty(window),
            delivery_success: Series::empty(window),
            lambda_errors: Some(Series::empty(window)),
            // Nothing throttles the local function, and nothing limits the local stream's rate.
            lambda_throttles: None,
            lambda_duration_p90_ms: Some(Series::empty(window)),
            iot_rule_failures: Some(Series::empty(window)),
            ..Vitals::default()
        };
        let mut window_histogram = BTreeMap::new();
        let mut period_histograms: BTreeMap<usize, BTreeMap<u16, u64>> = BTreeMap::new();
        let mut deliveries: BTreeMap<usize, (u64, u64)> = BTreeMap::new();
        let sum = |a: f64, b: f64| a + b;
        for m in Self::minutes(&self.path)? {
            let Some(t) = DateTime::from_timestamp(m.minute * 60, 0) else { continue };
            let Some(i) = window.index(t) else { continue };
            v.incoming_records.add(window, t, m.records_in as f64, sum);
            v.incoming_bytes.add(window, t, m.bytes_in as f64, sum);
            v.throttled_records.add(window, t, 0.0, sum);
            v.failed_records.add(window, t, m.records_failed as f64, sum);
            if let Some(age) = m.freshness_max_s {
                v.freshness_seconds.add(window, t, age, f64::max);
            }
            if let Some(s) = v.lambda_errors.as_mut() {
                s.add(window, t, m.invocation_errors as f64, sum);
            }
            if let Some(s) = v.iot_rule_failures.as_mut() {
                s.add(window, t, m.rule_failures as f64, sum);
            }
            let d = deliveries.entry(i).or_default();
            d.0 += m.deliveries;
            d.1 += m.deliveries_failed;
            for (bucket, n) in &m.duration_us {
                *window_histogram.entry(*bucket).or_insert(0) += n;
                *period_histograms.entry(i).or_default().entry(*bucket).or_insert(0) += n;
            }
        }
        for (i, (ok, failed)) in deliveries {
            if ok + failed > 0 {
                v.delivery_success.0[i] = Some(ok as f64 / (ok + failed) as f64);
            }
        }
        if let Some(s) = v.lambda_duration_p90_ms.as_mut() {
            for (i, h) in &period_histograms {
                s.0[*i] = p90_ms(h);
            }
        }
        v.lambda_duration_p90_ms_window = p90_ms(&window_histogram);
        Ok(v)
    }
}

/// The 90th percentile of a duration histogram, in milliseconds (the upper bound of its bucket).
fn p90_ms(histogram: &BTreeMap<u16, u64>) -> Option<f64> {
    let total: u64 = histogram.values().sum();
    let rank = (total as f64 * 0.9).ceil() as u64;
    let mut seen = 0;
    histogram.iter().find_map(|(bucket, n)| {
        seen += n;
        (seen >= rank && total > 0).then(|| BUCKET_GROWTH.powi(i32::from(*bucket)) / 1000.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seams::vitals::Window;

    #[test]
    fn two_writers_append_whole_lines_and_the_reader_sums_each_minute() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let now = Utc::now();
        let window =
            Window::over(now - chrono::Duration::minutes(10), now, now, crate::seams::vitals::Keeping::EveryMinute)
                .unwrap();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let mut log = MinuteLog::new(path);
                    for _ in 0..500 {
                        let m = log.at(now).unwrap();
                        m.records_in += 1;
                        m.bytes_in += 100;
                        m.deliveries += 1;
                        m.note_duration(std::time::Duration::from_millis(5));
                        log.flush().unwrap();
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(LocalVitals::minutes(&path).unwrap().len(), 2000, "every line whole");
        let v = LocalVitals { path }.vitals(&window).unwrap();
        assert_eq!(v.incoming_records.sum(), 2000.0);
        assert_eq!(v.incoming_bytes.sum(), 200_000.0);
        assert_eq!(v.delivery_success.min(), Some(1.0));
        let p90 = v.lambda_duration_p90_ms_window.unwrap();
        assert!((5.0..5.5).contains(&p90), "p90 within one bucket of 5 ms: {p90}");
        assert_eq!(v.lambda_throttles, None, "not applicable locally");
    }

    #[test]
    fn an_idle_minute_writes_nothing_and_a_new_minute_writes_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let mut log = MinuteLog::new(path.clone());
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        log.at(t0).unwrap();
        log.flush().unwrap();
        assert!(!path.exists(), "nothing happened: nothing written");
        log.at(t0).unwrap().records_failed = 3;
        log.at(t0 + chrono::Duration::seconds(61)).unwrap().records_in = 1;
        let minutes = LocalVitals::minutes(&path).unwrap();
        assert_eq!(minutes.len(), 1, "the minute that ended is written while the stream runs");
        assert_eq!((minutes[0].minute, minutes[0].records_failed), (30_000_000, 3));
    }

    #[test]
    fn p90_of_a_histogram() {
        let mut m = Minute::default();
        for ms in 1..=100 {
            m.note_duration(std::time::Duration::from_millis(ms));
        }
        let p90 = p90_ms(&m.duration_us).unwrap();
        assert!((90.0..=99.0).contains(&p90), "{p90}");
        assert_eq!(p90_ms(&BTreeMap::new()), None);
    }
}
