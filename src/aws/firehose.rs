//! Firehose: PutRecordBatch as a [`RecordSink`] (per-entry results, so only failed entries are resent), and
//! the delivery stream's status.

use anyhow::Result;
use aws_sdk_firehose::Client;
use aws_sdk_firehose::config::http::HttpResponse;
use aws_sdk_firehose::error::SdkError;
use aws_sdk_firehose::operation::put_record_batch::PutRecordBatchError;
use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record;
use tokio::runtime::Handle;

use crate::limits::SinkLimits;
use crate::settings::Partitioning;
use crate::target::{RecordSink, SinkError};

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
        crate::limits::FIREHOSE
    }

    fn put_record_batch(&self, records: &[Vec<u8>]) -> Result<Vec<Option<SinkError>>, SinkError> {
        let entries: Vec<Record> = records
            .iter()
            .map(|r| Record::builder().data(Blob::new(r.clone())).build())
            .collect::<Result<_, _>>()
            .map_err(|e| SinkError::permanent("InvalidRecord", e.to_string()))?;
        let out = self
            .runtime
            .block_on(
                self.client.put_record_batch().delivery_stream_name(&self.stream).set_records(Some(entries)).send(),
            )
            .map_err(|e| classify(&self.stream, &self.region(), &e))?;
        // Entries come back in request order: an ErrorCode marks each one to resend (or, for a KMS problem,
        // one no resend can fix).
        let results: Vec<Option<SinkError>> = out
            .request_responses()
            .iter()
            .map(|r| r.error_code().map(|code| entry_error(&self.stream, code, r.error_message().unwrap_or(""))))
            .collect();
        if results.len() != records.len() {
            return Err(SinkError::retryable(
                "ResponseCountMismatch",
                format!("PutRecordBatch to {} answered {} entries for {}", self.stream, results.len(), records.len()),
            ));
        }
        Ok(results)
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }
}

impl FirehoseSink {
    fn region(&self) -> String {
        self.client.config().region().map_or_else(|| "this region".to_owned(), ToString::to_string)
    }
}

/// A refused entry: KMS problems are permanent, the rest (ServiceUnavailableException, InternalFailure) retryable.
fn entry_error(stream: &str, code: &str, message: &str) -> SinkError {
    if code.starts_with("KMS") {
        SinkError::permanent(code, format!("delivery stream {stream} cannot use its KMS key ({code}: {message})"))
    } else {
        SinkError::retryable(code, format!("{code}: {message}"))
    }
}

/// What a failed PutRecordBatch call means, and what to do about it. Throttling, 5xx, timeouts and dropped
/// connections are retried; a missing stream, a denial, bad or expired credentials, invalid arguments and KMS
/// errors stop sending at once.
pub(crate) fn classify(stream: &str, region: &str, e: &SdkError<PutRecordBatchError, HttpResponse>) -> SinkError {
    use aws_smithy_types::error::metadata::ProvideErrorMetadata as _;
    let explained = super::explain(e);
    let SdkError::ServiceError(service) = e else {
        return match e {
            SdkError::DispatchFailure(f) if f.is_other() => SinkError::permanent(
                "NoCredentials",
                format!("{explained}; send the rest with --resend once they are refreshed"),
            ),
            SdkError::ConstructionFailure(_) => SinkError::permanent("InvalidRequest", explained),
            _ => SinkError::retryable("ConnectionError", explained),
        };
    };
    let status = service.raw().status().as_u16();
    let code = service.err().code().unwrap_or("").to_owned();
    let message = service.err().message().unwrap_or("").to_owned();
    let code_or_status = if code.is_empty() { format!("HTTP{status}") } else { code.clone() };
    match code.as_str() {
        "ResourceNotFoundException" => SinkError::permanent(
            &code,
            format!(
                "delivery stream {stream} does not exist in {region} (ResourceNotFoundException): run `reaqtions \
                 status` to see what is deployed, or name the stream with --stream"
            ),
        ),
        "AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation" => SinkError::permanent(
            &code,
            format!(
                "the caller may not call firehose:PutRecordBatch on delivery stream {stream} in {region} \
                 ({code}: {message}): attach the producer policy in examples/iam/producer.json"
            ),
        ),
        "ExpiredTokenException" | "ExpiredToken" | "RequestExpired" | "TokenRefreshRequired" => SinkError::permanent(
            &code,
            format!(
                "the AWS credentials expired ({code}): refresh your credentials (e.g. `aws sso login`) and send the \
                 rest with --resend"
            ),
        ),
        "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "InvalidSignatureException"
        | "SignatureDoesNotMatch"
        | "IncompleteSignature"
        | "MissingAuthenticationToken" => SinkError::permanent(
            &code,
            format!("the AWS credentials were not accepted ({code}: {message}): check or refresh your credentials"),
        ),
        "InvalidKMSResourceException" => {
            SinkError::permanent(&code, format!("delivery stream {stream} cannot use its KMS key ({code}: {message})"))
        }
        "InvalidArgumentException" | "ValidationException" | "SerializationException" | "InvalidParameterValue" => {
            SinkError::permanent(&code, format!("PutRecordBatch to {stream} was refused ({code}: {message})"))
        }
        "ServiceUnavailableException"
        | "ThrottlingException"
        | "LimitExceededException"
        | "InternalFailure"
        | "InternalServerError" => SinkError::retryable(&code, explained),
        _ if status == 429 || status >= 500 => SinkError::retryable(&code_or_status, explained),
        _ => SinkError::permanent(&code_or_status, format!("PutRecordBatch to {stream} was refused ({explained})")),
    }
}

/// What the stream itself says: its status (ACTIVE, CREATING, ...), version, layout, and buffering (S3 and the
/// processor's) as it runs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StreamFacts {
    pub(crate) status: String,
    pub(crate) version: Option<u32>,
    /// Event when its S3 destination has dynamic partitioning enabled, else arrival; `None` without an S3
    /// destination description.
    pub(crate) partitioning: Option<Partitioning>,
    pub(crate) buffering: Option<crate::settings::Buffering>,
    pub(crate) processor_buffering: Option<crate::settings::ProcessorBuffering>,
}

/// The stream's facts, or `None` when there is no such stream.
pub(crate) async fn stream_facts(client: &Client, name: &str) -> Result<Option<StreamFacts>> {
    let out = match client.describe_delivery_stream().delivery_stream_name(name).send().await {
        Ok(out) => out,
        Err(SdkError::ServiceError(e)) if e.err().is_resource_not_found_exception() => return Ok(None),
        Err(e) => return Err(super::fail(format!("cannot describe delivery stream {name}"))(e)),
    };
    Ok(out.delivery_stream_description().map(facts_of))
}

/// What a stream's description says of it.
fn facts_of(d: &aws_sdk_firehose::types::DeliveryStreamDescription) -> StreamFacts {
    // Only the extended description: moto also echoes the block, polluted, under S3DestinationDescription.
    let s3 = d.destinations().first().and_then(|dest| dest.extended_s3_destination_description());
    let partitioning = s3.map(|s3| {
        let enabled = s3.dynamic_partitioning_configuration().and_then(|c| c.enabled()) == Some(true);
        if enabled { Partitioning::Event } else { Partitioning::Arrival }
    });
    let buffering = s3.and_then(|s3| s3.buffering_hints()).map(|h| crate::settings::Buffering {
        size_mib: h.size_in_mbs().unwrap_or_default().max(0) as u32,
        interval_seconds: h.interval_in_seconds().unwrap_or_default().max(0) as u32,
    });
    let parameters: Vec<(String, String)> = s3
        .and_then(|s3| s3.processing_configuration())
        .map(|p| {
            p.processors()
                .iter()
                .flat_map(|p| p.parameters())
                .map(|p| (p.parameter_name().as_str().to_owned(), p.parameter_value().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let parameter = |name: &str| parameters.iter().find(|(k, _)| k == name).and_then(|(_, v)| v.parse::<f64>().ok());
    let processor_buffering = match (parameter("BufferSizeInMBs"), parameter("BufferIntervalInSeconds")) {
        (Some(size_mb), Some(interval)) => {
            Some(crate::settings::ProcessorBuffering { size_mb, interval_seconds: interval as u32 })
        }
        _ => None,
    };
    StreamFacts {
        status: d.delivery_stream_status().as_str().to_owned(),
        version: d.version_id().parse().ok(),
        partitioning,
        buffering,
        processor_buffering,
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_firehose::types::{
        BufferingHints, CompressionFormat, DeliveryStreamDescription, DeliveryStreamStatus, DeliveryStreamType,
        DestinationDescription, DynamicPartitioningConfiguration, EncryptionConfiguration,
        ExtendedS3DestinationDescription, S3DestinationDescription,
    };

    use super::*;

    /// A stream whose destination has the extended description with `block` (if any), or only the plain one.
    fn described(extended: bool, block: Option<bool>) -> DeliveryStreamDescription {
        let hints = BufferingHints::builder().size_in_mbs(64).interval_in_seconds(60).build();
        let mut destination = DestinationDescription::builder().destination_id("destinationId-000000000001");
        if extended {
            let mut s3 = ExtendedS3DestinationDescription::builder()
                .role_arn("arn:aws:iam::123456789012:role/r")
                .bucket_arn("arn:aws:s3:::lake")
                .buffering_hints(hints.clone())
                .compression_format(CompressionFormat::Gzip)
                .encryption_configuration(EncryptionConfiguration::builder().build());
            if let Some(enabled) = block {
                let block = DynamicPartitioningConfiguration::builder().enabled(enabled).build();
                s3 = s3.dynamic_partitioning_configuration(block);
            }
            destination = destination.extended_s3_destination_description(s3.build().unwrap());
        }
        let plain = S3DestinationDescription::builder()
            .role_arn("arn:aws:iam::123456789012:role/r")
            .bucket_arn("arn:aws:s3:::lake")
            .buffering_hints(hints)
            .compression_format(CompressionFormat::Gzip)
            .encryption_configuration(EncryptionConfiguration::builder().build())
            .build()
            .unwrap();
        DeliveryStreamDescription::builder()
            .delivery_stream_name("s")
            .delivery_stream_arn("arn:aws:firehose:us-east-1:123456789012:deliverystream/s")
            .delivery_stream_status(DeliveryStreamStatus::Active)
            .delivery_stream_type(DeliveryStreamType::DirectPut)
            .version_id("3")
            .destinations(destination.s3_destination_description(plain).build().unwrap())
            .has_more_destinations(false)
            .build()
            .unwrap()
    }

    /// The layout is the extended S3 description's dynamic partitioning, and nothing else's: enabled is event,
    /// absent or disabled arrival, no extended description no answer.
    #[test]
    fn the_layout_is_read_from_the_extended_description_only() {
        for (extended, block, expected) in [
            (true, Some(true), Some(Partitioning::Event)),
            (true, Some(false), Some(Partitioning::Arrival)),
            (true, None, Some(Partitioning::Arrival)),
            (false, None, None),
        ] {
            let facts = facts_of(&described(extended, block));
            assert_eq!(facts.partitioning, expected, "extended {extended}, block {block:?}");
            assert_eq!((facts.version, facts.status.as_str()), (Some(3), "ACTIVE"));
        }
    }
}
