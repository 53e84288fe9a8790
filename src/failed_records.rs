//! Records the pipeline refused, as Firehose writes them under the error prefix: one JSON document per line
//! (`attemptsMade`, `arrivalTimestamp`, `errorCode`, `errorMessage`, `rawData`, …) whose `rawData` is the record
//! Firehose received, base64. A record from the IoT rule is its envelope; it is opened here to the topic's
//! device and the message's own bytes, so everything that reads `error/` sees what the device sent.

use base64_simd::STANDARD as B64;
use serde::Deserialize;

/// The error-type folder Firehose's records beyond Firehose's active-partition quota (500 by default) are written under, in place of
/// `!{firehose:error-output-type}`. UNCONFIRMED (awaits a real-account check): the developer guide says only that
/// they go to "the specified S3 error bucket prefix (activePartitionExceeded)"; the folder it renders as, the
/// error record's `errorCode` and `errorMessage` ([`ACTIVE_PARTITION_EXCEEDED_CODE`]) and whether `rawData` holds
/// the record as received (what the local stream writes, so `reprocess` can send it again) are all undocumented.
pub(crate) const ACTIVE_PARTITION_EXCEEDED_FOLDER: &str = "activePartitionExceeded";
/// `errorCode` and `errorMessage` of a record beyond the active-partition quota. UNCONFIRMED, as the folder.
pub(crate) const ACTIVE_PARTITION_EXCEEDED_CODE: (&str, &str) = (
    "DynamicPartitioning.ActivePartitionExceeded",
    "The number of active partitions exceeded the delivery stream's limit",
);

/// The error-type folder of records the transform refused (`ProcessingFailed`): Firehose's documented value.
pub(crate) const PROCESSING_FAILED_FOLDER: &str = "processing-failed";

/// The error-type folder of an `Ok` record whose partition keys are missing or name no hour (the transform
/// always gives them, so only a broken transform gets here). UNCONFIRMED (awaits a real-account check): the
/// guide says such records go to the error prefix "organized based on the error type" without naming it.
pub(crate) const KEYS_FAILED_FOLDER: &str = "partition-keys-failed";
/// `errorCode` and `errorMessage` of such a record. UNCONFIRMED, as the folder.
pub(crate) const KEYS_FAILED_CODE: (&str, &str) =
    ("DynamicPartitioning.MetadataExtractionFailed", "Partition keys were not returned for the record");

/// Every error-type folder the pipeline's failed records can be under, in place of `!{firehose:error-output-type}`.
pub(crate) const ERROR_FOLDERS: [&str; 3] =
    [PROCESSING_FAILED_FOLDER, ACTIVE_PARTITION_EXCEEDED_FOLDER, KEYS_FAILED_FOLDER];

/// One refused record, opened.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedRecord {
    /// The device of the IoT topic the message came on (`None` for a Direct-PUT record: its bytes may say).
    pub device_id: Option<String>,
    /// What the producer sent, byte for byte.
    pub payload: Vec<u8>,
    pub(crate) error_code: Option<String>,
    pub(crate) error_message: Option<String>,
    /// Firehose's arrival time, epoch milliseconds.
    pub(crate) arrival_ms: Option<i64>,
    /// How many times `reprocess` had sent the record again before it failed this time.
    pub(crate) reprocessed: u32,
}

#[derive(Deserialize)]
struct Line {
    #[serde(rename = "rawData")]
    raw_data: String,
    #[serde(rename = "errorCode")]
    error_code: Option<String>,
    #[serde(rename = "errorMessage")]
    error_message: Option<String>,
    #[serde(rename = "arrivalTimestamp")]
    arrival_ms: Option<i64>,
}

/// One line of an error object; `None` when it is not a Firehose error record.
pub fn parse(line: &[u8]) -> Option<FailedRecord> {
    let line: Line = serde_json::from_slice(line).ok()?;
    let raw = B64.decode_to_vec(line.raw_data.as_bytes()).ok()?;
    let (device_id, payload, reprocessed) = match reaqtions_lambda::envelope::open(&raw) {
        Ok(Some(message)) => (message.device_id, message.payload, message.reprocessed),
        _ => (None, raw, 0),
    };
    Some(FailedRecord {
        device_id,
        payload,
        error_code: line.error_code,
        error_message: line.error_message,
        arrival_ms: line.arrival_ms,
        reprocessed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(raw: &[u8]) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "attemptsMade": 1, "arrivalTimestamp": 1764140400000i64, "errorCode": "Lambda.ProcessingFailedStatus",
            "errorMessage": "record is not JSON", "rawData": B64.encode_to_string(raw), "lambdaArn": "arn:x",
        }))
        .unwrap()
    }

    #[test]
    fn an_enveloped_record_opens_to_its_device_and_bytes_and_a_plain_one_stays_as_sent() {
        let mut enveloped = Vec::new();
        crate::mqtt::record("aq-0004", b"NO2=??", &mut enveloped);
        let failed = parse(&line(&enveloped)).unwrap();
        assert_eq!((failed.device_id.as_deref(), failed.payload.as_slice()), (Some("aq-0004"), &b"NO2=??"[..]));
        assert_eq!(failed.error_code.as_deref(), Some("Lambda.ProcessingFailedStatus"));
        assert_eq!(failed.arrival_ms, Some(1764140400000));

        let plain = parse(&line(b"{\"NO2\": \"x\"}")).unwrap();
        assert_eq!((plain.device_id, plain.payload), (None, b"{\"NO2\": \"x\"}".to_vec()));
        assert_eq!(parse(b"{\"not\": \"an error record\"}"), None);
    }
}
