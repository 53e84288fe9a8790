//! The pure Firehose transform: one input record → exactly one output record, in order, never panicking.
//!
//! A record holds one reading or several back to back (the original devices send `json.dumps(reading)` with
//! no delimiter; producers batch with or without newlines). `Ok` data is every reading as one compact JSON
//! object per line, each ending in `\n`, with [`ARRIVAL_FIELD`] appended. Empty or whitespace-only data is
//! `Dropped` (there is nothing to keep, and nothing was lost). Any bad reading fails the whole record
//! (`ProcessingFailed`), so Firehose writes its raw bytes to the error prefix.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;

use crate::event::{FirehoseEvent, FirehoseResponse, FirehoseResponseRecord, TransformResult};
use crate::schema::{ARRIVAL_FIELD, Reject, Verdict};

/// Transforms one record's raw bytes, appending NDJSON to `out`.
///
/// Returns the number of readings written (0 means the record holds nothing and should be `Dropped`).
/// On `Err`, `out` is left exactly as it was.
pub fn transform_record(raw: &[u8], arrival_ms: i64, out: &mut Vec<u8>) -> Result<usize, Reject> {
    let start = out.len();
    let result = transform_into(raw, arrival_ms, out);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn transform_into(raw: &[u8], arrival_ms: i64, out: &mut Vec<u8>) -> Result<usize, Reject> {
    let text = std::str::from_utf8(raw).map_err(|e| Reject::NotUtf8 { offset: e.valid_up_to() })?;
    let arrival = arrival_suffix(arrival_ms);
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Verdict>();
    let mut begin = 0;
    let mut count = 0;
    while let Some(next) = stream.next() {
        let verdict = next.map_err(|e| json_error(&e))?;
        let end = stream.byte_offset();
        count += 1;
        if let Verdict::Invalid(problem) = verdict {
            return Err(problem.at(count));
        }
        write_compact(&text.as_bytes()[begin..end], out);
        // The compact object ends in `}`: reopen it to append the arrival field.
        out.pop();
        if out.last() != Some(&b'{') {
            out.push(b',');
        }
        out.extend_from_slice(arrival.as_bytes());
        begin = end;
    }
    Ok(count)
}

fn json_error(e: &serde_json::Error) -> Reject {
    if e.is_eof() {
        Reject::TruncatedJson
    } else {
        Reject::InvalidJson { line: e.line(), column: e.column() }
    }
}

/// `"_firehose_arrival":"2026-11-25T21:00:00.123Z"}` + newline, computed once per record.
fn arrival_suffix(arrival_ms: i64) -> String {
    let when = chrono::DateTime::from_timestamp_millis(arrival_ms).unwrap_or_default();
    format!("\"{ARRIVAL_FIELD}\":\"{}\"}}\n", when.format("%Y-%m-%dT%H:%M:%S%.3fZ"))
}

/// Copies already-validated JSON without the whitespace outside strings.
fn write_compact(json: &[u8], out: &mut Vec<u8>) {
    out.reserve(json.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut run_start = 0;
    for (i, &b) in json.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
            out.extend_from_slice(&json[run_start..i]);
            run_start = i + 1;
        }
    }
    out.extend_from_slice(&json[run_start..]);
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
            let outcome = match B64.decode_vec(record.data.as_bytes(), &mut raw) {
                Ok(()) => transform_record(&raw, record.approximate_arrival_timestamp as i64, &mut out),
                Err(_) => {
                    raw.clear();
                    Err(Reject::InvalidBase64)
                }
            };
            report.bytes_in += raw.len();
            let (result, data) = match outcome {
                Ok(0) => {
                    report.dropped += 1;
                    (TransformResult::Dropped, String::new())
                }
                Ok(n) => {
                    report.ok += 1;
                    report.readings += n;
                    report.bytes_out += out.len();
                    (TransformResult::Ok, B64.encode(&out))
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
