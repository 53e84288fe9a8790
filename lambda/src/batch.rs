//! A whole Firehose batch: every record answered once, in order, never failing. [`transform_event`] answers the
//! typed event with the typed response; [`transform_decoded`] answers the event the bootstrap reads
//! ([`DecodedEvent`]) with each record's output base64-encoded straight into the JSON string the response holds,
//! which the runtime copies as it is ([`RawResponse`]), so nothing escapes the data a second time.
//! Both answer every record alike: one per-record step ([`Batcher::record`]) counts what the log line reports.

use std::time::{Duration, Instant};

use base64_simd::STANDARD as B64;
use serde::Serialize;

#[cfg(feature = "runtime")]
use crate::decoded::DecodedEvent;
use crate::event::{
    FirehoseEvent, FirehoseResponse, FirehoseResponseRecord, PartitionKeys, ResponseMetadata, TransformResult,
};
use crate::fast::{self, Padded};
use crate::schema::Reject;
use crate::time::Hour;
use crate::transform::{Arrival, Partitioning, Readings, transform_counted};

/// What one invocation did, for the structured log lines (never any payload).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct BatchReport {
    pub invocation_id: String,
    pub records: usize,
    pub ok: usize,
    pub dropped: usize,
    /// Records refused for their data (what the failed-records alarm counts).
    pub failed: usize,
    /// Records refused because their readings fall in two hours ([`Partitioning::Event`] only): not bad data,
    /// so not in `failed`.
    pub spanning_hours: usize,
    pub readings: usize,
    /// Readings that had a key more than once (each written with its last value).
    pub duplicate_keys: usize,
    /// Readings of `Ok` records whose reading time is their arrival (no `TIME`, or one not believed).
    pub arrival_fallback: usize,
    pub bytes_in: usize,
    pub bytes_out: usize,
    #[serde(serialize_with = "as_micros")]
    pub duration: Duration,
    /// `(recordId, reason)` for every `ProcessingFailed` record (failed or spanning hours).
    #[serde(skip)]
    pub failures: Vec<(String, Reject)>,
}

fn as_micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_micros() as u64)
}

impl BatchReport {
    /// Emits one line per `ProcessingFailed` record (`record failed`, or `record spans hours`) and one summary
    /// line through `tracing`.
    pub fn emit(&self) {
        for (record_id, reason) in &self.failures {
            let message =
                if matches!(reason, Reject::SpansHours { .. }) { "record spans hours" } else { "record failed" };
            tracing::warn!(
                invocation_id = %self.invocation_id,
                record_id = %record_id,
                error_code = reason.code(),
                reason = %reason,
                "{message}"
            );
        }
        tracing::info!(
            invocation_id = %self.invocation_id,
            records = self.records,
            ok = self.ok,
            dropped = self.dropped,
            failed = self.failed,
            spanning_hours = self.spanning_hours,
            readings = self.readings,
            duplicate_keys = self.duplicate_keys,
            arrival_fallback = self.arrival_fallback,
            bytes_in = self.bytes_in,
            bytes_out = self.bytes_out,
            duration_us = self.duration.as_micros() as u64,
            "batch transformed"
        );
    }
}

/// What one record became; its output, for `Ok`, is in [`Batcher::out`].
enum Answer {
    /// With the hour of its partition keys ([`Partitioning::Event`] only).
    Ok(Option<Hour>),
    Dropped,
    Failed,
}

/// The per-record step both entry points share, and what it counts.
struct Batcher {
    partitioning: Partitioning,
    report: BatchReport,
    /// The last record's output (reused: one allocation per batch).
    out: Vec<u8>,
    /// The last record's arrival (reused while records arrive at the same millisecond).
    arrival: Option<Arrival>,
    started: Instant,
}

impl Batcher {
    fn new(invocation_id: &str, records: usize, partitioning: Partitioning) -> Self {
        Batcher {
            partitioning,
            report: BatchReport { invocation_id: invocation_id.to_owned(), records, ..BatchReport::default() },
            out: Vec::new(),
            arrival: None,
            started: Instant::now(),
        }
    }

    /// Transforms one record (`data`: its bytes, `None` when they were not base64) and counts what it became.
    fn record(&mut self, id: &str, arrival_ms: f64, data: Option<Padded<'_>>) -> Answer {
        self.out.clear();
        let report = &mut self.report;
        let outcome = match data {
            Some(padded) => {
                report.bytes_in += padded.text().len();
                let arrival = Arrival::reuse(&mut self.arrival, arrival_ms as i64);
                transform_counted(padded, arrival, self.partitioning, &mut self.out)
            }
            None => Err(Reject::InvalidBase64),
        };
        match outcome {
            Ok(Readings { readings: 0, .. }) => {
                report.dropped += 1;
                Answer::Dropped
            }
            Ok(held) => {
                report.ok += 1;
                report.readings += held.readings;
                report.duplicate_keys += held.with_duplicate_keys;
                report.arrival_fallback += held.arrival_fallback;
                report.bytes_out += self.out.len();
                Answer::Ok(held.hour.filter(|_| self.partitioning == Partitioning::Event))
            }
            Err(reason) => {
                match reason {
                    Reject::SpansHours { .. } => report.spanning_hours += 1,
                    _ => report.failed += 1,
                }
                report.failures.push((id.to_owned(), reason));
                Answer::Failed
            }
        }
    }

    fn finish(mut self) -> BatchReport {
        self.report.duration = self.started.elapsed();
        self.report
    }
}

/// Transforms a whole Firehose event. Never fails: every record gets exactly one response, in order; with
/// [`Partitioning::Event`] every `Ok` one carries its partition keys.
pub fn transform_event(event: &FirehoseEvent, partitioning: Partitioning) -> (FirehoseResponse, BatchReport) {
    let mut batch = Batcher::new(&event.invocation_id, event.records.len(), partitioning);
    let mut raw = Vec::new();
    // Formatted only when the hour differs from the last record's (a batch holds few hours).
    let mut keys: Option<(Hour, PartitionKeys)> = None;
    let records = event
        .records
        .iter()
        .map(|record| {
            raw.clear();
            let data = match B64.decode_append(record.data.as_bytes(), &mut raw) {
                Ok(()) => {
                    fast::pad(&mut raw);
                    Padded::new(&raw)
                }
                Err(_) => None,
            };
            let (result, data, metadata) =
                match batch.record(&record.record_id, record.approximate_arrival_timestamp, data) {
                    Answer::Ok(hour) => {
                        let metadata = hour.map(|hour| {
                            if keys.as_ref().is_none_or(|(seen, _)| *seen != hour) {
                                keys = Some((hour, hour.into()));
                            }
                            ResponseMetadata { partition_keys: keys.as_ref().expect("just set").1.clone() }
                        });
                        (TransformResult::Ok, B64.encode_to_string(&batch.out), metadata)
                    }
                    Answer::Dropped => (TransformResult::Dropped, String::new(), None),
                    Answer::Failed => (TransformResult::ProcessingFailed, record.data.clone(), None),
                };
            FirehoseResponseRecord { record_id: record.record_id.clone(), result, data, metadata }
        })
        .collect();
    (FirehoseResponse { records }, batch.finish())
}

/// The response as [`transform_decoded`] made it: each record's data already a JSON string, which serializing
/// copies as it is (no escaping pass). The response is made of one piece per record rather than one buffer of
/// megabytes: a buffer as big as the event's never fits the memory the event's body freed, and with freed memory
/// kept (see [`crate::keep_freed_memory`]) every batch would grow the function's resident memory.
#[cfg(feature = "runtime")]
#[derive(Debug)]
pub struct RawResponse {
    /// Every record's id, one after another.
    ids: String,
    records: Vec<RawRecord>,
    /// The partition keys the records name (a batch holds few hours).
    keys: Vec<ResponseMetadata>,
}

#[cfg(feature = "runtime")]
#[derive(Debug)]
struct RawRecord {
    /// In `ids`.
    id: std::ops::Range<usize>,
    result: TransformResult,
    /// The data as a JSON string, quotes included.
    data: Box<serde_json::value::RawValue>,
    /// In `keys`.
    keys: Option<usize>,
}

#[cfg(feature = "runtime")]
impl RawResponse {
    /// The JSON text: byte for byte what `serde_json` writes for [`transform_event`]'s response.
    pub fn json(&self) -> String {
        serde_json::to_string(self).expect("a response serializes")
    }
}

#[cfg(feature = "runtime")]
impl Serialize for RawResponse {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeSeq as _, SerializeStruct as _};

        struct Records<'a>(&'a RawResponse);
        struct Record<'a>(&'a RawResponse, &'a RawRecord);

        impl Serialize for Records<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut seq = serializer.serialize_seq(Some(self.0.records.len()))?;
                for record in &self.0.records {
                    seq.serialize_element(&Record(self.0, record))?;
                }
                seq.end()
            }
        }

        // The fields of `FirehoseResponseRecord`, in its order.
        impl Serialize for Record<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let Record(response, record) = self;
                let fields = 3 + usize::from(record.keys.is_some());
                let mut s = serializer.serialize_struct("FirehoseResponseRecord", fields)?;
                s.serialize_field("recordId", &response.ids[record.id.clone()])?;
                s.serialize_field("result", &record.result)?;
                s.serialize_field("data", &record.data)?;
                if let Some(keys) = record.keys {
                    s.serialize_field("metadata", &response.keys[keys])?;
                }
                s.end()
            }
        }

        let mut s = serializer.serialize_struct("FirehoseResponse", 1)?;
        s.serialize_field("records", &Records(self))?;
        s.end()
    }
}

/// Transforms the event the bootstrap reads, as [`transform_event`] does, each record's data written once as the
/// JSON string the response holds.
#[cfg(feature = "runtime")]
pub fn transform_decoded(event: &DecodedEvent, partitioning: Partitioning) -> (RawResponse, BatchReport) {
    let mut batch = Batcher::new(&event.invocation_id, event.len(), partitioning);
    let mut response = RawResponse { ids: String::new(), records: Vec::with_capacity(event.len()), keys: Vec::new() };
    let mut hour_keys: Option<(Hour, usize)> = None;
    for record in event.records() {
        let start = response.ids.len();
        response.ids.push_str(record.id);
        let id = start..response.ids.len();
        let (result, data, keys) = match batch.record(record.id, record.arrival_ms, record.data.ok()) {
            Answer::Ok(hour) => {
                let keys = hour.map(|hour| match hour_keys {
                    Some((seen, keys)) if seen == hour => keys,
                    _ => {
                        response.keys.push(ResponseMetadata { partition_keys: hour.into() });
                        hour_keys = Some((hour, response.keys.len() - 1));
                        response.keys.len() - 1
                    }
                });
                (TransformResult::Ok, json_base64(&batch.out), keys)
            }
            Answer::Dropped => (TransformResult::Dropped, json_base64(b""), None),
            // Standard base64 decodes only from its one canonical text, so this is the text that came.
            Answer::Failed => match record.data {
                Ok(padded) => (TransformResult::ProcessingFailed, json_base64(padded.text()), None),
                Err(text) => {
                    let text = serde_json::value::to_raw_value(text).expect("a string serializes");
                    (TransformResult::ProcessingFailed, text, None)
                }
            },
        };
        response.records.push(RawRecord { id, result, data, keys });
    }
    (response, batch.finish())
}

/// `bytes` in base64 as a JSON string, encoded straight into it.
#[cfg(feature = "runtime")]
fn json_base64(bytes: &[u8]) -> Box<serde_json::value::RawValue> {
    let mut json = String::with_capacity(B64.encoded_length(bytes.len()) + 2);
    json.push('"');
    B64.encode_append(bytes, &mut json);
    json.push('"');
    // SAFETY: a JSON string with no whitespace around it: base64's alphabet needs no escaping. Debug builds parse
    // it again (a check in `from_string_unchecked`).
    unsafe { serde_json::value::RawValue::from_string_unchecked(json) }
}
