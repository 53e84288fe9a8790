//! A whole Firehose batch: every record answered once, in order, never failing. [`transform_event`] answers the
//! typed event with the typed response; [`transform_decoded`] answers the event the bootstrap reads
//! ([`DecodedEvent`]) with each record's output base64-encoded straight into the JSON string the response holds,
//! which the runtime copies as it is ([`RawResponse`]), so nothing escapes the data a second time.
//! Both answer every record alike: one per-record step ([`Batcher::record`]) counts what the log line reports.

use std::time::{Duration, Instant};

use base64_simd::STANDARD as B64;
#[cfg(feature = "runtime")]
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
#[derive(Debug, Clone, Default, PartialEq)]
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
    /// Logged as `duration_us`.
    pub duration: Duration,
    /// `(recordId, reason)` for every `ProcessingFailed` record (failed or spanning hours).
    pub failures: Vec<(String, Reject)>,
}

/// The message of the summary line (what the failed-records metric filter selects).
pub const SUMMARY_MESSAGE: &str = "batch transformed";

/// One structured log line as the function writes it: the local stream writes the same lines to its log file.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// As `tracing` names it: `INFO` or `WARN`.
    pub level: &'static str,
    pub message: &'static str,
    /// In the order they are logged.
    pub fields: Vec<(&'static str, serde_json::Value)>,
}

// The fields of each line, named once. `tracing` fixes a line's field names where it is called, so a list built at
// run time cannot reach it; instead each macro hands its list to another one, which either logs it (`emit`) or
// collects it (`log_lines`), and the two cannot name a field differently.

/// The summary line's fields of `$report`, handed to `$then!`.
macro_rules! summary_fields {
    ($report:expr, $then:ident) => {
        $then!(
            invocation_id = $report.invocation_id.as_str(),
            records = $report.records as u64,
            ok = $report.ok as u64,
            dropped = $report.dropped as u64,
            failed = $report.failed as u64,
            spanning_hours = $report.spanning_hours as u64,
            readings = $report.readings as u64,
            duplicate_keys = $report.duplicate_keys as u64,
            arrival_fallback = $report.arrival_fallback as u64,
            bytes_in = $report.bytes_in as u64,
            bytes_out = $report.bytes_out as u64,
            duration_us = $report.duration.as_micros() as u64,
        )
    };
}

/// The fields of the line about one refused record (`$record_id`, for `$reason`), handed to `$then!`.
macro_rules! failure_fields {
    ($report:expr, $record_id:expr, $reason:expr, $then:ident) => {
        $then!(
            invocation_id = $report.invocation_id.as_str(),
            record_id = $record_id.as_str(),
            error_code = $reason.code(),
            reason = $reason.to_string(),
        )
    };
}

/// The fields as a list, each value as JSON.
macro_rules! field_list {
    ($($name:ident = $value:expr),+ $(,)?) => {
        vec![$((stringify!($name), serde_json::Value::from($value))),+]
    };
}

/// The message of the line about a record refused for `reason`.
fn failure_message(reason: &Reject) -> &'static str {
    if matches!(reason, Reject::SpansHours { .. }) { "record spans hours" } else { "record failed" }
}

impl BatchReport {
    /// Emits one line per `ProcessingFailed` record (`record failed`, or `record spans hours`) and one summary
    /// line through `tracing`: the lines [`BatchReport::log_lines`] lists.
    pub fn emit(&self) {
        for (record_id, reason) in &self.failures {
            let message = failure_message(reason);
            macro_rules! warn_line {
                ($($name:ident = $value:expr),+ $(,)?) => { tracing::warn!($($name = $value),+, "{message}") };
            }
            failure_fields!(self, record_id, reason, warn_line);
        }
        macro_rules! info_line {
            ($($name:ident = $value:expr),+ $(,)?) => { tracing::info!($($name = $value),+, "{SUMMARY_MESSAGE}") };
        }
        summary_fields!(self, info_line);
    }

    /// The lines [`BatchReport::emit`] logs, in its order: one per refused record, then the summary.
    pub fn log_lines(&self) -> Vec<LogLine> {
        let mut lines: Vec<LogLine> = self
            .failures
            .iter()
            .map(|(record_id, reason)| LogLine {
                level: "WARN",
                message: failure_message(reason),
                fields: failure_fields!(self, record_id, reason, field_list),
            })
            .collect();
        lines.push(LogLine { level: "INFO", message: SUMMARY_MESSAGE, fields: summary_fields!(self, field_list) });
        lines
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    use super::*;

    /// A log line's shape without its values: level, message and field names.
    type Shape = (String, String, Vec<String>);

    /// Keeps every event's [`Shape`].
    #[derive(Clone, Default)]
    struct Names(Arc<Mutex<Vec<Shape>>>);

    struct Fields(String, Vec<String>);

    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            match field.name() {
                "message" => self.0 = format!("{value:?}"),
                name => self.1.push(name.to_owned()),
            }
        }
    }

    impl Subscriber for Names {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut fields = Fields(String::new(), Vec::new());
            event.record(&mut fields);
            let level = event.metadata().level().to_string();
            self.0.lock().unwrap().push((level, fields.0, fields.1));
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    fn report() -> BatchReport {
        BatchReport {
            invocation_id: "inv-1".to_owned(),
            records: 3,
            ok: 1,
            failed: 1,
            spanning_hours: 1,
            duration: Duration::from_micros(105),
            failures: vec![
                ("r2".to_owned(), Reject::TruncatedJson),
                ("r3".to_owned(), Reject::SpansHours { index: 1, first: Hour(490_000), second: Hour(490_001) }),
            ],
            ..BatchReport::default()
        }
    }

    #[test]
    fn the_summary_line_names_what_the_metric_filter_and_scripts_read() {
        let lines = report().log_lines();
        let summary = lines.last().unwrap();
        assert_eq!((summary.level, summary.message), ("INFO", "batch transformed"));
        let names: Vec<&str> = summary.fields.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            [
                "invocation_id",
                "records",
                "ok",
                "dropped",
                "failed",
                "spanning_hours",
                "readings",
                "duplicate_keys",
                "arrival_fallback",
                "bytes_in",
                "bytes_out",
                "duration_us"
            ]
        );
        let value = |name: &str| summary.fields.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone());
        assert_eq!(value("duration_us"), Some(105.into()), "microseconds, as the name says");
        assert_eq!(value("invocation_id"), Some("inv-1".into()));
        let failures: Vec<(&str, &str, &serde_json::Value)> =
            lines[..2].iter().map(|l| (l.level, l.message, &l.fields[2].1)).collect();
        assert_eq!(
            failures,
            [
                ("WARN", "record failed", &"truncated_json".into()),
                ("WARN", "record spans hours", &"spans_hours".into())
            ]
        );
        for line in &lines[..2] {
            let names: Vec<&str> = line.fields.iter().map(|(name, _)| *name).collect();
            assert_eq!(names, ["invocation_id", "record_id", "error_code", "reason"]);
        }
    }

    #[test]
    fn emit_logs_exactly_the_listed_lines() {
        let report = report();
        let names = Names::default();
        tracing::subscriber::with_default(names.clone(), || report.emit());
        let emitted = names.0.lock().unwrap().clone();
        let listed: Vec<Shape> = report
            .log_lines()
            .into_iter()
            .map(|l| {
                let fields = l.fields.iter().map(|(name, _)| (*name).to_owned()).collect();
                (l.level.to_owned(), l.message.to_owned(), fields)
            })
            .collect();
        assert_eq!(emitted, listed);
    }
}
