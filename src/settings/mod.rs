//! Pipeline settings: names, prefixes and buffering, validated once before any work. The local target and the
//! CloudFormation templates take this same type, so both pipelines are configured identically.

mod input;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::invalid;
use crate::prefix::keyed_prefix;
pub use input::{DECLARED, DEFAULT_CONFIG, Declared, ParameterValue, SettingsInput};
pub use reaqtions_lambda::Partitioning;

pub const DEFAULT_STACK: &str = "reaqtions";
pub const DEFAULT_PREFIX: &str =
    "processed/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/";
/// Days CloudWatch Logs can keep events for (PutRetentionPolicy's allowed values).
pub const LOG_RETENTION_DAYS: [u32; 22] =
    [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];
/// What a new pipeline is partitioned by: the reading's own hour. A deployment recorded without the setting
/// (created before it existed) was partitioned by arrival.
pub const DEFAULT_PARTITIONING: Partitioning = Partitioning::Event;
/// Firehose's minimum S3 buffering with dynamic partitioning on (MiB, seconds).
pub(crate) const EVENT_MIN_BUFFERING: (u32, u32) = (64, 60);
pub const DEFAULT_ERROR_PREFIX: &str = "error/!{firehose:error-output-type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/";

/// Everything that defines one deployment of the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSettings {
    pub(crate) stack: String,
    pub(crate) stream: String,
    pub bucket: String,
    pub(crate) function: String,
    pub(crate) log_group: String,
    /// Where a reading's object goes: under its own hour (`event`, partition keys from the transform) or under
    /// the hour it arrived (`arrival`, Firehose's timestamp folders). Fixed when the stream is created.
    #[serde(default)]
    pub partitioning: Partitioning,
    /// The S3 prefix the stream is deployed with: in event mode the tool's partition keys after the given root.
    pub prefix: String,
    pub(crate) error_prefix: String,
    pub(crate) buffering: Buffering,
    pub(crate) processor: ProcessorBuffering,
    pub(crate) lambda: LambdaSettings,
    /// Days the Lambda's log group keeps events.
    pub(crate) log_retention_days: u32,
    /// Days an old (noncurrent) object version stays in the raw bucket before it expires.
    #[serde(default = "default_noncurrent_version_days")]
    pub(crate) noncurrent_version_days: u32,
    /// GB (2^30 bytes) one Athena query may scan before its workgroup cancels it.
    #[serde(default = "default_athena_scan_limit_gb")]
    pub(crate) athena_scan_limit_gb: u32,
    /// The function's architecture (`x86_64` or `arm64`).
    #[serde(default = "default_architecture")]
    pub(crate) architecture: String,
    /// CloudWatch alarms, their SNS topic and the dashboard (AWS).
    #[serde(default)]
    pub monitoring: Monitoring,
    /// What the lake's objects are written as (a deployment recorded before this setting gets the default).
    #[serde(default)]
    pub(crate) compression: crate::compression::Compression,
    /// The raw bucket's storage tiers and retention (AWS, on a bucket the stack owns).
    #[serde(default)]
    pub(crate) lifecycle: crate::lifecycle::Lifecycle,
}

/// The stack's alarms (on unless turned off), where they notify, and its dashboard (on unless turned off).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Monitoring {
    pub alarms: bool,
    pub dashboard: bool,
    /// Subscribed to the alarms' topic; the address must confirm the subscription AWS mails it.
    pub alarm_email: Option<String>,
}

impl Default for Monitoring {
    fn default() -> Self {
        Monitoring { alarms: true, dashboard: true, alarm_email: None }
    }
}

fn default_architecture() -> String {
    "x86_64".to_owned()
}

fn default_athena_scan_limit_gb() -> u32 {
    10
}

fn default_noncurrent_version_days() -> u32 {
    30
}

/// Firehose S3 buffering hints.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Buffering {
    pub(crate) size_mib: u32,
    pub(crate) interval_seconds: u32,
}

/// Buffering of records before each Lambda invocation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProcessorBuffering {
    pub(crate) size_mb: f64,
    pub(crate) interval_seconds: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LambdaSettings {
    pub(crate) memory_mb: u32,
    pub(crate) timeout_seconds: u32,
}

/// An account id of the right length, to check the default bucket name before the account is known.
pub(crate) const STAND_IN_ACCOUNT: &str = "000000000000";

/// The default raw bucket on AWS: `reaqtions-iot-data-lake-raw` itself is surely taken, so the name is made
/// unique per account and region.
pub(crate) fn default_bucket(stack: &str, account: &str, region: &str) -> Result<String> {
    let name = format!("{stack}-iot-data-lake-raw-{account}-{region}");
    if name.len() > 63 {
        return Err(invalid!(
            "the default bucket name {name} is longer than S3's 63 characters: pass --bucket or use a shorter --stack"
        ));
    }
    Ok(name)
}

impl PipelineSettings {
    /// Names derived from the stack; with the default stack they are the original pipeline's names.
    /// `bucket` defaults to `<stack>-iot-data-lake-raw` (the AWS target makes it globally unique).
    pub fn resolve(file: SettingsInput) -> Result<Self> {
        Self::resolve_with(file, |stack| Ok(format!("{stack}-iot-data-lake-raw")))
    }

    /// The defaults of every setting (stack `reaqtions`).
    pub(crate) fn defaults() -> Self {
        Self::resolve(SettingsInput::default()).expect("the defaults follow every rule")
    }

    /// As [`resolve`](Self::resolve), with the bucket named by `default_bucket(stack)` when none was given.
    pub(crate) fn resolve_with(
        file: SettingsInput,
        default_bucket: impl FnOnce(&str) -> Result<String>,
    ) -> Result<Self> {
        let stack = file.stack.clone().unwrap_or_else(|| DEFAULT_STACK.to_owned());
        validate_stack(&stack)?;
        let bucket = match file.bucket.clone() {
            Some(bucket) => bucket,
            None => default_bucket(&stack)?,
        };
        let settings = Self::assemble(file, stack, bucket);
        settings.validate()?;
        Ok(settings)
    }

    /// The settings given, defaults filled in, no rule checked: what a deployment recorded runs with even
    /// where a later rule would refuse it.
    pub(crate) fn resolve_unchecked(file: SettingsInput) -> Self {
        let stack = file.stack.clone().unwrap_or_else(|| DEFAULT_STACK.to_owned());
        let bucket = file.bucket.clone().unwrap_or_else(|| format!("{stack}-iot-data-lake-raw"));
        Self::assemble(file, stack, bucket)
    }

    /// Every setting's default, in one place. The layout decides the prefix's shape and the buffering defaults
    /// (Firehose's minimums with partitioning on).
    fn assemble(file: SettingsInput, stack: String, bucket: String) -> Self {
        let partitioning = file.partitioning.unwrap_or(DEFAULT_PARTITIONING);
        let given = file.prefix.as_deref().unwrap_or(DEFAULT_PREFIX);
        let prefix = match partitioning {
            Partitioning::Arrival => given.to_owned(),
            Partitioning::Event => keyed_prefix(prefix_root(given)),
        };
        let (size_mib, interval_seconds) = match partitioning {
            Partitioning::Arrival => (5, 60),
            Partitioning::Event => EVENT_MIN_BUFFERING,
        };
        PipelineSettings {
            stream: format!("{stack}-iot-data-stream"),
            bucket,
            function: format!("{stack}-data-transformation"),
            log_group: format!("/aws/lambda/{stack}-data-transformation"),
            partitioning,
            prefix,
            error_prefix: file.error_prefix.unwrap_or_else(|| DEFAULT_ERROR_PREFIX.to_owned()),
            buffering: Buffering {
                size_mib: file.buffer_size_mib.unwrap_or(size_mib),
                interval_seconds: file.buffer_interval_seconds.unwrap_or(interval_seconds),
            },
            processor: ProcessorBuffering {
                size_mb: file.processor_buffer_size_mb.unwrap_or(1.0),
                interval_seconds: file.processor_buffer_interval_seconds.unwrap_or(5),
            },
            lambda: LambdaSettings {
                memory_mb: file.lambda_memory_mb.unwrap_or(256),
                timeout_seconds: file.lambda_timeout_seconds.unwrap_or(60),
            },
            log_retention_days: file.log_retention_days.unwrap_or(14),
            noncurrent_version_days: file.noncurrent_version_days.unwrap_or_else(default_noncurrent_version_days),
            athena_scan_limit_gb: file.athena_scan_limit_gb.unwrap_or_else(default_athena_scan_limit_gb),
            architecture: file.architecture.unwrap_or_else(default_architecture),
            monitoring: Monitoring {
                alarms: file.alarms.unwrap_or(true),
                dashboard: file.dashboard.unwrap_or(true),
                alarm_email: file.alarm_email,
            },
            compression: file.compression.unwrap_or_default(),
            lifecycle: crate::lifecycle::Lifecycle {
                cold_after_days: file.cold_after_days,
                cold_storage_class: file.cold_storage_class.unwrap_or_default(),
                expire_processed_after_days: file.expire_processed_after_days,
                expire_errors_after_days: file.expire_errors_after_days,
            },
            stack,
        }
    }

    /// Firehose's, S3's, CloudWatch's and Lambda's own limits, checked before anything is created. Every
    /// error is [`Invalid`] and names the value and the rule.
    pub(crate) fn validate(&self) -> Result<()> {
        let s = self;
        validate_stack(&s.stack)?;
        check_bucket_name(&s.bucket)?;
        // Firehose's buffering limits, and Lambda's (Firehose waits at most 5 minutes for a batch).
        let within = |what: &str, value: f64, lo: f64, hi: f64, unit: &str| -> Result<()> {
            if !(lo..=hi).contains(&value) {
                return Err(invalid!("{what} {value} {unit} is outside the allowed {lo}-{hi} {unit}"));
            }
            Ok(())
        };
        within("buffer size", f64::from(s.buffering.size_mib), 1.0, 128.0, "MiB")?;
        within("buffer interval", f64::from(s.buffering.interval_seconds), 0.0, 900.0, "s")?;
        if s.partitioning == Partitioning::Event {
            let (size, interval) = EVENT_MIN_BUFFERING;
            let rule = "Firehose requires with partitioning: event (each reading filed under its own hour); pass";
            if s.buffering.size_mib < size {
                return Err(invalid!(
                    "buffer size {} MiB is below the {size} MiB {rule} --buffer-size-mib {size} or more, or \
                     --partitioning arrival",
                    s.buffering.size_mib
                ));
            }
            if s.buffering.interval_seconds < interval {
                return Err(invalid!(
                    "buffer interval {} s is below the {interval} s {rule} --buffer-interval-seconds {interval} or \
                     more, or --partitioning arrival",
                    s.buffering.interval_seconds
                ));
            }
        }
        within("processor buffer size", s.processor.size_mb, 0.2, 3.0, "MB")?;
        within("processor buffer interval", f64::from(s.processor.interval_seconds), 0.0, 900.0, "s")?;
        within("Lambda memory", f64::from(s.lambda.memory_mb), 128.0, 10_240.0, "MB")?;
        within("Lambda timeout", f64::from(s.lambda.timeout_seconds), 1.0, 300.0, "s")?;
        within("noncurrent version expiry", f64::from(s.noncurrent_version_days), 1.0, 3650.0, "days")?;
        within("Athena scan limit", f64::from(s.athena_scan_limit_gb), 1.0, 1_000_000.0, "GB")?;
        if !["x86_64", "arm64"].contains(&s.architecture.as_str()) {
            return Err(invalid!("architecture {:?} is not one Lambda runs: x86_64 or arm64", s.architecture));
        }
        if !LOG_RETENTION_DAYS.contains(&s.log_retention_days) {
            return Err(invalid!(
                "log retention {} days is not one CloudWatch Logs offers: {}",
                s.log_retention_days,
                LOG_RETENTION_DAYS.map(|d| d.to_string()).join(", ")
            ));
        }
        crate::prefix::Prefix::parse(&s.prefix, false).map_err(|e| invalid!("invalid prefix {:?}: {e:#}", s.prefix))?;
        let error = crate::prefix::Prefix::parse(&s.error_prefix, true)
            .map_err(|e| invalid!("invalid error prefix {:?}: {e:#}", s.error_prefix))?;
        if s.prefix.contains("!{") && !error.has_error_type() {
            return Err(invalid!(
                "the error prefix {:?} must contain !{{firehose:error-output-type}} when the prefix uses expressions",
                s.error_prefix
            ));
        }
        s.lifecycle.validate()?;
        if let Some(email) = &s.monitoring.alarm_email {
            let (user, domain) = email.split_once('@').unwrap_or_default();
            if user.is_empty() || !domain.contains('.') || email.len() > 254 || email.contains(char::is_whitespace) {
                return Err(invalid!("alarm email {email:?} is not an email address"));
            }
            if !s.monitoring.alarms {
                return Err(invalid!("alarm email {email:?} is given but alarms are off: turn them on or drop it"));
            }
        }
        Ok(())
    }
}

/// The fixed folders a prefix starts with (up to the last `/` before its first expression): what an event-mode
/// prefix keeps of a given one.
pub(crate) fn prefix_root(prefix: &str) -> &str {
    let fixed = &prefix[..prefix.find("!{").unwrap_or(prefix.len())];
    fixed.rfind('/').map_or("", |end| &fixed[..=end])
}

/// Endings that another stack's derived names carry after its own name: the artifacts stack (`<stack>-artifacts`)
/// and the roles CloudFormation names `<stack>-<LogicalId>-<random>`, which the role policies match as
/// `<stack>-<LogicalId>-*`. A stack named with one of them would be reached by its neighbour's policies (or, for
/// `-artifacts`, deploy onto its neighbour's artifacts stack), so such a name is refused. Role names compare
/// without case here: a stack name is lowercase, the logical ids are not.
pub const DERIVED_ENDINGS: [&str; 4] = ["-artifacts", "-FunctionRole", "-FirehoseRole", "-IngestRuleRole"];

fn validate_stack(stack: &str) -> Result<()> {
    if !(1..=32).contains(&stack.len())
        || !stack.starts_with(|c: char| c.is_ascii_lowercase())
        || !stack.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(invalid!(
            "stack name {stack:?} must be 1-32 characters of a-z, 0-9 and '-', starting with a letter"
        ));
    }
    if let Some(ending) = DERIVED_ENDINGS.iter().find(|e| stack.ends_with(&e.to_ascii_lowercase())) {
        let neighbour = &stack[..stack.len() - ending.len()];
        return Err(invalid!(
            "stack name {stack:?} ends in {:?}, which names what stack {neighbour:?} derives (its artifacts stack \
             or its roles): choose a name that does not end in {}",
            ending.to_ascii_lowercase(),
            DERIVED_ENDINGS.map(|e| e.to_ascii_lowercase()).join(", ")
        ));
    }
    Ok(())
}

/// Every rule S3 sets for a general purpose bucket's name, each named when broken.
pub(crate) fn check_bucket_name(name: &str) -> Result<()> {
    let broken = |rule: &str| Err(invalid!("bucket name {name:?} is not a valid S3 bucket name: {rule}"));
    if !(3..=63).contains(&name.len()) {
        return broken("it must be 3-63 characters long");
    }
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.') {
        return broken("only lowercase letters, digits, '-' and '.' are allowed");
    }
    let alphanumeric = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !name.starts_with(alphanumeric) || !name.ends_with(alphanumeric) {
        return broken("it must begin and end with a letter or digit");
    }
    if name.contains("..") {
        return broken("it must not contain two adjacent periods");
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return broken("it must not be formatted as an IP address");
    }
    for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(prefix) {
            return broken(&format!("the prefix {prefix:?} is reserved"));
        }
    }
    for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if name.ends_with(suffix) {
            return broken(&format!("the suffix {suffix:?} is reserved"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stack_may_not_take_a_name_another_stack_derives() {
        for name in ["prod-artifacts", "prod-functionrole", "prod-firehoserole", "prod-ingestrulerole"] {
            let input = SettingsInput { stack: Some(name.to_owned()), ..SettingsInput::default() };
            let e = PipelineSettings::resolve(input).unwrap_err().to_string();
            assert!(e.contains(name) && e.contains("stack \"prod\""), "{e}");
        }
        for name in ["prod", "prod-dev", "artifacts", "prod-artifacts2"] {
            let input = SettingsInput { stack: Some(name.to_owned()), ..SettingsInput::default() };
            assert!(PipelineSettings::resolve(input).is_ok(), "{name}");
        }
    }

    #[test]
    fn default_stack_keeps_original_names() {
        let s = PipelineSettings::resolve(SettingsInput::default()).unwrap();
        assert_eq!(s.stream, "reaqtions-iot-data-stream");
        assert_eq!(s.bucket, "reaqtions-iot-data-lake-raw");
        assert_eq!(s.function, "reaqtions-data-transformation");
        assert_eq!(s.log_group, "/aws/lambda/reaqtions-data-transformation");
    }

    #[test]
    fn names_follow_the_stack_and_flags_override_the_file() {
        let file: SettingsInput =
            serde_norway::from_str("stack: lab\npartitioning: arrival\nbuffer_interval_seconds: 30\n").unwrap();
        let flags = SettingsInput { buffer_interval_seconds: Some(0), ..SettingsInput::default() };
        let s = PipelineSettings::resolve(flags.over(file)).unwrap();
        assert_eq!(s.stream, "lab-iot-data-stream");
        assert_eq!(s.buffering.interval_seconds, 0);
    }

    #[test]
    fn the_layout_decides_the_prefix_and_the_buffering_defaults() {
        let event = PipelineSettings::defaults();
        assert_eq!(event.partitioning, Partitioning::Event, "new pipelines file readings by their own hour");
        assert_eq!(event.prefix, keyed_prefix("processed/"));
        assert_eq!((event.buffering.size_mib, event.buffering.interval_seconds), EVENT_MIN_BUFFERING);
        let arrival = SettingsInput { partitioning: Some(Partitioning::Arrival), ..Default::default() };
        let arrival = PipelineSettings::resolve(arrival).unwrap();
        assert_eq!((arrival.prefix.as_str(), arrival.buffering.size_mib), (DEFAULT_PREFIX, 5));
        // A custom prefix keeps its fixed folders; resolving what was deployed gives it back unchanged.
        let custom = SettingsInput { prefix: Some("lake/v1/dt=!{timestamp:yyyy-MM-dd}/".into()), ..Default::default() };
        let custom = PipelineSettings::resolve(custom).unwrap();
        assert_eq!(custom.prefix, keyed_prefix("lake/v1/"));
        assert_eq!(PipelineSettings::resolve(custom.input()).unwrap(), custom);
        for (flags, named) in [
            (SettingsInput { buffer_size_mib: Some(63), ..Default::default() }, "buffer size 63 MiB"),
            (SettingsInput { buffer_interval_seconds: Some(0), ..Default::default() }, "buffer interval 0 s"),
        ] {
            let e = PipelineSettings::resolve(flags).unwrap_err().to_string();
            assert!(e.contains(named) && e.contains("--partitioning arrival"), "{e}");
        }
        // A deployment recorded before the setting existed was filed by arrival.
        let recorded: PipelineSettings = serde_json::from_value({
            let mut v = serde_json::to_value(&arrival).unwrap();
            v.as_object_mut().unwrap().remove("partitioning");
            v
        })
        .unwrap();
        assert_eq!(recorded.partitioning, Partitioning::Arrival);
    }

    #[test]
    fn limits_are_enforced_with_the_setting_named() {
        let bad = |f: SettingsInput| PipelineSettings::resolve(f).unwrap_err().to_string();
        assert!(bad(SettingsInput { buffer_size_mib: Some(0), ..Default::default() }).contains("buffer size 0 MiB"));
        assert!(bad(SettingsInput { buffer_interval_seconds: Some(901), ..Default::default() }).contains("901"));
        assert!(bad(SettingsInput { stack: Some("Bad_Name".into()), ..Default::default() }).contains("Bad_Name"));
        assert!(bad(SettingsInput { bucket: Some("UPPER".into()), ..Default::default() }).contains("UPPER"));
        let e = bad(SettingsInput { error_prefix: Some("error/".into()), ..Default::default() });
        assert!(e.contains("error-output-type"), "{e}");
    }

    #[test]
    fn every_s3_bucket_rule_is_named() {
        let rule = |name: &str| check_bucket_name(name).unwrap_err().to_string();
        assert!(rule("ab").contains("3-63"));
        assert!(rule(&"a".repeat(64)).contains("3-63"));
        assert!(rule("My-Bucket").contains("lowercase"));
        assert!(rule("my_bucket").contains("lowercase"));
        assert!(rule("-bucket").contains("begin and end"));
        assert!(rule("bucket.").contains("begin and end"));
        assert!(rule("my..bucket").contains("adjacent periods"));
        assert!(rule("192.168.5.4").contains("IP address"));
        assert!(rule("xn--bucket").contains("\"xn--\""));
        assert!(rule("sthree-bucket").contains("sthree-"));
        assert!(rule("amzn-s3-demo-bucket").contains("amzn-s3-demo-"));
        for name in ["data-s3alias", "data--ol-s3", "data.mrap", "data--x-s3", "data--table-s3"] {
            assert!(rule(name).contains("reserved"), "{name}");
        }
        for name in ["reaqtions-iot-data-lake-raw", "a.b.c", "abc", "192.168.5", "x-n--ok"] {
            check_bucket_name(name).unwrap();
        }
        let e = PipelineSettings::resolve(SettingsInput { bucket: Some("a..b".into()), ..Default::default() });
        assert!(crate::error::is_invalid(&e.unwrap_err()), "bucket rules are usage errors (exit 2)");
    }

    #[test]
    fn log_retention_and_version_expiry_are_checked() {
        let bad = |f: SettingsInput| PipelineSettings::resolve(f).unwrap_err().to_string();
        let e = bad(SettingsInput { log_retention_days: Some(10), ..Default::default() });
        assert!(e.contains("log retention 10 days") && e.contains("14, 30"), "{e}");
        let e = bad(SettingsInput { noncurrent_version_days: Some(0), ..Default::default() });
        assert!(e.contains("noncurrent version expiry 0 days"), "{e}");
        let ok = PipelineSettings::resolve(SettingsInput { log_retention_days: Some(3653), ..Default::default() });
        assert_eq!(ok.unwrap().noncurrent_version_days, 30);
    }

    #[test]
    fn default_bucket_is_unique_and_bounded() {
        assert_eq!(
            default_bucket("reaqtions", "123456789012", "eu-west-1").unwrap(),
            "reaqtions-iot-data-lake-raw-123456789012-eu-west-1"
        );
        let long = default_bucket("a-very-long-stack-name-indeed", "123456789012", "ap-southeast-2").unwrap_err();
        assert!(long.to_string().contains("--bucket") && crate::error::is_invalid(&long));
    }

    #[test]
    fn unknown_keys_in_the_file_are_errors() {
        assert!(serde_norway::from_str::<SettingsInput>("buffer_size: 5\n").is_err());
    }
}
