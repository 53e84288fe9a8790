//! Sends readings to a record sink without losing any: batches packed to the sink's limits, only the failed
//! entries of a partial failure resent, exponential backoff with full jitter, whole-call failures retried the
//! same way, and — when the retry budget runs out, or at once when a failure is one no retry can fix (a missing
//! stream, a denial, bad credentials) — the unsent readings written to a spool file. Every failure is counted by
//! its code.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use anyhow::{Context as _, Result};
use rand::Rng as _;

use crate::seams::batch::Outgoing;
use crate::seams::{RecordSink, SinkError};

/// How hard to try before spooling.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub(crate) max_retries: u32,
    pub(crate) base_delay: Duration,
    pub(crate) max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_retries: 8, base_delay: Duration::from_millis(50), max_delay: Duration::from_secs(5) }
    }
}

impl RetryPolicy {
    /// Full jitter: a uniform delay in `[0, min(max, base * 2^attempt)]`.
    fn delay(&self, attempt: u32) -> Duration {
        let cap = self.base_delay.saturating_mul(1 << attempt.min(20)).min(self.max_delay);
        cap.mul_f64(rand::rng().random_range(0.0..=1.0))
    }
}

/// Counters shared by every sending thread.
#[derive(Debug, Default)]
pub(crate) struct SendStats {
    /// Readings (newline-ended lines) in accepted records.
    pub(crate) accepted: AtomicU64,
    /// Records resent.
    pub(crate) retried: AtomicU64,
    /// Readings written to the spool file.
    pub(crate) spooled: AtomicU64,
    /// Records given up on by a sender without a spool (the caller keeps them).
    pub(crate) unsent: AtomicU64,
    /// Readings the spool had no room for (its size limit).
    pub(crate) left_out: AtomicU64,
    pub(crate) calls: AtomicU64,
    /// Refused entries and failed calls, by code.
    errors: Mutex<BTreeMap<String, u64>>,
    /// The failure no retry can fix that stopped sending, if one did.
    stopped: Mutex<Option<SinkError>>,
}

impl SendStats {
    /// Counts a failure by its code; the first of each code is logged with its message (shown with -v).
    fn count(&self, error: &SinkError, n: u64) {
        let mut errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        let seen = errors.entry(error.code.clone()).or_insert(0);
        if *seen == 0 {
            tracing::info!(code = %error.code, "first {}: {}", error.code, error.message);
        }
        *seen += n;
    }

    pub(crate) fn errors(&self) -> BTreeMap<String, u64> {
        self.errors.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The failure that stopped sending, if one did.
    pub(crate) fn stopped(&self) -> Option<SinkError> {
        self.stopped.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn stop(&self, error: &SinkError) {
        self.stopped.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_with(|| error.clone());
    }
}

/// The readings a record carries: its lines (a packed record holds several, each ending in a newline).
pub(crate) fn readings_in(record: &[u8]) -> u64 {
    let lines = memchr::memchr_iter(b'\n', record).count() as u64;
    if record.last() == Some(&b'\n') { lines.max(1) } else { lines + 1 }
}

/// Sends batches with retries; thread-safe, so several batches can be in flight.
pub(crate) struct Sender<'a> {
    sink: &'a dyn RecordSink,
    policy: RetryPolicy,
    /// Where records given up on go; `None` when the caller keeps them itself.
    spool_path: Option<PathBuf>,
    /// Bytes the spool may hold, and what it holds.
    spool_limit: u64,
    spooled_bytes: AtomicU64,
    spool: Mutex<Option<File>>,
    pub(crate) stats: SendStats,
    /// How a backoff is waited out: the thread sleeps (a test passes its own clock).
    wait: Box<dyn Fn(Duration) + Send + Sync + 'a>,
}

impl<'a> Sender<'a> {
    pub(crate) fn new(sink: &'a dyn RecordSink, policy: RetryPolicy, spool_path: PathBuf) -> Self {
        Sender {
            sink,
            policy,
            spool_path: Some(spool_path),
            spool_limit: u64::MAX,
            spooled_bytes: AtomicU64::new(0),
            spool: Mutex::new(None),
            stats: SendStats::default(),
            wait: Box::new(std::thread::sleep),
        }
    }

    /// The spool holds at most `bytes`; readings beyond are counted in `stats.left_out`.
    pub(crate) fn with_spool_limit(mut self, bytes: u64) -> Self {
        self.spool_limit = bytes;
        self
    }

    /// Waits out each backoff by calling `wait` instead of sleeping.
    #[cfg(test)]
    pub(crate) fn waiting_with(mut self, wait: impl Fn(Duration) + Send + Sync + 'a) -> Self {
        self.wait = Box::new(wait);
        self
    }

    /// A sender whose given-up records are only counted (`stats.unsent`): the caller still holds them.
    pub(crate) fn without_spool(sink: &'a dyn RecordSink, policy: RetryPolicy) -> Self {
        Sender {
            sink,
            policy,
            spool_path: None,
            spool_limit: 0,
            spooled_bytes: AtomicU64::new(0),
            spool: Mutex::new(None),
            stats: SendStats::default(),
            wait: Box::new(std::thread::sleep),
        }
    }

    pub(crate) fn spool_path(&self) -> Option<&PathBuf> {
        self.spool_path.as_ref().filter(|_| self.stats.spooled.load(Relaxed) > 0)
    }

    /// Whether a failure no retry can fix has stopped sending (what is left goes straight to the spool).
    pub(crate) fn is_stopped(&self) -> bool {
        self.stats.stopped.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }

    /// Sends one batch until every record is accepted, the retry budget is spent, or a failure no retry can fix
    /// stops sending; calls `accepted` for each accepted record. Records given up on are spooled (an error
    /// only if the spool cannot be written).
    pub(crate) fn send<T>(&self, batch: Vec<Outgoing<T>>, mut accepted: impl FnMut(&Outgoing<T>)) -> Result<()> {
        let mut remaining = batch;
        let mut attempt = 0;
        loop {
            if self.is_stopped() {
                return self.spool_records(&remaining);
            }
            let payload: Vec<Vec<u8>> = remaining.iter().map(|o| o.bytes.clone()).collect();
            self.stats.calls.fetch_add(1, Relaxed);
            let results = match self.sink.put_record_batch(&payload) {
                Ok(results) if results.len() == remaining.len() => {
                    for error in results.iter().flatten() {
                        self.stats.count(error, 1);
                        if error.permanent {
                            self.stats.stop(error);
                        }
                    }
                    results
                }
                Ok(results) => {
                    let e = SinkError::retryable(
                        "ResponseCountMismatch",
                        format!("the sink answered {} entries for {}", results.len(), remaining.len()),
                    );
                    self.stats.count(&e, 1);
                    vec![Some(e); remaining.len()]
                }
                Err(e) => {
                    self.stats.count(&e, 1);
                    if e.permanent {
                        self.stats.stop(&e);
                        return self.spool_records(&remaining);
                    }
                    vec![Some(e); remaining.len()]
                }
            };
            let mut failed = Vec::new();
            for (record, result) in remaining.into_iter().zip(results) {
                match result {
                    None => {
                        let readings = readings_in(&record.bytes);
                        if self.stats.accepted.fetch_add(readings, Relaxed) == 0 {
                            // Shown with -v; a test waits for it to know that readings are flowing.
                            tracing::info!(readings, "first readings accepted");
                        }
                        accepted(&record);
                    }
                    Some(_) => failed.push(record),
                }
            }
            if failed.is_empty() {
                return Ok(());
            }
            if attempt >= self.policy.max_retries || self.is_stopped() {
                return self.spool_records(&failed);
            }
            self.stats.retried.fetch_add(failed.len() as u64, Relaxed);
            (self.wait)(self.policy.delay(attempt));
            attempt += 1;
            remaining = failed;
        }
    }

    /// Records a sink accepted but could not make durable (the local lake could not be written): spooled like
    /// the ones given up on.
    pub(crate) fn spool_unwritten(&self, records: Vec<Vec<u8>>) -> Result<()> {
        let records: Vec<Outgoing<()>> = records.into_iter().map(|bytes| Outgoing { bytes, tag: () }).collect();
        self.spool_records(&records)
    }

    fn spool_records<T>(&self, records: &[Outgoing<T>]) -> Result<()> {
        let Some(spool_path) = &self.spool_path else {
            self.stats.unsent.fetch_add(records.len() as u64, Relaxed);
            return Ok(());
        };
        let mut guard = self.spool.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(spool_path)
                .with_context(|| format!("cannot open spool file {}", spool_path.display()))?;
            *guard = Some(file);
        }
        let file = guard.as_mut().expect("opened above");
        let mut readings = 0;
        for record in records {
            let mut line = record.bytes.clone();
            if line.last() != Some(&b'\n') {
                line.push(b'\n');
            }
            if self.spooled_bytes.load(Relaxed) + line.len() as u64 > self.spool_limit {
                self.stats.left_out.fetch_add(readings_in(&record.bytes), Relaxed);
                continue;
            }
            file.write_all(&line).with_context(|| format!("cannot write spool file {}", spool_path.display()))?;
            self.spooled_bytes.fetch_add(line.len() as u64, Relaxed);
            readings += readings_in(&record.bytes);
        }
        file.flush().with_context(|| format!("cannot write spool file {}", spool_path.display()))?;
        self.stats.spooled.fetch_add(readings, Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::limits::{FIREHOSE as LIMITS, SinkLimits};

    /// Fails every third entry, and every fourth call as a whole.
    struct Flaky {
        calls: AtomicUsize,
        received: Mutex<Vec<Vec<u8>>>,
    }

    impl RecordSink for Flaky {
        fn limits(&self) -> SinkLimits {
            LIMITS
        }
        fn put_record_batch(&self, records: &[Vec<u8>]) -> Result<Vec<Option<SinkError>>, SinkError> {
            let call = self.calls.fetch_add(1, Relaxed);
            if call % 4 == 3 {
                return Err(SinkError::retryable("HTTP503", "HTTP 503 Service Unavailable"));
            }
            let mut received = self.received.lock().unwrap();
            Ok(records
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    if (i + call).is_multiple_of(3) {
                        Some(SinkError::retryable("ServiceUnavailableException", "Slow down."))
                    } else {
                        received.push(r.clone());
                        None
                    }
                })
                .collect())
        }
        fn flush(&self) -> Result<()> {
            Ok(())
        }
    }

    /// A clock the test reads: each backoff the sender would have slept, in order, none slept.
    #[derive(Default)]
    struct Waits(Mutex<Vec<Duration>>);

    impl Waits {
        fn record(&self) -> impl Fn(Duration) + Send + Sync + '_ {
            |d| self.0.lock().unwrap().push(d)
        }
        fn taken(&self) -> Vec<Duration> {
            self.0.lock().unwrap().clone()
        }
    }

    fn batch(n: usize) -> Vec<Outgoing<usize>> {
        (0..n).map(|i| Outgoing { bytes: format!("{{\"n\":{i}}}\n").into_bytes(), tag: i }).collect()
    }

    #[test]
    fn partial_failures_are_resent_until_everything_is_accepted() {
        let sink = Flaky { calls: AtomicUsize::new(0), received: Mutex::new(Vec::new()) };
        let policy = RetryPolicy { max_retries: 20, ..RetryPolicy::default() };
        let dir = tempfile::tempdir().unwrap();
        let waits = Waits::default();
        let sender = Sender::new(&sink, policy, dir.path().join("spool.ndjson")).waiting_with(waits.record());
        let mut seen = Vec::new();
        sender.send(batch(300), |o| seen.push(o.tag)).unwrap();
        seen.sort_unstable();
        assert_eq!(seen, (0..300).collect::<Vec<_>>(), "each record accepted exactly once");
        assert_eq!(sink.received.lock().unwrap().len(), 300);
        assert!(sender.stats.retried.load(Relaxed) >= 100);
        assert_eq!(sender.spool_path(), None);
        let errors = sender.stats.errors();
        assert_eq!(errors.keys().collect::<Vec<_>>(), ["HTTP503", "ServiceUnavailableException"]);
        // Each refused entry counts once; a failed call counts once, whatever it carried.
        assert!(errors["ServiceUnavailableException"] >= 100 && errors["HTTP503"] >= 1, "{errors:?}");
        let calls = sender.stats.calls.load(Relaxed);
        assert!(errors["HTTP503"] <= calls / 4 + 1, "{errors:?} in {calls} calls");
        assert!(sender.stats.stopped().is_none());
        // One backoff before each resend, the nth within min(max, base × 2^n).
        let waits = waits.taken();
        assert_eq!(waits.len() as u64, calls - 1, "{waits:?}");
        for (n, wait) in waits.iter().enumerate() {
            assert!(*wait <= policy.base_delay.saturating_mul(1 << n).min(policy.max_delay), "{n}: {wait:?}");
        }
    }

    #[test]
    fn a_failure_no_retry_can_fix_stops_sending_at_once() {
        struct Missing(AtomicUsize);
        impl RecordSink for Missing {
            fn limits(&self) -> SinkLimits {
                LIMITS
            }
            fn put_record_batch(&self, _: &[Vec<u8>]) -> Result<Vec<Option<SinkError>>, SinkError> {
                self.0.fetch_add(1, Relaxed);
                Err(SinkError::permanent("ResourceNotFoundException", "delivery stream s does not exist"))
            }
            fn flush(&self) -> Result<()> {
                Ok(())
            }
        }
        let sink = Missing(AtomicUsize::new(0));
        let dir = tempfile::tempdir().unwrap();
        let waits = Waits::default();
        let sender =
            Sender::new(&sink, RetryPolicy::default(), dir.path().join("spool.ndjson")).waiting_with(waits.record());
        sender.send(batch(5), |_| panic!("nothing is accepted")).unwrap();
        sender.send(batch(7), |_| panic!("nothing is accepted")).unwrap();
        assert_eq!(waits.taken(), Vec::<Duration>::new(), "no backoff");
        assert_eq!(sink.0.load(Relaxed), 1, "one call, then straight to the spool");
        assert_eq!(std::fs::read_to_string(sender.spool_path().unwrap()).unwrap().lines().count(), 12);
        assert_eq!(sender.stats.stopped().unwrap().code, "ResourceNotFoundException");
        assert_eq!(sender.stats.errors()["ResourceNotFoundException"], 1);
    }

    #[test]
    fn a_permanent_entry_error_stops_too() {
        struct Kms;
        impl RecordSink for Kms {
            fn limits(&self) -> SinkLimits {
                LIMITS
            }
            fn put_record_batch(&self, records: &[Vec<u8>]) -> Result<Vec<Option<SinkError>>, SinkError> {
                Ok(records
                    .iter()
                    .enumerate()
                    .map(|(i, _)| (i == 0).then(|| SinkError::permanent("KMS.DisabledException", "key disabled")))
                    .collect())
            }
            fn flush(&self) -> Result<()> {
                Ok(())
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let sender = Sender::new(&Kms, RetryPolicy::default(), dir.path().join("spool.ndjson"));
        let mut accepted = 0;
        sender.send(batch(3), |_| accepted += 1).unwrap();
        assert_eq!((accepted, sender.stats.spooled.load(Relaxed)), (2, 1));
        assert!(sender.is_stopped());
        assert_eq!(sender.stats.retried.load(Relaxed), 0);
    }

    #[test]
    fn records_left_after_the_budget_are_spooled() {
        struct Down;
        impl RecordSink for Down {
            fn limits(&self) -> SinkLimits {
                LIMITS
            }
            fn put_record_batch(&self, _: &[Vec<u8>]) -> Result<Vec<Option<SinkError>>, SinkError> {
                Err(SinkError::retryable("ConnectionError", "connection refused"))
            }
            fn flush(&self) -> Result<()> {
                Ok(())
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let waits = Waits::default();
        let policy = RetryPolicy::default();
        let sender = Sender::new(&Down, policy, dir.path().join("spool.ndjson")).waiting_with(waits.record());
        sender.send(batch(5), |_| panic!("nothing is accepted")).unwrap();
        let spooled = std::fs::read_to_string(sender.spool_path().unwrap()).unwrap();
        assert_eq!(spooled.lines().count(), 5);
        assert_eq!(sender.stats.calls.load(Relaxed), u64::from(policy.max_retries) + 1);
        // The whole budget was waited out (on the test's clock, up to 5 s a backoff with the default policy).
        assert_eq!(waits.taken().len() as u32, policy.max_retries);
    }
}
