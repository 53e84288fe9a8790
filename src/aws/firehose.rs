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

use crate::error::Kind;
use crate::limits::SinkLimits;
use crate::seams::{RecordSink, SinkError};
use crate::settings::Partitioning;

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

/// Whether a failure of this kind is worth sending again: throttling, the service's own failures and answers
/// that never came; a resend cannot fix any other.
fn worth_resending(kind: Kind) -> bool {
    matches!(kind, Kind::Throttled | Kind::ServiceFault | Kind::Unreachable)
}

/// A refused entry, by its code's kind: ServiceUnavailableException and InternalFailure (the two codes
/// PutRecordBatch documents per entry) are resent; anything else is one no resend can fix. A stream's KMS key
/// problem fails the whole call (InvalidKMSResourceException), not an entry.
fn entry_error(stream: &str, code: &str, message: &str) -> SinkError {
    // The call itself succeeded (200): the entry's code alone says what went wrong.
    if worth_resending(super::error::kind_of(code, 200, "Firehose", message)) {
        SinkError::retryable(code, format!("{code}: {message}"))
    } else {
        SinkError::permanent(code, format!("delivery stream {stream} refused the record ({code}: {message})"))
    }
}

/// What a failed PutRecordBatch call means, and what to do about it, by its kind: throttling, 5xx, timeouts,
/// dropped connections and unreadable answers are retried; a missing stream, a denial, bad or expired
/// credentials, invalid arguments and KMS errors stop sending at once.
pub(crate) fn classify(stream: &str, region: &str, e: &SdkError<PutRecordBatchError, HttpResponse>) -> SinkError {
    use aws_smithy_types::error::metadata::ProvideErrorMetadata as _;
    let explained = super::explain(e);
    let kind = super::error::judge(e);
    let code = match e {
        SdkError::ServiceError(service) => {
            let code = service.err().code().filter(|c| !c.is_empty());
            code.map_or_else(|| format!("HTTP{}", service.raw().status().as_u16()), str::to_owned)
        }
        _ if kind == Kind::Credentials => "NoCredentials".to_owned(),
        _ if worth_resending(kind) => "ConnectionError".to_owned(),
        _ => "InvalidRequest".to_owned(),
    };
    match kind {
        _ if worth_resending(kind) => SinkError::retryable(&code, explained),
        Kind::NotFound => SinkError::permanent(
            &code,
            format!(
                "delivery stream {stream} does not exist in {region} ({code}): run `reaqtions status` to see what is \
                 deployed, or name the stream with --stream"
            ),
        ),
        Kind::Denied => {
            let said = e.as_service_error().and_then(|err| err.message()).unwrap_or("");
            SinkError::permanent(
                &code,
                format!(
                    "the caller may not call firehose:PutRecordBatch on delivery stream {stream} in {region} \
                     ({code}: {said}): attach the producer policy in examples/iam/producer.json"
                ),
            )
        }
        Kind::Credentials => SinkError::permanent(
            &code,
            format!("{explained}; send the rest with --resend once the credentials are refreshed"),
        ),
        _ => SinkError::permanent(&code, format!("PutRecordBatch to {stream} was refused ({explained})")),
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
        Err(e) if super::error::judge(&e) == Kind::NotFound => return Ok(None),
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

    /// PutRecordBatch answered with `code` at `status`.
    fn refused(status: u16, code: &str) -> SinkError {
        use aws_smithy_runtime_api::http::StatusCode;
        use aws_smithy_types::body::SdkBody;
        let meta = aws_smithy_types::error::ErrorMetadata::builder().code(code).message("said so").build();
        let raw = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        classify("lab", "eu-west-1", &SdkError::service_error(PutRecordBatchError::generic(meta), raw))
    }

    /// The call's failure is decided by its kind: what waiting can fix is resent, the rest stops sending with
    /// what to do.
    #[test]
    fn a_failed_call_is_resent_only_when_waiting_can_fix_it() {
        for (status, code) in [
            (400, "ThrottlingException"),
            (503, "ServiceUnavailableException"),
            (500, "InternalFailure"),
            (502, ""),
            (429, ""),
        ] {
            let e = refused(status, code);
            assert!(!e.permanent, "{status} {code}: {e:?}");
        }
        // An account's quota on streams, and the stream's KMS key: waiting fixes neither.
        for code in ["LimitExceededException", "InvalidKMSResourceException"] {
            assert!(refused(400, code).permanent, "{code}");
        }
        let missing = refused(400, "ResourceNotFoundException");
        assert!(missing.permanent && missing.message.contains("delivery stream lab does not exist in eu-west-1"));
        let denied = refused(400, "AccessDeniedException");
        assert!(denied.permanent && denied.message.contains("examples/iam/producer.json"), "{denied:?}");
        for code in ["ExpiredTokenException", "UnrecognizedClientException", "OptInRequired"] {
            let e = refused(403, code);
            assert!(
                e.permanent && e.message.contains("Firehose refused the") && e.message.contains("--resend"),
                "{e:?}"
            );
            assert!(!e.message.contains("examples/iam"), "not a denial: {e:?}");
        }
        let invalid = refused(400, "InvalidArgumentException");
        assert!(invalid.permanent && invalid.message.starts_with("PutRecordBatch to lab was refused"), "{invalid:?}");
        assert_eq!((refused(502, "").code, refused(418, "").code), ("HTTP502".to_owned(), "HTTP418".to_owned()));
    }

    /// An entry's code says whether a resend can help: the service's own failures yes, a KMS problem never.
    #[test]
    fn a_refused_entry_is_resent_unless_its_stream_cannot_use_its_key() {
        for code in ["ServiceUnavailableException", "InternalFailure"] {
            assert!(!entry_error("lab", code, "try later").permanent, "{code}");
        }
        for code in ["KMSAccessDeniedException", "KMSDisabledException", "KMSNotFoundException", "KMSOptInRequired"] {
            let e = entry_error("lab", code, "the key");
            assert!(e.permanent && e.message.contains(code) && e.message.contains("lab"), "{e:?}");
        }
    }

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
