//! What `reprocess` decides for each failed record, on any target: error objects read back (Firehose's
//! processing-failed lines, `lambdaArn` or `lambdaARN`, and the IoT rule's error-action documents), each record
//! judged by the transform this binary carries, and where an object goes once its records are resent. Sending
//! and moving objects is the command's; nothing here touches a lake or a stream.

use std::collections::BTreeMap;

use base64_simd::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::failed_records;

/// A record sent again this many times and failing still is left where it is, and reported.
pub(crate) const REPROCESS_LIMIT: u32 = 3;
/// Under the error prefix's fixed start: where the IoT rule's error action writes, and where done objects go.
pub(crate) const IOT_RULE_DIR: &str = "iot-rule/";
pub(crate) const DONE_DIR: &str = "reprocessed/";

/// Which writer an error object comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Firehose's processing-failed records, one JSON document per line.
    Firehose,
    /// One IoT rule error-action document: the message's payload (base64) and topic.
    IotRule,
}

/// Which kind an object under the error prefix's fixed start `root` is, or `None` for what `reprocess` leaves
/// alone (objects already done, and anything else).
pub(crate) fn kind_of(key: &str, root: &str) -> Option<Kind> {
    let rest = key.strip_prefix(root)?;
    if rest.starts_with(DONE_DIR) {
        None
    } else if rest.starts_with(IOT_RULE_DIR) {
        Some(Kind::IotRule)
    } else if key.contains("processing-failed") {
        Some(Kind::Firehose)
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

/// What the transform this binary carries makes of a record now.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Judged {
    /// Accepted: the record to send (sealed with its device and one more resend), and its readings.
    Resend { record: Vec<u8>, readings: u64 },
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

/// Every record of an error object, and the lines that are no failed record at all (kept, counted).
pub(crate) fn read(kind: Kind, bytes: &[u8]) -> (Vec<Found>, Vec<Vec<u8>>) {
    match kind {
        Kind::IotRule => {
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
        Kind::Firehose => {
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

/// The record judged by the transform this binary carries, as the deployed function will see it.
pub(crate) fn judge(found: &Found) -> Judged {
    if found.reprocessed >= REPROCESS_LIMIT {
        return Judged::Refused("reprocess_limit".into());
    }
    // Newline-ended, as the IoT rule's records are: records a stream concatenates stay apart.
    let mut record =
        reaqtions_lambda::envelope::seal_reprocessed(found.device_id.as_deref(), &found.payload, found.reprocessed + 1);
    record.push(b'\n');
    let mut scratch = Vec::new();
    match reaqtions_lambda::transform_record(
        &record,
        chrono::Utc::now().timestamp_millis(),
        reaqtions_lambda::Partitioning::Arrival,
        &mut scratch,
    ) {
        Ok(0) => Judged::Empty,
        Ok(readings) => Judged::Resend { record, readings: readings as u64 },
        Err(reason) => Judged::Refused(reason.code().to_owned()),
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
    /// Records still refused, by reason; they stay under the error prefix.
    pub(crate) still_failing: BTreeMap<String, u64>,
    /// Objects whose records were all resent or kept, moved under `<error root>reprocessed/`.
    pub(crate) objects_done: u64,
    /// Records the stream did not accept after every retry: they stay in their error object for the next run.
    pub(crate) unsent: u64,
    /// Lines of error objects that are no failed record (kept as they are).
    pub(crate) unreadable_lines: u64,
    pub(crate) note: &'static str,
}

pub(crate) const PARTITION_NOTE: &str = "resent readings land under the partition of their new arrival time (processed/ by the time reprocess ran), \
     not of their first arrival";

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
        assert_eq!(kind_of("error/processing-failed/year=2026/x", "error/"), Some(Kind::Firehose));
        assert_eq!(kind_of("error/iot-rule/aq-1/1764-uuid.json", "error/"), Some(Kind::IotRule));
        assert_eq!(kind_of("error/reprocessed/processing-failed/x", "error/"), None);
        assert_eq!(kind_of("processed/year=2026/x", "error/"), None);
        assert_eq!(done_key("error/processing-failed/y/x", "error/"), "error/reprocessed/processing-failed/y/x");
    }

    #[test]
    fn firehose_lines_and_iot_documents_are_read_back_to_what_was_sent() {
        let mut object = firehose_line(GOOD);
        object.push(b'\n');
        object.extend_from_slice(&firehose_line(&reaqtions_lambda::envelope::seal("aq-7", b"NO2=??")));
        object.extend_from_slice(b"\nnot a failed record\n\n");
        let (found, unreadable) = read(Kind::Firehose, &object);
        assert_eq!(found.len(), 2);
        assert_eq!((found[0].payload.as_slice(), found[0].device_id.as_deref()), (GOOD, None));
        assert_eq!((found[1].payload.as_slice(), found[1].device_id.as_deref()), (&b"NO2=??"[..], Some("aq-7")));
        assert_eq!(unreadable, [b"not a failed record".to_vec()]);

        let doc = serde_json::json!({
            "ruleName": "reaqtions_readings", "topic": "reaqtions/aq-3/readings", "cloudwatchTraceId": "t",
            "clientId": "aq-3", "base64OriginalPayload": B64.encode_to_string(GOOD),
            "failures": [{"failedAction": "FirehoseAction", "failedResource": "s", "errorMessage": "throttled"}],
        });
        let (found, _) = read(Kind::IotRule, doc.to_string().as_bytes());
        assert_eq!((found[0].device_id.as_deref(), found[0].payload.as_slice()), (Some("aq-3"), GOOD));
    }

    #[test]
    fn the_transform_judges_each_record_and_a_record_resent_too_often_stays() {
        let found = |payload: &[u8], device: Option<&str>, reprocessed| Found {
            line: vec![],
            device_id: device.map(str::to_owned),
            payload: payload.to_vec(),
            reprocessed,
        };
        let Judged::Resend { record, readings } = judge(&found(GOOD, Some("aq-3"), 0)) else { panic!() };
        assert_eq!(readings, 1);
        let opened = reaqtions_lambda::envelope::open(&record).unwrap().unwrap();
        assert_eq!((opened.device_id.as_deref(), opened.reprocessed), (Some("aq-3"), 1), "counted, device kept");
        let mut out = Vec::new();
        reaqtions_lambda::transform_record(&record, 0, reaqtions_lambda::Partitioning::Arrival, &mut out).unwrap();
        assert!(String::from_utf8(out).unwrap().contains("\"device_id\":\"aq-3\""));
        assert_eq!(judge(&found(b"NO2=??", None, 0)), Judged::Refused("invalid_json".into()));
        assert_eq!(judge(&found(b"  ", None, 0)), Judged::Empty);
        assert_eq!(judge(&found(GOOD, None, REPROCESS_LIMIT)), Judged::Refused("reprocess_limit".into()));
    }
}
