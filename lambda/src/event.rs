//! Firehose data-transformation event and response types, exactly as Firehose sends and expects them.
//!
//! Unknown fields (`sourceKinesisStreamArn`, `kinesisRecordMetadata`, ...) are tolerated and ignored.

use serde::{Deserialize, Serialize};

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
}

/// Firehose's documented result values.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub enum TransformResult {
    Ok,
    Dropped,
    ProcessingFailed,
}
