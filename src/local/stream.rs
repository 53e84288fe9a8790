//! An in-process Firehose Direct-PUT delivery stream with a Lambda processor and an S3 destination, faithful
//! to what Firehose does with the same settings: processor buffering (size and interval, each invocation within
//! the 6 MB Lambda payload limit), the transform library called with a real Firehose event, S3 buffering by
//! size and interval (with dynamic partitioning, per active partition: [`super::partitions`]), `!{…}` prefixes
//! evaluated from the oldest record's arrival time and the partition's keys, Firehose's object names, and failed
//! records written to the error prefix in Firehose's error-record shape with their raw bytes.

use std::collections::HashSet;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail, ensure};
use base64_simd::STANDARD as B64;
use chrono::{DateTime, Utc};
use reaqtions_lambda::{
    BatchReport, FirehoseEvent, FirehoseRecord, PartitionKeys, Partitioning, Reject, TransformResult, transform_event,
};
use serde_json::{Map, Value, json};

use super::lake::DirLake;
use super::logs::LogFiles;
use super::metrics::{Minute, MinuteLog};
use super::partitions::{self, Buffered, Buffers, Slot};
use crate::limits::SinkLimits;
use crate::limits::{FIREHOSE as LIMITS, LAMBDA_PAYLOAD_BYTES as LAMBDA_PAYLOAD_LIMIT};
use crate::prefix::{Prefix, object_name};
use crate::seams::{RecordSink, SinkError};
use crate::settings::PipelineSettings;

/// What the local stream checks its buffers' ages every so often.
const TICK: Duration = Duration::from_millis(100);

/// Counters of what the stream did; `status --local` shows their totals over every run
/// (`<data-dir>/stacks/<stack>/stream.json`).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct StreamStats {
    pub(crate) records_in: u64,
    pub(crate) bytes_in: u64,
    /// What Firehose would bill for the records received: each rounded up to 5 KB.
    pub(crate) billed_bytes_in: u64,
    pub(crate) invocations: u64,
    pub(crate) records_ok: u64,
    pub(crate) records_dropped: u64,
    /// Refused for their data (what `health` counts as failed).
    pub(crate) records_failed: u64,
    /// Refused because their readings fall in two hours: in the error prefix, yet not failed data.
    pub(crate) records_spanning_hours: u64,
    /// Of partitions beyond the active-partition quota: in the error prefix.
    pub(crate) records_partition_exceeded: u64,
    pub(crate) objects: u64,
    pub(crate) error_objects: u64,
}

impl StreamStats {
    fn plus(self, o: StreamStats) -> StreamStats {
        StreamStats {
            records_in: self.records_in + o.records_in,
            bytes_in: self.bytes_in + o.bytes_in,
            billed_bytes_in: self.billed_bytes_in + o.billed_bytes_in,
            invocations: self.invocations + o.invocations,
            records_ok: self.records_ok + o.records_ok,
            records_dropped: self.records_dropped + o.records_dropped,
            records_failed: self.records_failed + o.records_failed,
            records_spanning_hours: self.records_spanning_hours + o.records_spanning_hours,
            records_partition_exceeded: self.records_partition_exceeded + o.records_partition_exceeded,
            objects: self.objects + o.objects,
            error_objects: self.error_objects + o.error_objects,
        }
    }

    /// The totals recorded in `path` (zero when there is none yet).
    pub(crate) fn load(path: &std::path::Path) -> StreamStats {
        std::fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }

    /// Adds `self` to the totals in `path` (written atomically).
    fn add_to(self, path: &std::path::Path) -> Result<()> {
        let total = StreamStats::load(path).plus(self);
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&total)?)
            .and_then(|()| std::fs::rename(&tmp, path))
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

struct Pending {
    /// The order the stream accepted it in (its `recordId`).
    seq: u64,
    arrival_ms: i64,
    data: Vec<u8>,
}

/// Firehose's record ids are long opaque strings: the local one is the order, zero-padded.
fn record_id(seq: u64) -> String {
    format!("{seq:056}")
}

#[derive(Default)]
struct State {
    pending: Vec<Pending>,
    pending_bytes: usize,
    pending_since: Option<Instant>,
    buffers: Buffers,
    /// With dynamic partitioning, the heap the buffers may hold before the oldest is written
    /// ([`partitions::BUFFER_BUDGET_BYTES`]).
    budget: Option<usize>,
    next_id: u64,
    stats: StreamStats,
    /// A failure of the background flusher, reported by the next call.
    failure: Option<String>,
    /// The first write to the lake that failed: from then on the stream takes no more records.
    lake_failed: Option<String>,
    stopped: bool,
    /// The per-minute counters `health` reads, when the stream keeps them.
    minutes: Option<MinuteLog>,
}

impl State {
    /// The counters of the current minute (a failure to write them is logged: readings matter more).
    fn minute(&mut self) -> Option<&mut Minute> {
        let log = self.minutes.as_mut()?;
        match log.at(Utc::now()) {
            Ok(minute) => Some(minute),
            Err(e) => {
                crate::warning!("{e:#}");
                None
            }
        }
    }

    /// Age of the oldest record held undelivered (pending, or transformed and buffered).
    fn oldest_waiting_ms(&self) -> Option<i64> {
        let pending = self.pending.iter().map(|p| p.arrival_ms).min();
        [pending, self.buffers.oldest_ms()].into_iter().flatten().min()
    }
}

struct Shared {
    settings: PipelineSettings,
    version: u32,
    stream_arn: String,
    lambda_arn: String,
    prefix: Prefix,
    error_prefix: Prefix,
    lake: DirLake,
    logs: LogFiles,
    state: Mutex<State>,
    wake: Condvar,
}

/// The local delivery stream. Dropping it flushes everything accepted.
pub struct LocalStream {
    shared: Arc<Shared>,
    ticker: Option<JoinHandle<()>>,
    totals: Option<std::path::PathBuf>,
}

impl LocalStream {
    #[cfg(test)]
    pub(crate) fn start(settings: &PipelineSettings, version: u32, lake: DirLake, logs: LogFiles) -> Result<Self> {
        Self::start_recording(settings, version, lake, logs, None)
    }

    /// As [`start`](Self::start), adding what it did to the totals in `totals` when it stops.
    pub(crate) fn start_recording(
        settings: &PipelineSettings,
        version: u32,
        lake: DirLake,
        logs: LogFiles,
        totals: Option<std::path::PathBuf>,
    ) -> Result<Self> {
        let shared = Arc::new(Shared {
            prefix: Prefix::parse(&settings.prefix, false)?,
            error_prefix: Prefix::parse(&settings.error_prefix, true)?,
            stream_arn: super::arn("firehose", &format!("deliverystream/{}", settings.stream)),
            lambda_arn: super::arn("lambda", &format!("function:{}:$LATEST", settings.function)),
            settings: settings.clone(),
            version,
            lake,
            logs,
            state: Mutex::new(State {
                budget: (settings.partitioning == Partitioning::Event).then_some(partitions::BUFFER_BUDGET_BYTES),
                ..State::default()
            }),
            wake: Condvar::new(),
        });
        let ticker_shared = Arc::clone(&shared);
        let ticker = std::thread::Builder::new()
            .name("local-firehose".into())
            .spawn(move || ticker_shared.tick_until_stopped())
            .context("cannot start the local delivery stream's flusher thread")?;
        Ok(LocalStream { shared, ticker: Some(ticker), totals })
    }

    /// Keeps per-minute counters in `path` while it runs, for `health`.
    pub(crate) fn counting_minutes(self, path: std::path::PathBuf) -> Self {
        self.shared.lock().minutes = Some(MinuteLog::new(path));
        self
    }

    /// With another heap budget for the buffers than [`partitions::BUFFER_BUDGET_BYTES`].
    #[cfg(test)]
    pub(crate) fn with_budget(self, bytes: usize) -> Self {
        self.shared.lock().budget = Some(bytes);
        self
    }

    /// How many partitions are open now and the heap their buffers (and the error folders') hold.
    pub fn buffered(&self) -> Buffered {
        self.shared.lock().buffers.buffered()
    }

    /// Messages the local IoT rule (the broker) could not put into this stream.
    pub(crate) fn note_rule_failures(&self, n: u64) {
        if let Some(m) = self.shared.lock().minute() {
            m.rule_failures += n;
        }
    }

    /// Flushes everything and stops the background flusher.
    pub fn close(mut self) -> Result<StreamStats> {
        self.stop()
    }

    fn stop(&mut self) -> Result<StreamStats> {
        {
            let mut state = self.shared.lock();
            state.stopped = true;
        }
        self.shared.wake.notify_all();
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
        let mut state = self.shared.lock();
        let drained = self.shared.drain(&mut state, true);
        if let Some(Err(e)) = state.minutes.as_mut().map(MinuteLog::flush) {
            crate::warning!("{e:#}");
        }
        drained?;
        if let Some(path) = self.totals.take() {
            state.stats.add_to(&path)?;
        }
        Ok(state.stats)
    }
}

impl Drop for LocalStream {
    fn drop(&mut self) {
        if self.ticker.is_some()
            && let Err(e) = self.stop()
        {
            crate::output::error(format_args!("local delivery stream could not flush on exit: {e:#}"));
        }
    }
}

impl LocalStream {
    /// PutRecordBatch's checks, then the records buffered for the processor.
    fn accept(&self, records: &[Vec<u8>]) -> Result<Vec<Option<SinkError>>> {
        ensure!(records.len() <= LIMITS.batch_records, "PutRecordBatch takes at most {} records", LIMITS.batch_records);
        let total: usize = records.iter().map(Vec::len).sum();
        ensure!(total <= LIMITS.batch_bytes, "PutRecordBatch takes at most 4 MiB ({total} bytes sent)");
        if let Some(i) = records.iter().position(|r| r.len() > LIMITS.record_bytes) {
            bail!("record {i} of the batch is {} bytes; Firehose takes at most 1,000 KiB", records[i].len());
        }
        let mut state = self.shared.lock();
        if let Some(failure) = state.failure.take() {
            bail!("local delivery stream failed: {failure}");
        }
        ensure!(!state.stopped, "local delivery stream {} is stopped", self.shared.settings.stream);
        if let Some(why) = &state.lake_failed {
            bail!("the local lake cannot be written ({why}): the stream takes no more records");
        }
        let arrival_ms = Utc::now().timestamp_millis();
        for data in records {
            state.next_id += 1;
            let seq = state.next_id;
            state.pending_bytes += data.len();
            state.stats.records_in += 1;
            state.stats.bytes_in += data.len() as u64;
            state.stats.billed_bytes_in += crate::limits::billed_bytes(data.len());
            state.pending.push(Pending { seq, arrival_ms, data: data.clone() });
        }
        if let Some(m) = state.minute() {
            m.records_in += records.len() as u64;
            m.bytes_in += total as u64;
        }
        state.pending_since.get_or_insert_with(Instant::now);
        self.shared.drain(&mut state, false)?;
        Ok(vec![None; records.len()])
    }
}

/// The local stream is Firehose's: it takes what PutRecordBatch takes.
impl RecordSink for LocalStream {
    fn limits(&self) -> SinkLimits {
        LIMITS
    }

    fn put_record_batch(&self, records: &[Vec<u8>]) -> Result<Vec<Option<SinkError>>, SinkError> {
        self.accept(records).map_err(|e| SinkError::permanent("LocalStreamFailed", format!("{e:#}")))
    }

    fn flush(&self) -> Result<()> {
        let mut state = self.shared.lock();
        self.shared.drain(&mut state, true)
    }

    /// After a failed write: every record accepted but not in a written object, as received, handed back (and
    /// dropped from the buffers, so stopping does not try again).
    fn take_unwritten(&self) -> Vec<Vec<u8>> {
        let mut state = self.shared.lock();
        if state.lake_failed.is_none() {
            return vec![];
        }
        let mut out: Vec<(u64, Vec<u8>)> =
            std::mem::take(&mut state.pending).into_iter().map(|p| (p.seq, p.data)).collect();
        state.pending_bytes = 0;
        state.pending_since = None;
        out.extend(state.buffers.take_raw());
        out.sort_unstable_by_key(|(seq, _)| *seq);
        out.into_iter().map(|(_, data)| data).collect()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn tick_until_stopped(&self) {
        let mut state = self.lock();
        while !state.stopped {
            if let Err(e) = self.drain(&mut state, false) {
                state.failure = Some(format!("{e:#}"));
            }
            if let Some(oldest) = state.oldest_waiting_ms() {
                let age = (Utc::now().timestamp_millis() - oldest).max(0) as f64 / 1000.0;
                if let Some(m) = state.minute() {
                    m.note_freshness(age);
                }
            } else {
                // An idle minute still ends: what was counted in it is written out.
                let _ = state.minute();
            }
            state = self.wake.wait_timeout(state, TICK).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Invokes the processor and writes objects when a buffer is full or old enough (or always, if `force`).
    fn drain(&self, state: &mut State, force: bool) -> Result<()> {
        let processor = &self.settings.processor;
        let due =
            |since: Option<Instant>, interval: u32| since.is_some_and(|s| s.elapsed().as_secs() >= u64::from(interval));
        let processor_bytes = (processor.size_mb * 1_000_000.0) as usize;
        if !state.pending.is_empty()
            && (force || state.pending_bytes >= processor_bytes || due(state.pending_since, processor.interval_seconds))
        {
            self.process(state)?;
        }
        let buffering = self.settings.buffering;
        let size = buffering.size_mib as usize * 1024 * 1024;
        for slot in state.buffers.due(force, size, buffering.interval_seconds) {
            self.write_object(state, slot)?;
        }
        Ok(())
    }

    /// Sends all pending records through the transform, in invocations within the processor and Lambda limits.
    fn process(&self, state: &mut State) -> Result<()> {
        let limit = ((self.settings.processor.size_mb * 1_000_000.0) as usize).min(LAMBDA_PAYLOAD_LIMIT);
        let pending = std::mem::take(&mut state.pending);
        state.pending_bytes = 0;
        state.pending_since = None;
        let mut batch: Vec<Pending> = Vec::new();
        let (mut raw_bytes, mut request_bytes) = (0, 0);
        for record in pending {
            // The request carries base64 (4/3) plus ~150 bytes of JSON per record.
            let cost = record.data.len().div_ceil(3) * 4 + 150;
            if !batch.is_empty()
                && (raw_bytes + record.data.len() > limit || request_bytes + cost > LAMBDA_PAYLOAD_LIMIT)
            {
                self.invoke(state, std::mem::take(&mut batch))?;
                (raw_bytes, request_bytes) = (0, 0);
            }
            raw_bytes += record.data.len();
            request_bytes += cost;
            batch.push(record);
        }
        if !batch.is_empty() {
            self.invoke(state, batch)?;
        }
        Ok(())
    }

    /// With dynamic partitioning, writes the buffers open longest until the rest fit the budget.
    fn keep_within_budget(&self, state: &mut State) -> Result<()> {
        let Some(budget) = state.budget else { return Ok(()) };
        while state.buffers.buffered().bytes > budget {
            let Some(oldest) = state.buffers.oldest() else { break };
            self.write_object(state, oldest)?;
        }
        Ok(())
    }

    /// One Lambda invocation: the same transform code as the deployed function, given a Firehose event; each
    /// record's output goes to its partition's buffer, or to the error prefix.
    fn invoke(&self, state: &mut State, batch: Vec<Pending>) -> Result<()> {
        let event = FirehoseEvent {
            invocation_id: uuid::Uuid::new_v4().to_string(),
            delivery_stream_arn: self.stream_arn.clone(),
            source_kinesis_stream_arn: None,
            region: super::REGION.into(),
            records: batch
                .iter()
                .map(|p| FirehoseRecord {
                    record_id: record_id(p.seq),
                    approximate_arrival_timestamp: p.arrival_ms as f64,
                    data: B64.encode_to_string(&p.data),
                })
                .collect(),
        };
        let partitioning = self.settings.partitioning;
        let (response, report) = transform_event(&event, partitioning);
        state.stats.invocations += 1;
        self.log_invocation(&report)?;
        // Firehose's own checks on the response: one record per recordId, in order.
        let consistent = response.records.len() == batch.len()
            && response.records.iter().zip(&event.records).all(|(r, e)| r.record_id == e.record_id);
        let spanning: HashSet<&str> = report
            .failures
            .iter()
            .filter(|(_, reason)| matches!(reason, Reject::SpansHours { .. }))
            .map(|(id, _)| id.as_str())
            .collect();
        let ending_ms = Utc::now().timestamp_millis();
        let mut failed_here = 0;
        // The hour of the last keys seen: a batch holds few hours, each parsed once.
        let mut last: Option<(&PartitionKeys, DateTime<Utc>)> = None;
        for (i, pending) in batch.into_iter().enumerate() {
            let Some(record) = consistent.then(|| &response.records[i]) else {
                let code = ("Lambda.MissingRecordId", "One or more record Ids were not returned");
                self.fail(state, pending, ending_ms, partitions::PROCESSING_FAILED_FOLDER, code);
                state.stats.records_failed += 1;
                failed_here += 1;
                continue;
            };
            match record.result {
                TransformResult::Dropped => state.stats.records_dropped += 1,
                TransformResult::ProcessingFailed => {
                    let code = ("Lambda.ProcessingFailedStatus", "ProcessingFailed status set for record");
                    self.fail(state, pending, ending_ms, partitions::PROCESSING_FAILED_FOLDER, code);
                    // A record whose readings fall in two hours is good data the layout cannot file in one.
                    if spanning.contains(record.record_id.as_str()) {
                        state.stats.records_spanning_hours += 1;
                    } else {
                        state.stats.records_failed += 1;
                        failed_here += 1;
                    }
                }
                TransformResult::Ok => {
                    let bytes =
                        B64.decode_to_vec(&record.data).map_err(|_| anyhow!("transform returned invalid base64"))?;
                    let partition = match partitioning {
                        Partitioning::Arrival => None,
                        Partitioning::Event => {
                            let keys = record.metadata.as_ref().map(|m| &m.partition_keys);
                            let hour = match (last, keys) {
                                (Some((seen, hour)), Some(keys)) if seen == keys => Ok(hour),
                                _ => partitions::hour_of_keys(keys),
                            };
                            match hour {
                                Ok(hour) => {
                                    last = keys.map(|keys| (keys, hour));
                                    Some(hour)
                                }
                                Err(why) => {
                                    crate::warning!("record {} goes to the error prefix: {why}", record.record_id);
                                    let code = partitions::KEYS_FAILED_CODE;
                                    self.fail(state, pending, ending_ms, partitions::KEYS_FAILED_FOLDER, code);
                                    state.stats.records_failed += 1;
                                    failed_here += 1;
                                    continue;
                                }
                            }
                        }
                    };
                    if !state.buffers.admits(partition) {
                        let (folder, code) =
                            (partitions::ACTIVE_PARTITION_EXCEEDED_FOLDER, partitions::ACTIVE_PARTITION_EXCEEDED_CODE);
                        self.fail(state, pending, ending_ms, folder, code);
                        state.stats.records_partition_exceeded += 1;
                        continue;
                    }
                    state.buffers.add(
                        Slot::Processed(partition),
                        &bytes,
                        pending.seq,
                        pending.data,
                        pending.arrival_ms,
                    );
                    state.stats.records_ok += 1;
                }
            }
        }
        if let Some(m) = state.minute() {
            m.invocations += 1;
            m.note_duration(report.duration);
            m.records_failed += failed_here;
        }
        self.keep_within_budget(state)
    }

    /// A record for the error prefix's `folder`, in Firehose's error-record shape with its bytes as received.
    fn fail(&self, state: &mut State, pending: Pending, ending_ms: i64, folder: &'static str, code: (&str, &str)) {
        let line = json!({
            "attemptsMade": 1,
            "arrivalTimestamp": pending.arrival_ms,
            "errorCode": code.0,
            "errorMessage": code.1,
            "attemptEndingTimestamp": ending_ms,
            "rawData": B64.encode_to_string(&pending.data),
            "lambdaArn": self.lambda_arn,
        });
        let mut text = line.to_string();
        text.push('\n');
        state.buffers.add(Slot::Error(folder), text.as_bytes(), pending.seq, pending.data, pending.arrival_ms);
    }

    /// The function's log lines, as the deployed Lambda writes them to its log group: the same lines, with the
    /// same fields, from the list its `BatchReport::emit` logs.
    fn log_invocation(&self, report: &BatchReport) -> Result<()> {
        let lines = report.log_lines();
        let events: Vec<(&str, &str, Map<String, Value>)> = lines
            .into_iter()
            .map(|line| {
                let fields = line.fields.into_iter().map(|(name, value)| (name.to_owned(), value)).collect();
                (line.level, line.message, fields)
            })
            .collect();
        self.logs.append(&self.settings.log_group, &events)
    }

    /// Writes one buffer as an object under its partition's (or error folder's) prefix; on failure it stays,
    /// to be retried by the next flush (Firehose retries S3 delivery too).
    fn write_object(&self, state: &mut State, slot: Slot) -> Result<()> {
        let Some(buffer) = state.buffers.get(slot) else { return Ok(()) };
        let oldest = buffer.oldest_ms.and_then(DateTime::from_timestamp_millis).unwrap_or_else(Utc::now);
        let prefix = match slot {
            Slot::Processed(Some(hour)) => self.prefix.render_partition(oldest, hour, ""),
            Slot::Processed(None) => self.prefix.render(oldest, ""),
            Slot::Error(folder) => self.error_prefix.render(oldest, folder),
        };
        // Compressed as Firehose compresses with CompressionFormat GZIP: the object, and `.gz` on its name.
        let compression = self.settings.compression;
        let key = prefix + &object_name(&self.settings.stream, self.version, Utc::now()) + compression.extension();
        let written = compression
            .encode(&buffer.data)
            .and_then(|bytes| self.lake.put(&key, &bytes))
            .with_context(|| format!("delivery to {} failed", crate::seams::ObjectLake::location(&self.lake, &key)));
        if let Some(m) = state.minute() {
            if written.is_ok() { m.deliveries += 1 } else { m.deliveries_failed += 1 }
        }
        if let Err(e) = &written {
            state.lake_failed.get_or_insert_with(|| format!("{e:#}"));
        }
        written?;
        state.buffers.remove(slot);
        match slot {
            Slot::Processed(_) => state.stats.objects += 1,
            Slot::Error(_) => state.stats.error_objects += 1,
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "partition_tests.rs"]
mod partition_tests;
