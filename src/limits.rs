//! The service limits the pipeline is shaped by, each written down once, below everything that honours them:
//! Firehose's (the AWS sink, the local stream, `cost` and `simulate`'s plan), Lambda's (the local stream's
//! batches), IoT Core's (the MQTT sink, the local broker and simulate's plan), S3's storage classes (the lifecycle
//! settings and `cost`'s lake) and Athena's billing. Each names the AWS page it was read from; a value that page
//! does not confirm says UNCONFIRMED.

/// What one call to a record sink may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkLimits {
    pub(crate) batch_records: usize,
    pub(crate) batch_bytes: usize,
    pub(crate) record_bytes: usize,
}

// Firehose

/// Firehose's PutRecordBatch: 500 records and 4 MiB a call, 1,000 KiB a record ("These limits cannot be
/// changed"). Source: https://docs.aws.amazon.com/firehose/latest/dev/limits.html and
/// https://docs.aws.amazon.com/firehose/latest/APIReference/API_PutRecordBatch.html
pub(crate) const FIREHOSE: SinkLimits =
    SinkLimits { batch_records: 500, batch_bytes: 4 * 1024 * 1024, record_bytes: 1000 * 1024 };

/// Firehose rounds every record up to the next 5 KB for billing (a 250-byte record is billed as 5 KB): "the size
/// of each record rounded up to the nearest 5KB (5120 bytes)". Source:
/// https://docs.aws.amazon.com/firehose/latest/dev/limits.html and
/// https://aws.amazon.com/kinesis/data-firehose/pricing/
pub(crate) const BILLING_UNIT: u64 = 5 * 1024;

/// What Firehose bills for one record of `len` bytes.
pub(crate) fn billed_bytes(len: usize) -> u64 {
    (len as u64).div_ceil(BILLING_UNIT).max(1) * BILLING_UNIT
}

/// One Direct PUT stream's default throughput quota: PutRecord and PutRecordBatch calls together, records and
/// bytes a second (the three scale together when AWS raises them).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DirectPutQuota {
    pub(crate) calls_per_second: f64,
    pub(crate) records_per_second: f64,
    pub(crate) bytes_per_second: f64,
}

/// The regions whose streams get [`FIREHOSE_QUOTA_LARGE`]; every other region gets [`FIREHOSE_QUOTA`]. Source:
/// https://docs.aws.amazon.com/firehose/latest/dev/limits.html ("For US East (N. Virginia), US West (Oregon), and
/// Europe (Ireland): 500,000 records/second, 2,000 requests/second, and 5 MiB/second. For other AWS Regions:
/// 100,000 records/second, 1,000 requests/second, and 1 MiB/second.")
pub(crate) const FIREHOSE_QUOTA_LARGE_REGIONS: [&str; 3] = ["us-east-1", "us-west-2", "eu-west-1"];
pub(crate) const FIREHOSE_QUOTA_LARGE: DirectPutQuota =
    DirectPutQuota { calls_per_second: 2000.0, records_per_second: 500_000.0, bytes_per_second: 5.0 * MIB };
pub(crate) const FIREHOSE_QUOTA: DirectPutQuota =
    DirectPutQuota { calls_per_second: 1000.0, records_per_second: 100_000.0, bytes_per_second: MIB };
const MIB: f64 = 1024.0 * 1024.0;

/// A Direct PUT stream's default quota in `region`.
pub(crate) fn firehose_quota(region: &str) -> DirectPutQuota {
    if FIREHOSE_QUOTA_LARGE_REGIONS.contains(&region) { FIREHOSE_QUOTA_LARGE } else { FIREHOSE_QUOTA }
}

/// Active partitions one stream may have open with dynamic partitioning ("500 active partitions per delivery
/// stream", raised on request): records of any further partition go to the error prefix. Source:
/// https://docs.aws.amazon.com/firehose/latest/dev/buffering.html ("limit of 500 … request … up to 5000")
pub(crate) const FIREHOSE_ACTIVE_PARTITIONS: usize = 500;

// CloudWatch

/// How long CloudWatch keeps metric data at each period: 1-minute points 15 days, 5-minute points 63 days, hourly
/// points 455 days, as `(days, period seconds)`. Source:
/// https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_concepts.html#Metric
pub(crate) const CLOUDWATCH_RETENTION: [(i64, u32); 3] = [(15, 60), (63, 300), (455, 3600)];
/// The longest CloudWatch keeps any metric data, days.
pub(crate) const CLOUDWATCH_RETENTION_DAYS: i64 = CLOUDWATCH_RETENTION[2].0;

// CloudFormation

/// The largest template CreateStack and UpdateStack take as `TemplateBody` (deploy sends the embedded templates
/// that way). Source: https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html
pub const CLOUDFORMATION_TEMPLATE_BODY_BYTES: usize = 51_200;

// S3

/// The longest bucket name S3 takes ("Bucket names must be between 3 and 63 characters long"). Source:
/// https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
pub(crate) const S3_BUCKET_NAME_MAX: usize = 63;

// Lambda

/// Lambda's synchronous request payload: what one invocation of the transform may be sent ("For synchronous
/// invocations, the maximum payload size is 6 MB"; Lambda itself refuses "Request must be smaller than 6291456
/// bytes", 6 MiB: 6,000,000 stays safely under it).
/// Source: https://docs.aws.amazon.com/lambda/latest/dg/API_Invoke.html
pub(crate) const LAMBDA_PAYLOAD_BYTES: usize = 6_000_000;

// IoT Core: https://docs.aws.amazon.com/general/latest/gr/iot-core.html#message-broker-limits

/// IoT Core's largest publish payload ("Message size", 128 KB, not adjustable).
pub(crate) const IOT_PAYLOAD_BYTES: usize = 128 * 1024;
/// IoT Core's publishes per second per connection ("Publish requests per second per connection").
pub(crate) const IOT_PUBLISHES_PER_SECOND: f64 = 100.0;
/// IoT Core's unacknowledged QoS 1 publishes per client ("Maximum inbound unacknowledged messages").
pub(crate) const IOT_INFLIGHT: u16 = 100;
/// IoT Core's MQTT CONNECTs per second from one client id ("Connect requests per second per client ID", not
/// adjustable).
pub(crate) const IOT_CONNECTS_PER_SECOND_PER_CLIENT: f64 = 1.0;
/// IoT Core's MQTT CONNECTs per second per account: a pace below every default found. UNCONFIRMED: copies of the
/// quota page read here give 300, 500 (older) or 3,000 (newer) for the account, none 100; 100 is kept as the safe
/// pace.
pub(crate) const IOT_CONNECTS_PER_SECOND_PER_ACCOUNT: f64 = 100.0;

/// The MQTT sink's calls: Firehose's batches (the rule forwards to the stream), IoT Core's payloads.
pub(crate) const MQTT: SinkLimits = SinkLimits { record_bytes: IOT_PAYLOAD_BYTES, ..FIREHOSE };

// S3 storage classes

/// Objects smaller than this are not transitioned by lifecycle rules by default ("Objects smaller than 128 KB will
/// not transition by default to any storage class"), and Standard-IA and Glacier IR bill a smaller object as
/// this size ("Min billable object size"). Sources:
/// https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-transition-general-considerations.html and
/// https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-class-intro.html#sc-compare
pub(crate) const S3_SMALL_OBJECT_BYTES: u64 = 128 * 1024;
/// Lifecycle moves objects to Standard-IA no earlier than this many days after they were written ("Objects must be
/// stored for at least 30 days before transitioning to S3 Standard-IA"). Source:
/// https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-transition-general-considerations.html
pub(crate) const S3_STANDARD_IA_FIRST_TRANSITION_DAY: u32 = 30;
/// Days Standard-IA bills an object for at least. Source:
/// https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-class-intro.html#sc-compare
pub(crate) const S3_STANDARD_IA_MINIMUM_DAYS: u32 = 30;
/// Days Glacier IR bills an object for at least ("S3 Glacier Instant Retrieval has a minimum storage duration of
/// 90 days"). Source:
/// https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-transition-general-considerations.html
pub(crate) const S3_GLACIER_IR_MINIMUM_DAYS: u32 = 90;
/// Intelligent-Tiering moves an object to its Infrequent Access tier after this many consecutive days unread, and
/// to Archive Instant Access after the second. Source:
/// https://docs.aws.amazon.com/AmazonS3/latest/userguide/intelligent-tiering-overview.html
pub(crate) const S3_INTELLIGENT_TIERING_INFREQUENT_AFTER_DAYS: u32 = 30;
pub(crate) const S3_INTELLIGENT_TIERING_ARCHIVE_INSTANT_AFTER_DAYS: u32 = 90;

// Athena

/// Athena bills each query for at least this many MB scanned ("rounded up to the nearest megabyte, with a 10 MB
/// minimum per query"). Source: https://aws.amazon.com/athena/pricing/
pub(crate) const ATHENA_MINIMUM_SCANNED_MB: u32 = 10;

// settings bounds
// The AWS limits a setting's declaration (src/settings/input.rs) bounds it by; the tool's own choices stay there.

/// Firehose's S3 buffering hints: size, MiB, and interval, seconds. Source:
/// https://docs.aws.amazon.com/firehose/latest/APIReference/API_BufferingHints.html
pub(crate) const FIREHOSE_BUFFER_MIB: std::ops::RangeInclusive<u32> = 1..=128;
pub(crate) const FIREHOSE_BUFFER_SECONDS: std::ops::RangeInclusive<u32> = 0..=900;
/// Firehose's minimum S3 buffering with dynamic partitioning on (MiB, seconds). UNCONFIRMED: the console and
/// FIREHOSE.md say 64 MiB; https://docs.aws.amazon.com/firehose/latest/dev/buffering.html says only that zero
/// buffering is not available for dynamic partitioning.
pub(crate) const FIREHOSE_PARTITIONING_MIN_BUFFERING: (u32, u32) = (64, 60);
/// Firehose's Lambda processor buffering: size, MB, and interval, seconds (BufferSizeInMBs, BufferIntervalInSeconds:
/// "between 0.2 MB and up to 3MB", "0 and 900 seconds"). Source:
/// https://docs.aws.amazon.com/firehose/latest/dev/data-transformation.html
pub(crate) const FIREHOSE_PROCESSOR_BUFFER_MB: std::ops::RangeInclusive<f64> = 0.2..=3.0;
pub(crate) const FIREHOSE_PROCESSOR_BUFFER_SECONDS: std::ops::RangeInclusive<u32> = 0..=900;
/// How long Firehose waits for one invocation of its Lambda processor ("Lambda invocation time of up to 5
/// minutes"), below Lambda's own 900 s. Source: https://docs.aws.amazon.com/firehose/latest/dev/data-transformation.html
pub(crate) const FIREHOSE_PROCESSOR_TIMEOUT_SECONDS: std::ops::RangeInclusive<u32> = 1..=300;
/// Lambda's function memory, MB. Source: https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
pub(crate) const LAMBDA_MEMORY_MB: std::ops::RangeInclusive<u32> = 128..=10_240;
/// The architectures Lambda runs.
pub(crate) const LAMBDA_ARCHITECTURES: [&str; 2] = ["x86_64", "arm64"];
/// Days CloudWatch Logs can keep events for (PutRetentionPolicy's allowed values). Source:
/// https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html
pub const LOG_RETENTION_DAYS: [u32; 22] =
    [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];
