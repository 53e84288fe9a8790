//! Pipeline settings: names, prefixes and buffering, validated once before any work. The local target and the
//! CloudFormation templates take this same type, so both pipelines are configured identically.

mod declare;
mod input;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::invalid;
use crate::limits::FIREHOSE_PARTITIONING_MIN_BUFFERING;
pub use crate::limits::LOG_RETENTION_DAYS;
use crate::prefix::keyed_prefix;
pub use input::{DECLARED, DEFAULT_CONFIG, Declared, ParameterValue, SettingsInput};
pub use reaqtions_lambda::Partitioning;

pub const DEFAULT_STACK: &str = "reaqtions";
pub const DEFAULT_PREFIX: &str =
    "processed/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/";
/// What a new pipeline is partitioned by: the reading's own hour. A deployment recorded without the setting
/// (created before it existed) was partitioned by arrival.
pub const DEFAULT_PARTITIONING: Partitioning = Partitioning::Event;
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
    #[serde(default = "default_compression")]
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

/// What a deployment recorded before a setting existed reads it as: its declared default.
impl Default for Monitoring {
    fn default() -> Self {
        let declared = SettingsInput::default().filled();
        Monitoring { alarms: declared.alarms, dashboard: declared.dashboard, alarm_email: declared.alarm_email }
    }
}

fn default_architecture() -> String {
    SettingsInput::default().filled().architecture
}

fn default_athena_scan_limit_gb() -> u32 {
    SettingsInput::default().filled().athena_scan_limit_gb
}

fn default_noncurrent_version_days() -> u32 {
    SettingsInput::default().filled().noncurrent_version_days
}

fn default_compression() -> crate::compression::Compression {
    SettingsInput::default().filled().compression
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

/// The raw bucket's name when none is given: `<stack>-iot-data-lake-raw` (the local target's).
pub(crate) fn base_bucket_name(stack: &str) -> String {
    format!("{stack}-iot-data-lake-raw")
}

/// The default raw bucket on AWS: [`base_bucket_name`] itself is surely taken, so the name is made unique per account
/// and region.
pub(crate) fn default_bucket(stack: &str, account: &str, region: &str) -> Result<String> {
    let name = format!("{}-{account}-{region}", base_bucket_name(stack));
    let max = crate::limits::S3_BUCKET_NAME_MAX;
    if name.len() > max {
        return Err(invalid!(
            "the default bucket name {name} is longer than S3's {max} characters: pass --bucket or use a shorter --stack"
        ));
    }
    Ok(name)
}

impl PipelineSettings {
    /// Names derived from the stack; with the default stack they are the original pipeline's names.
    /// `bucket` defaults to `<stack>-iot-data-lake-raw` (the AWS target makes it globally unique).
    pub fn resolve(file: SettingsInput) -> Result<Self> {
        Self::resolve_with(file, |stack| Ok(base_bucket_name(stack)))
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
        let bucket = file.bucket.clone().unwrap_or_else(|| base_bucket_name(&stack));
        Self::assemble(file, stack, bucket)
    }

    /// The settings with their declared defaults filled in, placed where the pipeline reads them; the layout
    /// decides the prefix's shape (in event mode the tool's partition keys after the given prefix's folders).
    fn assemble(file: SettingsInput, stack: String, bucket: String) -> Self {
        let v = file.filled();
        let prefix = match v.partitioning {
            Partitioning::Arrival => v.prefix,
            Partitioning::Event => keyed_prefix(prefix_root(&v.prefix)),
        };
        PipelineSettings {
            stream: format!("{stack}-iot-data-stream"),
            bucket,
            function: format!("{stack}-data-transformation"),
            log_group: format!("/aws/lambda/{stack}-data-transformation"),
            partitioning: v.partitioning,
            prefix,
            error_prefix: v.error_prefix,
            buffering: Buffering { size_mib: v.buffer_size_mib, interval_seconds: v.buffer_interval_seconds },
            processor: ProcessorBuffering {
                size_mb: v.processor_buffer_size_mb,
                interval_seconds: v.processor_buffer_interval_seconds,
            },
            lambda: LambdaSettings { memory_mb: v.lambda_memory_mb, timeout_seconds: v.lambda_timeout_seconds },
            log_retention_days: v.log_retention_days,
            noncurrent_version_days: v.noncurrent_version_days,
            athena_scan_limit_gb: v.athena_scan_limit_gb,
            architecture: v.architecture,
            monitoring: Monitoring { alarms: v.alarms, dashboard: v.dashboard, alarm_email: v.alarm_email },
            compression: v.compression,
            lifecycle: crate::lifecycle::Lifecycle {
                cold_after_days: v.cold_after_days,
                cold_storage_class: v.cold_storage_class,
                expire_processed_after_days: v.expire_processed_after_days,
                expire_errors_after_days: v.expire_errors_after_days,
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
        // Each setting's own range or list, as declared; then the rules that read two settings, each once.
        s.input().check_declared()?;
        if s.partitioning == Partitioning::Event
            && let Some(shortfall) =
                event_buffering_shortfalls(s.buffering.size_mib, s.buffering.interval_seconds).first()
        {
            return Err(invalid!("{shortfall}"));
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

/// The rule that reads the layout and the buffering (checked by `validate`, and on the rendered stack parameters
/// by `aws::stack::firehose_rules`): with partitioning event Firehose requires buffering of at least its dynamic
/// partitioning minimums. Each shortfall, named with the flag that fixes it.
pub(crate) fn event_buffering_shortfalls(size_mib: u32, interval_seconds: u32) -> Vec<String> {
    let (size, interval) = FIREHOSE_PARTITIONING_MIN_BUFFERING;
    let rule = "Firehose requires with partitioning: event (each reading filed under its own hour); pass";
    let mut shortfalls = Vec::new();
    if size_mib < size {
        shortfalls.push(format!(
            "buffer size {size_mib} MiB is below the {size} MiB {rule} --buffer-size-mib {size} or more, or \
             --partitioning arrival"
        ));
    }
    if interval_seconds < interval {
        shortfalls.push(format!(
            "buffer interval {interval_seconds} s is below the {interval} s {rule} --buffer-interval-seconds \
             {interval} or more, or --partitioning arrival"
        ));
    }
    shortfalls
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

pub(crate) fn validate_stack(stack: &str) -> Result<()> {
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
    let max = crate::limits::S3_BUCKET_NAME_MAX;
    if !(3..=max).contains(&name.len()) {
        return broken(&format!("it must be 3-{max} characters long"));
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
        assert_eq!((event.buffering.size_mib, event.buffering.interval_seconds), FIREHOSE_PARTITIONING_MIN_BUFFERING);
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
