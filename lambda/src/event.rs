//! Firehose data-transformation event and response types, exactly as Firehose sends and expects them.
//!
//! Unknown fields (`sourceKinesisStreamArn`, `kinesisRecordMetadata`, ...) are tolerated and ignored.

use serde::{Deserialize, Serialize};

use crate::time::Hour;

/// The event Firehose sends to a transformation Lambda.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirehoseEvent {
    #[serde(default)]
    pub invocation_id: String,
    #[serde(default)]
    pub delivery_stream_arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_kinesis_stream_arn: Option<String>,
    #[serde(default)]
    pub region: String,
    pub records: Vec<FirehoseRecord>,
}

/// One buffered record: `data` is the producer's bytes, base64-encoded.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirehoseRecord {
    pub record_id: String,
    /// Milliseconds since the Unix epoch at which Firehose accepted the record.
    #[serde(default)]
    pub approximate_arrival_timestamp: f64,
    pub data: String,
}

/// The response: exactly one record per input `recordId`, in the same order.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FirehoseResponse {
    pub records: Vec<FirehoseResponseRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FirehoseResponseRecord {
    pub record_id: String,
    pub result: TransformResult,
    /// Base64 of the transformed bytes (NDJSON for `Ok`, empty for `Dropped`, the input for `ProcessingFailed`).
    pub data: String,
    /// With dynamic partitioning: the keys of the partition an `Ok` record goes to. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ResponseMetadata>,
}

/// `"metadata":{"partitionKeys":{...}}` of a response record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ResponseMetadata {
    pub partition_keys: PartitionKeys,
}

/// The keys the S3 prefix names as `!{partitionKeyFromLambda:year}` etc.: the UTC hour of the record's
/// readings, as zero-padded strings (`"2026"`, `"11"`, `"05"`, `"08"`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PartitionKeys {
    pub year: String,
    pub month: String,
    pub day: String,
    pub hour: String,
}

impl From<Hour> for PartitionKeys {
    fn from(hour: Hour) -> Self {
        let (year, month, day, hour) = hour.civil();
        PartitionKeys {
            year: format!("{year:04}"),
            month: format!("{month:02}"),
            day: format!("{day:02}"),
            hour: format!("{hour:02}"),
        }
    }
}

/// Firehose's documented result values.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub enum TransformResult {
    Ok,
    Dropped,
    ProcessingFailed,
}
