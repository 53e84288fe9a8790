//! The service limits the pipeline is shaped by, each written down once, below everything that honours them:
//! Firehose's (the AWS sink and the local stream), Lambda's (the local stream's batches), IoT Core's (the MQTT
//! sink, the local broker and simulate's plan).

/// What one call to a record sink may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkLimits {
    pub(crate) batch_records: usize,
    pub(crate) batch_bytes: usize,
    pub(crate) record_bytes: usize,
}

/// Firehose's PutRecordBatch: 500 records and 4 MiB a call, 1,000 KiB a record.
pub(crate) const FIREHOSE: SinkLimits =
    SinkLimits { batch_records: 500, batch_bytes: 4 * 1024 * 1024, record_bytes: 1000 * 1024 };

/// Lambda's synchronous request payload: what one invocation of the transform may be sent.
pub(crate) const LAMBDA_PAYLOAD_BYTES: usize = 6_000_000;

/// IoT Core's largest publish payload.
pub(crate) const IOT_PAYLOAD_BYTES: usize = 128 * 1024;
/// IoT Core's publishes per second per connection.
pub(crate) const IOT_PUBLISHES_PER_SECOND: f64 = 100.0;
/// IoT Core's unacknowledged QoS 1 publishes per client.
pub(crate) const IOT_INFLIGHT: u16 = 100;

/// The MQTT sink's calls: Firehose's batches (the rule forwards to the stream), IoT Core's payloads.
pub(crate) const MQTT: SinkLimits = SinkLimits { record_bytes: IOT_PAYLOAD_BYTES, ..FIREHOSE };

/// Firehose rounds every record up to the next 5 KB for billing (a 250-byte record is billed as 5 KB).
pub(crate) const BILLING_UNIT: u64 = 5 * 1024;

/// What Firehose bills for one record of `len` bytes.
pub(crate) fn billed_bytes(len: usize) -> u64 {
    (len as u64).div_ceil(BILLING_UNIT).max(1) * BILLING_UNIT
}
