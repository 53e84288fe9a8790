//! The pure Firehose transform: one input record → exactly one output record, in order, never panicking.
//!
//! A record holds one reading or several back to back (the original devices send `json.dumps(reading)` with
//! no delimiter; producers batch with or without newlines). `Ok` data is every reading as one compact JSON
//! object per line, each ending in `\n`, with [`ARRIVAL_FIELD`] and [`READING_TIME_FIELD`] appended. Empty or
//! whitespace-only data is `Dropped` (there is nothing to keep, and nothing was lost). Any bad reading fails
//! the whole record (`ProcessingFailed`), so Firehose writes its raw bytes to the error prefix. What real
//! sensors send is kept: a leading UTF-8 byte-order mark is skipped, a non-finite or `null` measure is written
//! as `null`, and a duplicated key is written once with its last value (see [`crate::scan`]). A record that is
//! the IoT rule's envelope ([`crate::envelope`]) is opened first: its payload is the readings, its device their
//! `device_id`. With [`Partitioning::Event`] each `Ok` record also gets the partition keys of its readings' hour.

use std::str::FromStr;
use std::time::{Duration, Instant};

use base64_simd::STANDARD as B64;
use serde::Serialize;

use crate::envelope;
use crate::event::{
    FirehoseEvent, FirehoseResponse, FirehoseResponseRecord, PartitionKeys, ResponseMetadata, TransformResult,
};
use crate::scan::{Fail, Scanner, line_column, remove_key};
use crate::schema::{ARRIVAL_FIELD, READING_TIME_FIELD, Reject};
use crate::time::{self, Hour};

/// Which folders of the lake a record's readings go to: the S3 prefix the delivery stream was created with
/// decides, and the function is told by [`PARTITIONING_VAR`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Partitioning {
    /// Firehose's arrival-time folders (`!{timestamp:...}`): no partition keys, a record may hold any hours.
    #[default]
    Arrival,
    /// Dynamic partitioning by the readings' own hour: every `Ok` record carries the partition keys of its
    /// readings' [`READING_TIME_FIELD`], and a record whose readings fall in two hours is `ProcessingFailed`.
    Event,
}

/// The environment variable the bootstrap reads its [`Partitioning`] from: `event` or `arrival` (unset).
pub const PARTITIONING_VAR: &str = "REAQTIONS_PARTITIONING";

impl Partitioning {
    /// `event` or `arrival`, as [`PARTITIONING_VAR`] spells it.
    pub fn name(self) -> &'static str {
        match self {
            Partitioning::Arrival => "arrival",
            Partitioning::Event => "event",
        }
    }

    /// The mode a value of [`PARTITIONING_VAR`] names (`None`: the variable is unset, [`Partitioning::Arrival`]).
    pub fn from_var(value: Option<&str>) -> Result<Self, String> {
        value.map_or(Ok(Partitioning::Arrival), str::parse)
    }
}

impl FromStr for Partitioning {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        match value {
            "arrival" => Ok(Partitioning::Arrival),
            "event" => Ok(Partitioning::Event),
            other => Err(format!(
                "{PARTITIONING_VAR} is `{other}`: expected `event` (partition keys from each reading's hour) or \
                 `arrival` (Firehose's arrival-time folders; also when unset)"
            )),
        }
    }
}

/// Transforms one record's raw bytes, appending NDJSON to `out`.
///
/// Returns the number of readings written (0 means the record holds nothing and should be `Dropped`).
/// On `Err`, `out` is left exactly as it was. With [`Partitioning::Event`], readings of two different hours
/// are [`Reject::SpansHours`].
pub fn transform_record(
    raw: &[u8],
    arrival_ms: i64,
    partitioning: Partitioning,
    out: &mut Vec<u8>,
) -> Result<usize, Reject> {
    transform_counted(raw, arrival_ms, partitioning, out).map(|r| r.readings)
}

/// What a record held.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Readings {
    readings: usize,
    /// Readings that had a key more than once.
    with_duplicate_keys: usize,
    /// Readings whose reading time is the arrival (no `TIME`, or one not believed).
    arrival_fallback: usize,
    /// The hour of the first reading's reading time.
    hour: Option<Hour>,
    /// The first reading in another hour than the first: its index (from 1) and hour.
    other_hour: Option<(usize, Hour)>,
}

fn transform_counted(
    raw: &[u8],
    arrival_ms: i64,
    partitioning: Partitioning,
    out: &mut Vec<u8>,
) -> Result<Readings, Reject> {
    let start = out.len();
    let result = transform_into(raw, arrival_ms, out).and_then(|readings| match (partitioning, readings) {
        (Partitioning::Event, Readings { hour: Some(first), other_hour: Some((index, second)), .. }) => {
            Err(Reject::SpansHours { index, first, second })
        }
        _ => Ok(readings),
    });
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
    let arrival = Arrival::at(arrival_ms);
    out.reserve(raw.len() + raw.len() / 3);
    let mut scanner = Scanner::new(text);
    let mut count = 0;
    let mut held = Readings::default();
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
        held.with_duplicate_keys += usize::from(reading.duplicate_keys);
        if device_field.is_some() {
            remove_key(out, reading_start, "device_id");
        }
        // The compact object ends in `}`: reopen it to append the topic's device and the added fields.
        out.pop();
        if out.last() != Some(&b'{') {
            out.push(b',');
        }
        if let Some(field) = &device_field {
            out.extend_from_slice(field.as_bytes());
        }
        out.extend_from_slice(arrival.fields.as_bytes());
        let (reading_ms, fell_back) = time::reading_ms(reading.time, arrival.ms);
        if fell_back {
            out.extend_from_slice(arrival.text.as_bytes());
        } else {
            time::push_rfc3339_ms(reading_ms, out);
        }
        out.extend_from_slice(b"\"}\n");
        held.arrival_fallback += usize::from(fell_back);
        let hour = Hour::of_ms(reading_ms);
        match held.hour {
            None => held.hour = Some(hour),
            Some(first) if first != hour && held.other_hour.is_none() => held.other_hour = Some((count, hour)),
            Some(_) => {}
        }
    }
    held.readings = count;
    Ok(held)
}

/// A record's arrival, as every one of its readings gets it.
struct Arrival {
    /// Milliseconds since the Unix epoch (the epoch itself for a timestamp chrono cannot represent).
    ms: i64,
    /// `2026-11-25T21:00:00.123Z`.
    text: String,
    /// `"_firehose_arrival":"2026-11-25T21:00:00.123Z","_reading_time":"` (the reading time and `"}` follow).
    fields: String,
}

impl Arrival {
    /// Computed once per record.
    fn at(arrival_ms: i64) -> Arrival {
        use chrono::{Datelike as _, Timelike as _};
        let (ms, t) = match chrono::DateTime::from_timestamp_millis(arrival_ms) {
            Some(t) => (arrival_ms, t),
            None => (0, chrono::DateTime::default()),
        };
        // Formatted by hand: chrono's `format` parses its pattern on every call, and this runs per record.
        let text = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.timestamp_subsec_millis()
        );
        let mut fields = String::with_capacity(ARRIVAL_FIELD.len() + text.len() + READING_TIME_FIELD.len() + 10);
        for part in ["\"", ARRIVAL_FIELD, "\":\"", &text, "\",\"", READING_TIME_FIELD, "\":\""] {
            fields.push_str(part);
        }
        Arrival { ms, text, fields }
    }
}

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

/// Transforms a whole Firehose event. Never fails: every record gets exactly one response, in order; with
/// [`Partitioning::Event`] every `Ok` one carries its partition keys.
pub fn transform_event(event: &FirehoseEvent, partitioning: Partitioning) -> (FirehoseResponse, BatchReport) {
    let started = Instant::now();
    let mut report = BatchReport {
        invocation_id: event.invocation_id.clone(),
        records: event.records.len(),
        ..BatchReport::default()
    };
    let mut raw = Vec::new();
    let mut keys: Option<(Hour, PartitionKeys)> = None;
    let mut out = Vec::new();
    let records = event
        .records
        .iter()
        .map(|record| {
            raw.clear();
            out.clear();
            let outcome = match B64.decode_append(record.data.as_bytes(), &mut raw) {
                Ok(()) => transform_counted(&raw, record.approximate_arrival_timestamp as i64, partitioning, &mut out),
                Err(_) => {
                    raw.clear();
                    Err(Reject::InvalidBase64)
                }
            };
            report.bytes_in += raw.len();
            let mut metadata = None;
            let (result, data) = match outcome {
                Ok(Readings { readings: 0, .. }) => {
                    report.dropped += 1;
                    (TransformResult::Dropped, String::new())
                }
                Ok(held) => {
                    report.ok += 1;
                    report.readings += held.readings;
                    report.duplicate_keys += held.with_duplicate_keys;
                    report.arrival_fallback += held.arrival_fallback;
                    report.bytes_out += out.len();
                    if partitioning == Partitioning::Event {
                        metadata = held.hour.map(|hour| {
                            // Formatted only when the hour differs from the last record's (a batch holds few hours).
                            let keys = match &keys {
                                Some((seen, keys)) if *seen == hour => keys.clone(),
                                _ => keys.insert((hour, hour.into())).1.clone(),
                            };
                            ResponseMetadata { partition_keys: keys }
                        });
                    }
                    (TransformResult::Ok, B64.encode_to_string(&out))
                }
                Err(reason) => {
                    match reason {
                        Reject::SpansHours { .. } => report.spanning_hours += 1,
                        _ => report.failed += 1,
                    }
                    report.failures.push((record.record_id.clone(), reason));
                    (TransformResult::ProcessingFailed, record.data.clone())
                }
            };
            FirehoseResponseRecord { record_id: record.record_id.clone(), result, data, metadata }
        })
        .collect();
    report.duration = started.elapsed();
    (FirehoseResponse { records }, report)
}
