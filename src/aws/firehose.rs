//! Firehose: PutRecordBatch as a [`RecordSink`] (per-entry results, so only failed entries are resent), and
//! the delivery stream's status.

use anyhow::{Result, anyhow};
use aws_sdk_firehose::Client;
use aws_sdk_firehose::error::SdkError;
use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record;
use tokio::runtime::Handle;

use crate::target::{RecordSink, SinkLimits};

/// PutRecordBatch's limits: 500 records, 4 MiB, 1,000 KiB per record.
pub const LIMITS: SinkLimits =
    SinkLimits { batch_records: 500, batch_bytes: 4 * 1024 * 1024, record_bytes: 1000 * 1024 };

/// A Direct-PUT delivery stream.
pub struct FirehoseSink {
    client: Client,
    stream: String,
    runtime: Handle,
}

impl FirehoseSink {
    pub fn new(client: Client, stream: &str, runtime: Handle) -> Self {
        FirehoseSink { client, stream: stream.to_owned(), runtime }
    }
}

impl RecordSink for FirehoseSink {
    fn limits(&self) -> SinkLimits {
        LIMITS
    }

    fn put_record_batch(&self, records: &[Vec<u8>]) -> Result<Vec<Option<String>>> {
        let entries: Vec<Record> =
            records.iter().map(|r| Record::builder().data(Blob::new(r.clone())).build()).collect::<Result<_, _>>()?;
        let out = self
            .runtime
            .block_on(
                self.client.put_record_batch().delivery_stream_name(&self.stream).set_records(Some(entries)).send(),
            )
            .map_err(|e| anyhow!("PutRecordBatch to {} failed: {}", self.stream, super::explain(&e)))?;
        // Entries come back in request order: an ErrorCode marks each one to resend.
        let results: Vec<Option<String>> =
            out.request_responses().iter().map(|r| r.error_code().map(str::to_owned)).collect();
        if results.len() != records.len() {
            return Err(anyhow!(
                "PutRecordBatch to {} answered {} entries for {}",
                self.stream,
                results.len(),
                records.len()
            ));
        }
        Ok(results)
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }
}

/// The stream's status (ACTIVE, CREATING, ...), or `None` when it does not exist.
pub async fn stream_status(client: &Client, name: &str) -> Result<Option<String>> {
    match client.describe_delivery_stream().delivery_stream_name(name).send().await {
        Ok(out) => Ok(out.delivery_stream_description().map(|d| d.delivery_stream_status().as_str().to_owned())),
        Err(SdkError::ServiceError(e)) if e.err().is_resource_not_found_exception() => Ok(None),
        Err(e) => Err(anyhow!("cannot describe delivery stream {name}: {}", super::explain(&e))),
    }
}
