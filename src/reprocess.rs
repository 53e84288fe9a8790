//! What `reprocess` decides for each failed record, on any target: error objects read back (Firehose's
//! processing-failed lines, `lambdaArn` or `lambdaARN`, and the IoT rule's error-action documents), each record
//! judged by the transform this binary carries in the pipeline's partitioning, a record whose readings span hours
//! (refused in event mode) split into one record per hour, and where an object goes once its records are resent.
//! Sending and moving objects is the command's; nothing here touches a lake or a stream.

use std::collections::BTreeMap;

use base64_simd::STANDARD as B64;
use serde::{Deserialize, Serialize};

use reaqtions_lambda::{Hour, Partitioning, Reject};

use crate::failed_records;

/// A record sent again this many times and failing still is left where it is, and reported.
pub(crate) const REPROCESS_LIMIT: u32 = 3;
/// Under the error prefix's fixed start: where the IoT rule's error action writes, and where done objects go.
pub(crate) const IOT_RULE_DIR: &str = "iot-rule/";
pub(crate) const DONE_DIR: &str = "reprocessed/";

/// Which writer an error object comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Writer {
    /// Firehose's processing-failed records, one JSON document per line.
    Firehose,
    /// One IoT rule error-action document: the message's payload (base64) and topic.
    IotRule,
}

/// Which kind an object under the error prefix's fixed start `root` is, or `None` for what `reprocess` leaves
/// alone (objects already done, and anything else).
pub(crate) fn writer_of(key: &str, root: &str) -> Option<Writer> {
    let rest = key.strip_prefix(root)?;
    if rest.starts_with(DONE_DIR) {
        None
    } else if rest.starts_with(IOT_RULE_DIR) {
        Some(Writer::IotRule)
    } else if crate::failed_records::ERROR_FOLDERS.iter().any(|folder| rest.contains(folder)) {
        Some(Writer::Firehose)
    } else {
        None
    }
}

/// Where a done object is kept: out of the prefixes `reprocess` (and the errors table) read.
pub(crate) fn done_key(key: &str, root: &str) -> String {
    format!("{root}{DONE_DIR}{}", key.strip_prefix(root).unwrap_or(key))
}

/// One failed record as found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Found {
    /// The line (or document) as it was written, kept as is when the record stays.
    pub(crate) line: Vec<u8>,
    /// The topic's device for a message from the IoT rule.
    pub(crate) device_id: Option<String>,
    /// What the producer sent.
    pub(crate) payload: Vec<u8>,
    pub(crate) reprocessed: u32,
}

/// One record to send for a failed record: all of it, or one hour's readings of it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Part {
    /// The record to send: sealed with its device and one more resend.
    pub(crate) record: Vec<u8>,
    /// Its readings as the producer sent them, byte for byte (what a remainder keeps when it is not sent).
    pub(crate) payload: Vec<u8>,
    pub(crate) readings: u64,
}

/// What the transform this binary carries makes of a record now.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Judged {
    /// Accepted: the records to send, one (the record as it was) or, for a record whose readings fall in several
    /// hours in event mode, one per hour in the order each hour first appears.
    Resend(Vec<Part>),
    /// Accepted with nothing in it (blank): nothing to send, nothing to keep.
    Empty,
    /// Still refused, by this code (`reprocess_limit` when sent too often already).
    Refused(String),
}

#[derive(Deserialize)]
struct IotFailure {
    topic: String,
    #[serde(rename = "base64OriginalPayload")]
    payload: String,
}

/// The IoT rule error document's field holding the message, base64.
const IOT_PAYLOAD_FIELD: &str = "base64OriginalPayload";
/// The Firehose error record's field holding the record as received, base64.
const FIREHOSE_RAW_FIELD: &str = "rawData";

/// Every record of an error object, and the lines that are no failed record at all (kept, counted).
pub(crate) fn read(kind: Writer, bytes: &[u8]) -> (Vec<Found>, Vec<Vec<u8>>) {
    match kind {
        Writer::IotRule => {
            let found = serde_json::from_slice::<IotFailure>(bytes).ok().and_then(|doc| {
                let payload = B64.decode_to_vec(doc.payload.as_bytes()).ok()?;
                let device_id = doc.topic.split('/').nth(1).filter(|d| !d.is_empty()).map(str::to_owned);
                Some(Found { line: bytes.to_vec(), device_id, payload, reprocessed: 0 })
            });
            match found {
                Some(f) => (vec![f], vec![]),
                None => (vec![], vec![bytes.to_vec()]),
            }
        }
        Writer::Firehose => {
            let mut found = Vec::new();
            let mut unreadable = Vec::new();
            for line in bytes.split(|b| *b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace)) {
                match failed_records::parse(line) {
                    Some(r) => found.push(Found {
                        line: line.to_vec(),
                        device_id: r.device_id,
                        payload: r.payload,
                        reprocessed: r.reprocessed,
                    }),
                    None => unreadable.push(line.to_vec()),
                }
            }
            (found, unreadable)
        }
    }
}

/// The record judged by the transform this binary carries, as the deployed function will see it: in the
/// pipeline's `partitioning`, arriving about now (`now_ms`). A record refused in event mode because its readings
/// fall in several hours is split by hour ([`split_by_hour`]) and each part judged again.
///
/// The hours are those of the resend's arrival, not of the error record's `arrivalTimestamp`: a reading without a
/// usable `TIME` takes its record's arrival hour, and the transform will key it by the arrival of the record sent
/// now. Grouping it by its first arrival would put it beside readings of another hour and be refused again.
pub(crate) fn judge(found: &Found, partitioning: Partitioning, now_ms: i64) -> Judged {
    if found.reprocessed >= REPROCESS_LIMIT {
        return Judged::Refused("reprocess_limit".into());
    }
    let part = |payload: &[u8]| -> Result<Part, Reject> {
        // Newline-ended, as the IoT rule's records are: records a stream concatenates stay apart.
        let mut record =
            reaqtions_lambda::envelope::seal_reprocessed(found.device_id.as_deref(), payload, found.reprocessed + 1);
        record.push(b'\n');
        let readings = reaqtions_lambda::transform_record(&record, now_ms, partitioning, &mut Vec::new())?;
        Ok(Part { record, payload: payload.to_vec(), readings: readings as u64 })
    };
    let parts = match part(&found.payload) {
        Ok(whole) if whole.readings == 0 => return Judged::Empty,
        Ok(whole) => vec![whole],
        Err(Reject::SpansHours { .. }) => match split_by_hour(&found.payload, now_ms) {
            Ok(hours) => match hours.iter().map(|h| part(h)).collect::<Result<Vec<Part>, Reject>>() {
                Ok(parts) => parts,
                Err(reason) => return Judged::Refused(reason.code().to_owned()),
            },
            Err(code) => return Judged::Refused(code),
        },
        Err(reason) => return Judged::Refused(reason.code().to_owned()),
    };
    Judged::Resend(parts)
}

/// The readings of `payload` grouped by the hour the transform files each under for a record arriving at
/// `arrival_ms`: one payload per hour, in the order each hour first appears, each holding that hour's readings in
/// their order, byte for byte as sent, one per line (newline-delimited; the transform takes readings back to back
/// with or without whitespace between them, and refuses a JSON array). Each reading's hour is the transform's own
/// rule ([`reaqtions_lambda::time::reading_time_ms`] on its `TIME`, [`Hour`]). `Err` is the code the record
/// stays under: the transform's, when it refuses the readings for anything else than their hours.
pub(crate) fn split_by_hour(payload: &[u8], arrival_ms: i64) -> Result<Vec<Vec<u8>>, String> {
    let mut transformed = Vec::new();
    let count = reaqtions_lambda::transform_record(payload, arrival_ms, Partitioning::Arrival, &mut transformed)
        .map_err(|reason| reason.code().to_owned())?;
    let spans = reading_spans(payload);
    // The transform accepted the readings, so its count and the spans agree; if ever not, nothing is split.
    if spans.len() != count {
        return Err(UNSPLIT.to_owned());
    }
    let mut hours: Vec<(Hour, Vec<u8>)> = Vec::new();
    let lines = transformed.split(|b| *b == b'\n').filter(|l| !l.is_empty());
    for (line, span) in lines.zip(spans) {
        let reading: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(line).map_err(|_| UNSPLIT.to_owned())?;
        let time = reading.get("TIME").and_then(serde_json::Value::as_str);
        let hour = Hour::of_ms(reaqtions_lambda::time::reading_time_ms(time, arrival_ms));
        let bytes = &payload[span];
        match hours.iter_mut().find(|(h, _)| *h == hour) {
            Some((_, group)) => {
                group.extend_from_slice(bytes);
                group.push(b'\n');
            }
            None => hours.push((hour, [bytes, b"\n"].concat())),
        }
    }
    Ok(hours.into_iter().map(|(_, group)| group).collect())
}

/// What a record whose readings span hours stays under when its readings cannot be told apart (never seen: the
/// transform accepted them).
const UNSPLIT: &str = "spans_hours_unsplit";

/// Where each top-level reading of `payload` is: objects back to back, whitespace (as the transform skips it)
/// between them and a UTF-8 byte-order mark allowed first. Strings are skipped whole (a brace in one is text);
/// what lies between the braces is not checked here (the transform did).
fn reading_spans(payload: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut at = if payload.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
    let mut spans = Vec::new();
    loop {
        while matches!(payload.get(at), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            at += 1;
        }
        if at >= payload.len() || payload[at] != b'{' {
            return spans;
        }
        let (start, mut depth, mut in_string, mut escaped) = (at, 0usize, false, false);
        while let Some(&b) = payload.get(at) {
            at += 1;
            match (in_string, b) {
                (true, _) if escaped => escaped = false,
                (true, b'\\') => escaped = true,
                (true, b'"') => in_string = false,
                (true, _) => {}
                (false, b'"') => in_string = true,
                (false, b'{' | b'[') => depth += 1,
                (false, b'}' | b']') => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                (false, _) => {}
            }
        }
        if depth != 0 {
            return spans;
        }
        spans.push(start..at);
    }
}

/// The line (or document) to keep for the readings of `found` that were not sent: the error record as it was
/// written, its record's bytes replaced by `payload` (sealed again with its device and count, as it came), so the
/// next run sends only those.
pub(crate) fn remainder(kind: Writer, found: &Found, payload: &[u8]) -> Vec<u8> {
    let (field, raw) = match kind {
        Writer::IotRule => (IOT_PAYLOAD_FIELD, payload.to_vec()),
        Writer::Firehose if found.device_id.is_some() || found.reprocessed > 0 => (
            FIREHOSE_RAW_FIELD,
            reaqtions_lambda::envelope::seal_reprocessed(found.device_id.as_deref(), payload, found.reprocessed),
        ),
        Writer::Firehose => (FIREHOSE_RAW_FIELD, payload.to_vec()),
    };
    match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&found.line) {
        Ok(mut line) => {
            line.insert(field.to_owned(), B64.encode_to_string(&raw).into());
            serde_json::to_vec(&line).expect("a JSON map serializes")
        }
        // It was read as an error record, so it is JSON; kept whole if ever not.
        Err(_) => found.line.clone(),
    }
}

/// What a run did (or, with `--dry-run`, would do).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct ReprocessSummary {
    pub(crate) dry_run: bool,
    /// Error objects read, failed records in them, and readings in the records the transform accepts now.
    pub(crate) objects: u64,
    pub records: u64,
    pub(crate) readings_found: u64,
    /// Readings the stream accepted again (with `--dry-run`, that would be sent).
    pub(crate) resent: u64,
    /// Records whose readings fall in several hours (refused in event mode), resent split by hour, and the
    /// records they were split into.
    pub(crate) split_by_hour: u64,
    pub(crate) hour_records: u64,
    /// Records still refused, by reason; they stay under the error prefix.
    pub(crate) still_failing: BTreeMap<String, u64>,
    /// Objects whose records were all resent or kept, moved under `<error root>reprocessed/`.
    pub(crate) objects_done: u64,
    /// Records the stream did not accept (all or some of their hours) after every retry: what was not sent stays
    /// in an error object for the next run.
    pub(crate) unsent: u64,
    /// Lines of error objects that are no failed record (kept as they are).
    pub(crate) unreadable_lines: u64,
    pub(crate) note: &'static str,
}

/// Where resent readings land, by the pipeline's partitioning.
pub(crate) fn partition_note(partitioning: Partitioning) -> &'static str {
    match partitioning {
        Partitioning::Arrival => {
            "resent readings land under the partition of their new arrival time (processed/ by the time reprocess \
             ran), not of their first arrival"
        }
        Partitioning::Event => {
            "resent readings land under the partition of the hour they were measured in (a reading without a \
             usable TIME: the hour reprocess ran); a record whose readings span hours is sent as one record per hour"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn firehose_line(raw: &[u8]) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "attemptsMade": 4, "arrivalTimestamp": 1764140400000i64, "errorCode": "Lambda.ProcessingFailedStatus",
            "errorMessage": "x", "attemptEndingTimestamp": 1764140401000i64, "rawData": B64.encode_to_string(raw),
            "lambdaARN": "arn:aws:lambda:us-east-1:1:function:f:$LATEST",
        }))
        .unwrap()
    }

    const GOOD: &[u8] = br#"{"TIME": "2026-11-26T07:00:00.000000", "NO2": 1.5, "PM2_5": 7}"#;

    #[test]
    fn keys_decide_the_kind_and_done_objects_are_left_alone() {
        assert_eq!(writer_of("error/processing-failed/year=2026/x", "error/"), Some(Writer::Firehose));
        assert_eq!(writer_of("error/iot-rule/aq-1/1764-uuid.json", "error/"), Some(Writer::IotRule));
        assert_eq!(writer_of("error/reprocessed/processing-failed/x", "error/"), None);
        assert_eq!(writer_of("error/activePartitionExceeded/year=2026/x", "error/"), Some(Writer::Firehose));
        assert_eq!(writer_of("error/partition-keys-failed/year=2026/x", "error/"), Some(Writer::Firehose));
        assert_eq!(writer_of("processed/year=2026/x", "error/"), None);
        assert_eq!(done_key("error/processing-failed/y/x", "error/"), "error/reprocessed/processing-failed/y/x");
    }

    #[test]
    fn firehose_lines_and_iot_documents_are_read_back_to_what_was_sent() {
        let mut object = firehose_line(GOOD);
        object.push(b'\n');
        object.extend_from_slice(&firehose_line(&reaqtions_lambda::envelope::seal("aq-7", b"NO2=??")));
        object.extend_from_slice(b"\nnot a failed record\n\n");
        let (found, unreadable) = read(Writer::Firehose, &object);
        assert_eq!(found.len(), 2);
        assert_eq!((found[0].payload.as_slice(), found[0].device_id.as_deref()), (GOOD, None));
        assert_eq!((found[1].payload.as_slice(), found[1].device_id.as_deref()), (&b"NO2=??"[..], Some("aq-7")));
        assert_eq!(unreadable, [b"not a failed record".to_vec()]);

        let doc = serde_json::json!({
            "ruleName": "reaqtions_readings", "topic": "reaqtions/aq-3/readings", "cloudwatchTraceId": "t",
            "clientId": "aq-3", "base64OriginalPayload": B64.encode_to_string(GOOD),
            "failures": [{"failedAction": "FirehoseAction", "failedResource": "s", "errorMessage": "throttled"}],
        });
        let (found, _) = read(Writer::IotRule, doc.to_string().as_bytes());
        assert_eq!((found[0].device_id.as_deref(), found[0].payload.as_slice()), (Some("aq-3"), GOOD));
    }

    /// 2026-11-26T12:00:00Z: when the records of these tests are resent.
    const NOW_MS: i64 = 1_795_694_400_000;

    fn found(payload: &[u8], device: Option<&str>, reprocessed: u32) -> Found {
        Found { line: vec![], device_id: device.map(str::to_owned), payload: payload.to_vec(), reprocessed }
    }

    #[test]
    fn the_transform_judges_each_record_and_a_record_resent_too_often_stays() {
        let judged = judge(&found(GOOD, Some("aq-3"), 0), Partitioning::Arrival, NOW_MS);
        let Judged::Resend(parts) = &judged else { panic!("{judged:?}") };
        let [Part { record, payload, readings: 1 }] = parts.as_slice() else { panic!("{parts:?}") };
        assert_eq!(payload, GOOD);
        let opened = reaqtions_lambda::envelope::open(record).unwrap().unwrap();
        assert_eq!((opened.device_id.as_deref(), opened.reprocessed), (Some("aq-3"), 1), "counted, device kept");
        let mut out = Vec::new();
        reaqtions_lambda::transform_record(record, 0, Partitioning::Arrival, &mut out).unwrap();
        assert!(String::from_utf8(out).unwrap().contains("\"device_id\":\"aq-3\""));
        let judge = |f: &Found| judge(f, Partitioning::Event, NOW_MS);
        assert_eq!(judge(&found(b"NO2=??", None, 0)), Judged::Refused("invalid_json".into()));
        assert_eq!(judge(&found(b"  ", None, 0)), Judged::Empty);
        assert_eq!(judge(&found(GOOD, None, REPROCESS_LIMIT)), Judged::Refused("reprocess_limit".into()));
    }

    /// A pack of five readings over 10:59-11:01 as a Python device writes them (no delimiter, a `NaN`, a brace in a
    /// string, a byte-order mark first), and one without TIME.
    const SPANNING: &[u8] = b"\xEF\xBB\xBF{\"TIME\": \"2026-11-26T10:59:00\", \"seq\": 1, \"note\": \"} {\"}\
        {\"TIME\": \"2026-11-26T11:00:30Z\", \"seq\": 2, \"NO2\": NaN}\n\
        {\"TIME\": \"2026-11-26T10:59:59.999\", \"seq\": 3, \"extra\": [1, {\"x\": 2}]}  \r\n\
        {\"TIME\": \"2026-11-26T13:01:00+02:00\", \"seq\": 4}\t{\"seq\": 5}\n";

    #[test]
    fn a_record_spanning_hours_splits_into_one_record_per_hour_byte_for_byte() {
        let hours = split_by_hour(SPANNING, NOW_MS).unwrap();
        let text: Vec<&str> = hours.iter().map(|h| std::str::from_utf8(h).unwrap()).collect();
        assert_eq!(
            text,
            [
                "{\"TIME\": \"2026-11-26T10:59:00\", \"seq\": 1, \"note\": \"} {\"}\n\
                 {\"TIME\": \"2026-11-26T10:59:59.999\", \"seq\": 3, \"extra\": [1, {\"x\": 2}]}\n",
                "{\"TIME\": \"2026-11-26T11:00:30Z\", \"seq\": 2, \"NO2\": NaN}\n\
                 {\"TIME\": \"2026-11-26T13:01:00+02:00\", \"seq\": 4}\n",
                // No TIME: the hour of the resend's arrival, as the transform will key it.
                "{\"seq\": 5}\n",
            ],
            "the hours in the order they first appear, each hour's readings in theirs"
        );
        // Each part is one hour's record for the transform in event mode, and together they hold every reading.
        let mut readings = 0;
        for hour in &hours {
            readings += reaqtions_lambda::transform_record(hour, NOW_MS, Partitioning::Event, &mut Vec::new()).unwrap();
        }
        assert_eq!(readings, 5);
        let refused = reaqtions_lambda::transform_record(SPANNING, NOW_MS, Partitioning::Event, &mut Vec::new());
        assert_eq!(refused.unwrap_err().code(), "spans_hours");
        assert_eq!(split_by_hour(b"{\"TIME\": \"x\"}", NOW_MS), Err("bad_time".into()));
        assert_eq!(split_by_hour(b"[{\"seq\": 1}]", NOW_MS), Err("not_an_object".into()));
    }

    #[test]
    fn event_mode_resends_a_spanning_record_split_and_arrival_mode_whole() {
        let f = found(SPANNING, Some("aq-9"), 1);
        let Judged::Resend(whole) = judge(&f, Partitioning::Arrival, NOW_MS) else { panic!() };
        assert_eq!((whole.len(), whole[0].readings), (1, 5), "one record holds any hours in arrival mode");
        let judged = judge(&f, Partitioning::Event, NOW_MS);
        let Judged::Resend(parts) = &judged else { panic!("{judged:?}") };
        assert_eq!(parts.iter().map(|p| p.readings).collect::<Vec<_>>(), [2, 2, 1]);
        for part in parts {
            let opened = reaqtions_lambda::envelope::open(&part.record).unwrap().unwrap();
            assert_eq!((opened.device_id.as_deref(), opened.reprocessed), (Some("aq-9"), 2));
            assert_eq!(opened.payload, part.payload);
        }
    }

    #[test]
    fn what_was_not_sent_is_kept_as_an_error_record_of_those_readings_only() {
        let mut f = found(SPANNING, None, 0);
        f.line = firehose_line(SPANNING);
        let kept = remainder(Writer::Firehose, &f, b"{\"seq\": 5}\n");
        let again = failed_records::parse(&kept).unwrap();
        assert_eq!((again.payload.as_slice(), again.device_id, again.reprocessed), (&b"{\"seq\": 5}\n"[..], None, 0));
        let line: serde_json::Value = serde_json::from_slice(&kept).unwrap();
        assert_eq!(line["errorCode"], "Lambda.ProcessingFailedStatus", "the rest of the error record as written");

        let (mut f, device) = (found(SPANNING, Some("aq-9"), 1), Some("aq-9".to_owned()));
        f.line = firehose_line(b"whatever was sealed");
        let again = failed_records::parse(&remainder(Writer::Firehose, &f, b"{}")).unwrap();
        assert_eq!((again.payload.as_slice(), again.device_id, again.reprocessed), (&b"{}"[..], device, 1));

        let doc = serde_json::json!({"topic": "reaqtions/aq-3/readings", "base64OriginalPayload": "e30="});
        let f = Found { line: doc.to_string().into_bytes(), ..found(b"{}", Some("aq-3"), 0) };
        let (kept, _) = read(Writer::IotRule, &remainder(Writer::IotRule, &f, b"{\"seq\": 5}"));
        assert_eq!((kept[0].payload.as_slice(), kept[0].device_id.as_deref()), (&b"{\"seq\": 5}"[..], Some("aq-3")));
    }
}
