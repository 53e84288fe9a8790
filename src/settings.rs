//! Pipeline settings: names, prefixes and buffering, validated once before any work. The local target and the
//! CloudFormation templates take this same type, so both pipelines are configured identically.

use std::path::Path;

use anyhow::{Context as _, Result, bail, ensure};
use serde::{Deserialize, Serialize};

pub const DEFAULT_STACK: &str = "reaqtions";
pub const DEFAULT_PREFIX: &str =
    "processed/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/";
pub const DEFAULT_ERROR_PREFIX: &str = "error/!{firehose:error-output-type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/";

/// Everything that defines one deployment of the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSettings {
    pub stack: String,
    pub stream: String,
    pub bucket: String,
    pub function: String,
    pub log_group: String,
    pub prefix: String,
    pub error_prefix: String,
    pub buffering: Buffering,
    pub processor: ProcessorBuffering,
    pub lambda: LambdaSettings,
    /// Days the Lambda's log group keeps events.
    pub log_retention_days: u32,
}

/// Firehose S3 buffering hints.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Buffering {
    pub size_mib: u32,
    pub interval_seconds: u32,
}

/// Buffering of records before each Lambda invocation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessorBuffering {
    pub size_mb: f64,
    pub interval_seconds: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LambdaSettings {
    pub memory_mb: u32,
    pub timeout_seconds: u32,
}

/// The optional `reaqtions.yaml`: any subset of the settings; flags override it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct SettingsFile {
    pub stack: Option<String>,
    pub bucket: Option<String>,
    pub prefix: Option<String>,
    pub error_prefix: Option<String>,
    pub buffer_size_mib: Option<u32>,
    pub buffer_interval_seconds: Option<u32>,
    pub processor_buffer_size_mb: Option<f64>,
    pub processor_buffer_interval_seconds: Option<u32>,
    pub lambda_memory_mb: Option<u32>,
    pub lambda_timeout_seconds: Option<u32>,
    pub log_retention_days: Option<u32>,
}

impl SettingsFile {
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read settings file {}", path.display()))?;
        serde_norway::from_str(&text).with_context(|| format!("invalid settings file {}", path.display()))
    }

    /// Layers `over` (flags) on top of `self` (file).
    pub fn merged(self, over: SettingsFile) -> SettingsFile {
        SettingsFile {
            stack: over.stack.or(self.stack),
            bucket: over.bucket.or(self.bucket),
            prefix: over.prefix.or(self.prefix),
            error_prefix: over.error_prefix.or(self.error_prefix),
            buffer_size_mib: over.buffer_size_mib.or(self.buffer_size_mib),
            buffer_interval_seconds: over.buffer_interval_seconds.or(self.buffer_interval_seconds),
            processor_buffer_size_mb: over.processor_buffer_size_mb.or(self.processor_buffer_size_mb),
            processor_buffer_interval_seconds: over
                .processor_buffer_interval_seconds
                .or(self.processor_buffer_interval_seconds),
            lambda_memory_mb: over.lambda_memory_mb.or(self.lambda_memory_mb),
            lambda_timeout_seconds: over.lambda_timeout_seconds.or(self.lambda_timeout_seconds),
            log_retention_days: over.log_retention_days.or(self.log_retention_days),
        }
    }
}

impl PipelineSettings {
    /// Names derived from the stack; with the default stack they are the original pipeline's names.
    /// `bucket` defaults to `<stack>-iot-data-lake-raw` (the AWS target makes it globally unique).
    pub fn resolve(file: SettingsFile) -> Result<Self> {
        let stack = file.stack.unwrap_or_else(|| DEFAULT_STACK.to_owned());
        let settings = PipelineSettings {
            stream: format!("{stack}-iot-data-stream"),
            bucket: file.bucket.unwrap_or_else(|| format!("{stack}-iot-data-lake-raw")),
            function: format!("{stack}-data-transformation"),
            log_group: format!("/aws/lambda/{stack}-data-transformation"),
            prefix: file.prefix.unwrap_or_else(|| DEFAULT_PREFIX.to_owned()),
            error_prefix: file.error_prefix.unwrap_or_else(|| DEFAULT_ERROR_PREFIX.to_owned()),
            buffering: Buffering {
                size_mib: file.buffer_size_mib.unwrap_or(5),
                interval_seconds: file.buffer_interval_seconds.unwrap_or(60),
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
            stack,
        };
        settings.validate()?;
        Ok(settings)
    }

    /// Firehose's, S3's and Lambda's own limits, checked before anything is created.
    pub fn validate(&self) -> Result<()> {
        let s = self;
        ensure!(
            !s.stack.is_empty()
                && s.stack.len() <= 32
                && s.stack.starts_with(|c: char| c.is_ascii_lowercase())
                && s.stack.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "stack name {:?} must be 1-32 characters of a-z, 0-9 and '-', starting with a letter",
            s.stack
        );
        ensure!(
            (3..=63).contains(&s.bucket.len())
                && s.bucket.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
                && !s.bucket.starts_with(['-', '.'])
                && !s.bucket.ends_with(['-', '.']),
            "bucket name {:?} is not a valid S3 bucket name (3-63 of a-z, 0-9, '-', '.')",
            s.bucket
        );
        // Firehose's buffering limits, and Lambda's (Firehose waits at most 5 minutes for a batch).
        let within = |what: &str, value: f64, lo: f64, hi: f64, unit: &str| -> Result<()> {
            ensure!((lo..=hi).contains(&value), "{what} {value} {unit} is outside the allowed {lo}-{hi} {unit}");
            Ok(())
        };
        within("buffer size", f64::from(s.buffering.size_mib), 1.0, 128.0, "MiB")?;
        within("buffer interval", f64::from(s.buffering.interval_seconds), 0.0, 900.0, "s")?;
        within("processor buffer size", s.processor.size_mb, 0.2, 3.0, "MB")?;
        within("processor buffer interval", f64::from(s.processor.interval_seconds), 0.0, 900.0, "s")?;
        within("Lambda memory", f64::from(s.lambda.memory_mb), 128.0, 10_240.0, "MB")?;
        within("Lambda timeout", f64::from(s.lambda.timeout_seconds), 1.0, 300.0, "s")?;
        crate::prefix::Prefix::parse(&s.prefix, false).context("invalid prefix")?;
        let error = crate::prefix::Prefix::parse(&s.error_prefix, true).context("invalid error prefix")?;
        if s.prefix.contains("!{") && !error.has_error_type() {
            bail!("the error prefix must contain !{{firehose:error-output-type}} when the prefix uses expressions");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_stack_keeps_original_names() {
        let s = PipelineSettings::resolve(SettingsFile::default()).unwrap();
        assert_eq!(s.stream, "reaqtions-iot-data-stream");
        assert_eq!(s.bucket, "reaqtions-iot-data-lake-raw");
        assert_eq!(s.function, "reaqtions-data-transformation");
        assert_eq!(s.log_group, "/aws/lambda/reaqtions-data-transformation");
    }

    #[test]
    fn names_follow_the_stack_and_flags_override_the_file() {
        let file: SettingsFile = serde_norway::from_str("stack: lab\nbuffer_interval_seconds: 30\n").unwrap();
        let flags = SettingsFile { buffer_interval_seconds: Some(0), ..SettingsFile::default() };
        let s = PipelineSettings::resolve(file.merged(flags)).unwrap();
        assert_eq!(s.stream, "lab-iot-data-stream");
        assert_eq!(s.buffering.interval_seconds, 0);
    }

    #[test]
    fn limits_are_enforced_with_the_setting_named() {
        let bad = |f: SettingsFile| PipelineSettings::resolve(f).unwrap_err().to_string();
        assert!(bad(SettingsFile { buffer_size_mib: Some(0), ..Default::default() }).contains("buffer size 0 MiB"));
        assert!(bad(SettingsFile { buffer_interval_seconds: Some(901), ..Default::default() }).contains("901"));
        assert!(bad(SettingsFile { stack: Some("Bad_Name".into()), ..Default::default() }).contains("Bad_Name"));
        assert!(bad(SettingsFile { bucket: Some("UPPER".into()), ..Default::default() }).contains("UPPER"));
        let e = bad(SettingsFile { error_prefix: Some("error/".into()), ..Default::default() });
        assert!(e.contains("error-output-type"), "{e}");
    }

    #[test]
    fn unknown_keys_in_the_file_are_errors() {
        assert!(serde_norway::from_str::<SettingsFile>("buffer_size: 5\n").is_err());
    }
}
