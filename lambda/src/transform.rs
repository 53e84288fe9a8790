//! The pure Firehose transform: one input record → exactly one output record, in order, never panicking.
//!
//! A record holds one reading or several back to back (the original devices send `json.dumps(reading)` with
//! no delimiter; producers batch with or without newlines). `Ok` data is every reading as one compact JSON
//! object per line, each ending in `\n`, with [`ARRIVAL_FIELD`] appended. Empty or whitespace-only data is
//! `Dropped` (there is nothing to keep, and nothing was lost). Any bad reading fails the whole record
//! (`ProcessingFailed`), so Firehose writes its raw bytes to the error prefix. What real sensors send is kept:
//! a leading UTF-8 byte-order mark is skipped, a non-finite or `null` measure is written as `null`, and a
//! duplicated key is written once with its last value (see [`crate::scan`]). A record that is the IoT rule's
//! envelope ([`crate::envelope`]) is opened first: its payload is the readings, its device their `device_id`.

use std::time::{Duration, Instant};

use base64_simd::STANDARD as B64;
use serde::Serialize;

use crate::envelope;
use crate::event::{FirehoseEvent, FirehoseResponse, FirehoseResponseRecord, TransformResult};
use crate::scan::{Fail, Scanner, line_column, remove_key};
use crate::schema::{ARRIVAL_FIELD, Reject};

/// Transforms one record's raw bytes, appending NDJSON to `out`.
///
/// Returns the number of readings written (0 means the record holds nothing and should be `Dropped`).
/// On `Err`, `out` is left exactly as it was.
pub fn transform_record(raw: &[u8], arrival_ms: i64, out: &mut Vec<u8>) -> Result<usize, Reject> {
    transform_counted(raw, arrival_ms, out).map(|r| r.readings)
}

/// What a record held.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Readings {
    readings: usize,
    /// Readings that had a key more than once.
    with_duplicate_keys: usize,
}

fn transform_counted(raw: &[u8], arrival_ms: i64, out: &mut Vec<u8>) -> Result<Readings, Reject> {
    let start = out.len();
    let result = transform_into(raw, arrival_ms, out);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// The UTF-8 byte-order mark some serial bridges and Windows tools put first.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A record is the IoT rule's envelope (the message's bytes with its topic's device) or readings as a producer
/// sent them: both are accepted, so records in flight while a redeploy switches the rule are not refused.
fn transform_into(raw: &[u8], arrival_ms: i64, out: &mut Vec<u8>) -> Result<Readings, Reject> {
    match envelope::open(raw)? {
        Some(message) => readings_into(&message.payload, arrival_ms, message.device_id.as_deref(), out),
        None => readings_into(raw, arrival_ms, None, out),
    }
}

/// Every reading of `raw`, with `device` (the topic's, from the envelope) as each one's `device_id` whatever
/// the payload claims.
fn readings_into(raw: &[u8], arrival_ms: i64, device: Option<&str>, out: &mut Vec<u8>) -> Result<Readings, Reject> {
    let raw = raw.strip_prefix(BOM).unwrap_or(raw);
    let text = std::str::from_utf8(raw).map_err(|e| Reject::NotUtf8 { offset: e.valid_up_to() })?;
    let arrival = arrival_suffix(arrival_ms);
    out.reserve(raw.len() + raw.len() / 4);
    let mut scanner = Scanner::new(text);
    let mut count = 0;
    let mut with_duplicate_keys = 0;
    let fail = |f: Fail| match f {
        Fail::Eof => Reject::TruncatedJson,
        Fail::Syntax(offset) => {
            let (line, column) = line_column(text, offset);
            Reject::InvalidJson { line, column }
        }
    };
    let device_field = device.map(|d| format!("\"device_id\":{},", serde_json::Value::from(d)));
    while scanner.next_reading() {
        count += 1;
        if text.as_bytes()[scanner.i] != b'{' {
            let kind = scanner.value(&mut Vec::new(), 1).map_err(fail)?;
            return Err(Reject::NotAnObject { index: count, kind: kind.name() });
        }
        let reading_start = out.len();
        let reading = scanner.reading(out).map_err(fail)?;
        if let Some(problem) = reading.problem {
            return Err(problem.at(count));
        }
        with_duplicate_keys += usize::from(reading.duplicate_keys);
        if device_field.is_some() {
            remove_key(out, reading_start, "device_id");
        }
        // The compact object ends in `}`: reopen it to append the topic's device and the arrival field.
        out.pop();
        if out.last() != Some(&b'{') {
            out.push(b',');
        }
        if let Some(field) = &device_field {
            out.extend_from_slice(field.as_bytes());
        }
        out.extend_from_slice(arrival.as_bytes());
    }
    Ok(Readings { readings: count, with_duplicate_keys })
}

/// `"_firehose_arrival":"2026-11-25T21:00:00.123Z"}` + newline, computed once per record.
fn arrival_suffix(arrival_ms: i64) -> String {
    use chrono::{Datelike as _, Timelike as _};
    let t = chrono::DateTime::from_timestamp_millis(arrival_ms).unwrap_or_default();
    // Formatted by hand: chrono's `format` parses its pattern on every call, and this runs per record.
    format!(
        "\"{ARRIVAL_FIELD}\":\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z\"}}\n",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.timestamp_subsec_millis()
    )
}

/// What one invocation did, for the structured log lines (never any payload).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct BatchReport {
    pub invocation_id: String,
    pub records: usize,
    pub ok: usize,
    pub dropped: usize,
    pub failed: usize,
    pub readings: usize,
    /// Readings that had a key more than once (each written with its last value).
    pub duplicate_keys: usize,
    pub bytes_in: usize,
    pub bytes_out: usize,
    #[serde(serialize_with = "as_micros")]
    pub duration: Duration,
    /// `(recordId, reason)` for every failed record.
    #[serde(skip)]
    pub failures: Vec<(String, Reject)>,
}

fn as_micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_micros() as u64)
}

impl BatchReport {
    /// Emits one line per failed record and one summary line through `tracing`.
    pub fn emit(&self) {
        for (record_id, reason) in &self.failures {
            tracing::warn!(
                invocation_id = %self.invocation_id,
                record_id = %record_id,
                error_code = reason.code(),
                reason = %reason,
                "record failed"
            );
        }
        tracing::info!(
            invocation_id = %self.invocation_id,
            records = self.records,
            ok = self.ok,
            dropped = self.dropped,
            failed = self.failed,
            readings = self.readings,
            duplicate_keys = self.duplicate_keys,
            bytes_in = self.bytes_in,
            bytes_out = self.bytes_out,
            duration_us = self.duration.as_micros() as u64,
            "batch transformed"
        );
    }
}

/// Transforms a whole Firehose event. Never fails: every record gets exactly one response, in order.
pub fn transform_event(event: &FirehoseEvent) -> (FirehoseResponse, BatchReport) {
    let started = Instant::now();
    let mut report = BatchReport {
        invocation_id: event.invocation_id.clone(),
        records: event.records.len(),
        ..BatchReport::default()
    };
    let mut raw = Vec::new();
    let mut out = Vec::new();
    let records = event
        .records
        .iter()
        .map(|record| {
            raw.clear();
            out.clear();
            let outcome = match B64.decode_append(record.data.as_bytes(), &mut raw) {
                Ok(()) => transform_counted(&raw, record.approximate_arrival_timestamp as i64, &mut out),
                Err(_) => {
                    raw.clear();
                    Err(Reject::InvalidBase64)
                }
            };
            report.bytes_in += raw.len();
            let (result, data) = match outcome {
                Ok(Readings { readings: 0, .. }) => {
                    report.dropped += 1;
                    (TransformResult::Dropped, String::new())
                }
                Ok(Readings { readings, with_duplicate_keys }) => {
                    report.ok += 1;
                    report.readings += readings;
                    report.duplicate_keys += with_duplicate_keys;
                    report.bytes_out += out.len();
                    (TransformResult::Ok, B64.encode_to_string(&out))
                }
                Err(reason) => {
                    report.failed += 1;
                    report.failures.push((record.record_id.clone(), reason));
                    (TransformResult::ProcessingFailed, record.data.clone())
                }
            };
            FirehoseResponseRecord { record_id: record.record_id.clone(), result, data }
        })
        .collect();
    report.duration = started.elapsed();
    (FirehoseResponse { records }, report)
}
