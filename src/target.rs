//! The seams between the commands and where the pipeline runs: a record sink (where simulate sends readings),
//! an object lake (where report and verify read objects) and a log source (what logs reads). The local target
//! implements them on one machine; the AWS target implements them with Firehose, S3 and CloudWatch Logs.

use anyhow::Result;
use chrono::{DateTime, Utc};

/// Firehose's PutRecordBatch limits, honoured by every sender.
pub const MAX_BATCH_RECORDS: usize = 500;
pub const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;
pub const MAX_RECORD_BYTES: usize = 1000 * 1024;

/// Where readings are sent: a Firehose delivery stream, or the local one.
pub trait RecordSink: Send + Sync {
    /// Sends one batch (within the limits above). Returns, in request order, `None` for each accepted record
    /// and `Some(error code)` for each the stream refused (to be resent). `Err` means the whole call failed.
    fn put_record_batch(&self, records: &[Vec<u8>]) -> Result<Vec<Option<String>>>;

    /// Makes everything accepted so far durable (the local stream writes its buffers; Firehose needs nothing).
    fn flush(&self) -> Result<()>;
}

/// One stored object.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
    pub last_modified: DateTime<Utc>,
}

/// Where delivered objects are read from: an S3 bucket, or the local directory lake.
pub trait ObjectLake: Send + Sync {
    /// The bucket name, for messages.
    fn bucket(&self) -> &str;
    /// Every object whose key starts with `prefix`, in key order.
    fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>>;

    /// Objects under `prefix` whose key sorts after `after` (S3's StartAfter: the listing starts there).
    fn list_after(&self, prefix: &str, after: &str) -> Result<Vec<ObjectMeta>> {
        Ok(self.list(prefix)?.into_iter().filter(|o| o.key.as_str() > after).collect())
    }
    /// One object's bytes.
    fn get(&self, key: &str) -> Result<Vec<u8>>;
}

/// One log event.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEvent {
    pub timestamp: DateTime<Utc>,
    pub message: String,
}

/// Where log events are read from: CloudWatch Logs, or the local log files.
pub trait LogSource {
    /// Events of `group` at or after `since`, oldest first, whose text contains `filter`.
    fn events(&self, group: &str, since: Option<DateTime<Utc>>, filter: Option<&str>) -> Result<Vec<LogEvent>>;
}
