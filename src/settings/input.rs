//! Every setting declared once: its settings-file key (the field), its flag (the key with hyphens; an old
//! spelling stays as a hidden alias that warns), and the stack parameter it is deployed as. The file's schema,
//! the flags, the layering of flags over the file, and both directions of the stack parameters all come from
//! the one declaration below.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::PipelineSettings;
use crate::compression::Compression;
use crate::error::Invalid;
use crate::lifecycle::StorageClass;

/// Read from the current directory when `--config` is not given.
pub const DEFAULT_CONFIG: &str = "reaqtions.yaml";

/// How a setting's value is written as a CloudFormation parameter (every parameter is a string) and read back.
pub trait ParameterValue: Sized {
    fn to_parameter(&self) -> String;
    fn from_parameter(text: &str) -> Option<Self>;
}

macro_rules! plain_parameter {
    ($($ty:ty),*) => {$(
        impl ParameterValue for $ty {
            fn to_parameter(&self) -> String {
                self.to_string()
            }
            fn from_parameter(text: &str) -> Option<Self> {
                text.parse().ok()
            }
        }
    )*};
}
plain_parameter!(u32, f64, bool, String);

impl ParameterValue for Compression {
    fn to_parameter(&self) -> String {
        self.firehose_format().to_owned()
    }
    fn from_parameter(text: &str) -> Option<Self> {
        [Compression::Gzip, Compression::None].into_iter().find(|c| c.firehose_format() == text)
    }
}

impl ParameterValue for StorageClass {
    fn to_parameter(&self) -> String {
        self.as_str().to_owned()
    }
    fn from_parameter(text: &str) -> Option<Self> {
        [StorageClass::IntelligentTiering, StorageClass::StandardIa, StorageClass::GlacierIr]
            .into_iter()
            .find(|c| c.as_str() == text)
    }
}

impl ParameterValue for crate::settings::Partitioning {
    fn to_parameter(&self) -> String {
        self.name().to_owned()
    }
    fn from_parameter(text: &str) -> Option<Self> {
        text.parse().ok()
    }
}

/// `--partitioning`'s value, named in the error when it is neither.
fn parse_partitioning(text: &str) -> Result<crate::settings::Partitioning, String> {
    match text {
        "event" => Ok(crate::settings::Partitioning::Event),
        "arrival" => Ok(crate::settings::Partitioning::Arrival),
        other => Err(format!("{other:?} is not a layout: event (the reading's own hour) or arrival")),
    }
}

/// A setting the template takes in another unit: the Athena scan limit is given in GB and enforced in bytes.
struct GibAsBytes;

impl GibAsBytes {
    fn to_parameter(gib: &u32) -> String {
        (u64::from(*gib) << 30).to_string()
    }
    fn from_parameter(text: &str) -> Option<u32> {
        text.parse::<u64>().ok().and_then(|bytes| u32::try_from(bytes >> 30).ok())
    }
}

/// One declared setting, for the checks that read the declaration (template, example file, flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declared {
    /// The settings file's key; the flag is `--` and the key with hyphens.
    pub key: &'static str,
    /// The pipeline stack's parameter that carries it.
    pub parameter: &'static str,
}

macro_rules! declare_settings {
    (
        $(
            $(#[doc = $doc:literal])*
            #[arg($($arg:tt)*)]
            $key:ident: $ty:ty => $parameter:literal
                $(, unset $unset:literal)?
                $(, via $codec:ident)?
                $(, switch $no:ident)?
            ;
        )*
    ) => {
        /// Every setting as a person gives it: the settings file's schema (`reaqtions.yaml`, snake_case keys) and
        /// the flags of `deploy` and `cost`. [`SettingsInput::over`] layers flags on the file, and
        /// [`PipelineSettings::resolve`] fills in defaults and checks every rule.
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, clap::Args)]
        #[serde(deny_unknown_fields, rename_all = "snake_case")]
        pub struct SettingsInput {
            /// (From the global --stack.)
            #[arg(skip)]
            pub stack: Option<String>,
            $(
                $(#[doc = $doc])*
                #[arg($($arg)*)]
                pub $key: Option<$ty>,
            )*
            $($(
                /// The switch above, off.
                #[arg(
                    long,
                    overrides_with = stringify!($key),
                    help = concat!("Turn ", stringify!($key), " off (the same as --", stringify!($key), "=false)")
                )]
                #[serde(skip)]
                pub $no: bool,
            )?)*
        }

        /// Every setting but the stack, in declaration order.
        pub const DECLARED: &[Declared] = &[$(Declared { key: stringify!($key), parameter: $parameter }),*];

        impl SettingsInput {
            /// `self` (flags) layered over `file`: a value given here wins; `--no-<switch>` turns it off.
            pub fn over(self, file: SettingsInput) -> SettingsInput {
                let mut layered = SettingsInput::default();
                layered.stack = self.stack.or(file.stack);
                $(
                    layered.$key = self.$key.or(file.$key);
                    $(if self.$no { layered.$key = Some(false) })?
                )*
                layered
            }

            /// The stack parameters these settings are deployed as (given ones only).
            pub fn to_parameters(&self) -> Vec<(String, String)> {
                let mut parameters = Vec::new();
                $(
                    let value: Option<String> =
                        declare_settings!(@write self.$key.as_ref() $(, via $codec)?);
                    $(let value = value.or_else(|| Some($unset.to_owned()));)?
                    if let Some(value) = value {
                        parameters.push(($parameter.to_owned(), value));
                    }
                )*
                parameters
            }

            /// The settings a stack was deployed with, from its parameters. A parameter that is missing (a stack
            /// deployed before the setting existed) or unreadable leaves the setting unset.
            pub fn from_parameters(parameters: &BTreeMap<String, String>) -> SettingsInput {
                let mut input = SettingsInput::default();
                $(
                    input.$key = parameters.get($parameter).and_then(|text| {
                        $(if text == $unset { return None; })?
                        declare_settings!(@read text $(, via $codec)?)
                    });
                )*
                input
            }
        }
    };
    (@write $value:expr) => { $value.map(ParameterValue::to_parameter) };
    (@write $value:expr, via $codec:ident) => { $value.map($codec::to_parameter) };
    (@read $text:expr) => { ParameterValue::from_parameter($text) };
    (@read $text:expr, via $codec:ident) => { $codec::from_parameter($text) };
}

declare_settings! {
    /// What a reading's lake folder is: event (the hour it was measured; the default for a new pipeline) or
    /// arrival (the hour Firehose received it). Fixed when the stream is created: a redeploy keeps it.
    #[arg(long, value_name = "LAYOUT", value_parser = parse_partitioning)]
    partitioning: crate::settings::Partitioning => "Partitioning";
    /// Raw data-lake bucket name (default <stack>-iot-data-lake-raw, made unique per account and region on AWS).
    #[arg(long)]
    bucket: String => "RawBucketName";
    /// Key prefix of processed objects (Firehose expressions such as !{timestamp:yyyy} allowed; with partitioning
    /// event, its fixed folders followed by the reading's year=/month=/day=/hour=).
    #[arg(long, value_name = "PREFIX")]
    prefix: String => "Prefix";
    /// Key prefix of error records (must contain !{firehose:error-output-type} when --prefix has expressions).
    #[arg(long, value_name = "PREFIX")]
    error_prefix: String => "ErrorPrefix";
    /// S3 buffering size, MiB (1-128; at least 64, the default, with partitioning event; else 5).
    #[arg(long, value_name = "MIB", alias = "buffer-size")]
    buffer_size_mib: u32 => "BufferSizeMiB";
    /// S3 buffering interval, seconds (0-900; at least 60 with partitioning event; default 60).
    #[arg(long, value_name = "SECONDS", alias = "buffer-interval")]
    buffer_interval_seconds: u32 => "BufferIntervalSeconds";
    /// Lambda processor buffering size, MB (0.2-3).
    #[arg(long, value_name = "MB", alias = "processor-buffer-size")]
    processor_buffer_size_mb: f64 => "ProcessorBufferSizeMB";
    /// Lambda processor buffering interval, seconds (0-900).
    #[arg(long, value_name = "SECONDS", alias = "processor-buffer-interval")]
    processor_buffer_interval_seconds: u32 => "ProcessorBufferIntervalSeconds";
    /// Lambda memory, MB (128-10240).
    #[arg(long, value_name = "MB", alias = "lambda-memory")]
    lambda_memory_mb: u32 => "LambdaMemory";
    /// Lambda timeout, seconds (1-300).
    #[arg(long, value_name = "SECONDS", alias = "lambda-timeout")]
    lambda_timeout_seconds: u32 => "LambdaTimeout";
    /// Days the log groups keep events (one of CloudWatch's values: 1, 3, 5, 7, 14, 30, … 3653).
    #[arg(long, value_name = "DAYS")]
    log_retention_days: u32 => "LogRetentionDays";
    /// Days an overwritten or deleted object's old version stays in the raw bucket (1-3650).
    #[arg(long, value_name = "DAYS")]
    noncurrent_version_days: u32 => "NoncurrentVersionDays";
    /// GB one Athena query of the lake may scan before it is cancelled (1-1000000).
    #[arg(long, value_name = "GB")]
    athena_scan_limit_gb: u32 => "ScanLimitBytes", via GibAsBytes;
    /// The function's architecture: x86_64, or arm64 (Graviton, about 20 % cheaper per GB-second).
    #[arg(long, value_name = "ARCH", value_parser = ["x86_64", "arm64"], alias = "arch")]
    architecture: String => "Architecture";
    /// CloudWatch alarms on the pipeline, with an SNS topic (on unless --no-alarms).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", hide_possible_values = true)]
    alarms: bool => "AlarmsEnabled", switch no_alarms;
    /// A CloudWatch dashboard of the pipeline (on unless --no-dashboard).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", hide_possible_values = true)]
    dashboard: bool => "DashboardEnabled", switch no_dashboard;
    /// An address subscribed to the alarms' topic (it must confirm the subscription AWS mails it).
    #[arg(long, value_name = "ADDRESS")]
    alarm_email: String => "AlarmEmail", unset "";
    /// What lake objects are written as: gzip (default; keys end in .gz) or none.
    #[arg(long, value_enum, value_name = "FORMAT")]
    compression: Compression => "CompressionFormat";
    /// Move processed/ objects to --cold-storage-class this many days after they were written (default: never).
    #[arg(long, value_name = "DAYS")]
    cold_after_days: u32 => "ColdAfterDays", unset "0";
    /// Where they move: INTELLIGENT_TIERING (default), STANDARD_IA (from day 30) or GLACIER_IR.
    #[arg(long, value_enum, value_name = "CLASS")]
    cold_storage_class: StorageClass => "ColdStorageClass";
    /// Delete processed/ objects this many days after they were written (default: never).
    #[arg(long, value_name = "DAYS")]
    expire_processed_after_days: u32 => "ExpireProcessedAfterDays", unset "0";
    /// Delete error objects this many days after they were written (default: never).
    #[arg(long, value_name = "DAYS")]
    expire_errors_after_days: u32 => "ExpireErrorsAfterDays", unset "0";
}

impl SettingsInput {
    /// Reads a settings file; a key it does not know gets a did-you-mean, and a value that breaks a rule is
    /// named by the file and the key (`range.yaml: buffer_size_mib: buffer size 500 MiB is outside …`).
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read settings file {}", path.display()))?;
        let file: SettingsInput = serde_norway::from_str(&text).map_err(|e| {
            anyhow::Error::from(Invalid(format!(
                "invalid settings file {}: {}",
                path.display(),
                suggest(&e.to_string())
            )))
        })?;
        Ok(file)
    }

    /// Checks each key the file `file` (at `path`) gave and `self` (the flags over it) kept, beside the values in
    /// force of the keys other rules read, so a value that breaks a rule is reported with the file and its key.
    fn check_file_keys(&self, file: &SettingsInput, path: &Path) -> Result<()> {
        let (Value::Object(layered), Value::Object(given)) = (serde_json::to_value(self)?, serde_json::to_value(file)?)
        else {
            return Ok(());
        };
        // The settings other rules read.
        const CONTEXT: [&str; 3] = ["partitioning", "prefix", "alarms"];
        let mut context: serde_json::Map<String, Value> = layered
            .iter()
            .filter(|(k, v)| CONTEXT.contains(&k.as_str()) && !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        // No layout given: a redeploy keeps the deployed one, unknown here, so each key is checked by the lenient
        // layout's rules; the layout's own rules are checked once it is known (the settings are resolved again).
        context.entry("partitioning").or_insert_with(|| Value::from(crate::settings::Partitioning::Arrival.name()));
        let from_file = given.iter().filter(|(k, v)| !v.is_null() && layered.get(k.as_str()) == Some(*v));
        for (key, value) in from_file {
            let mut one = context.clone();
            one.insert(key.clone(), value.clone());
            let input: SettingsInput = serde_json::from_value(Value::Object(one))?;
            if let Err(e) = PipelineSettings::resolve(input) {
                return Err(Invalid(format!("{}: {key}: {e:#}", path.display())).into());
            }
        }
        Ok(())
    }

    /// The settings file (`config`, or `./reaqtions.yaml` when it exists) with `self` (flags) over it.
    pub fn with_file(self, config: Option<&Path>) -> Result<SettingsInput> {
        let path = match config {
            Some(path) => path,
            None if Path::new(DEFAULT_CONFIG).exists() => {
                crate::say!("using settings from ./{DEFAULT_CONFIG}");
                Path::new(DEFAULT_CONFIG)
            }
            None => return Ok(self.over(SettingsInput::default())),
        };
        let file = SettingsInput::load(path)?;
        let layered = self.over(file.clone());
        layered.check_file_keys(&file, path)?;
        Ok(layered)
    }
}

/// serde's "unknown field `x`, expected one of …" with the declared key closest to `x`, when one is close.
fn suggest(message: &str) -> String {
    let Some(unknown) = message.strip_prefix("unknown field `").and_then(|rest| rest.split('`').next()) else {
        return message.to_owned();
    };
    let location = message.find(" at line ").map_or("", |at| &message[at..]);
    let keys = DECLARED.iter().map(|d| d.key).chain(["stack"]);
    let best = keys
        .map(|key| (strsim::jaro_winkler(unknown, key), key))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((_, key)) => format!("unknown key {unknown:?}{location}: did you mean {key:?}?"),
        None => format!("unknown key {unknown:?}{location}: examples/reaqtions.yaml lists every key"),
    }
}

impl PipelineSettings {
    /// These settings as the settings file would give them: every key, with the value in force (the inverse of
    /// [`PipelineSettings::resolve`]). What `status` shows, and what deploy writes as stack parameters.
    pub fn input(&self) -> SettingsInput {
        let s = self;
        SettingsInput {
            stack: Some(s.stack.clone()),
            partitioning: Some(s.partitioning),
            bucket: Some(s.bucket.clone()),
            prefix: Some(s.prefix.clone()),
            error_prefix: Some(s.error_prefix.clone()),
            buffer_size_mib: Some(s.buffering.size_mib),
            buffer_interval_seconds: Some(s.buffering.interval_seconds),
            processor_buffer_size_mb: Some(s.processor.size_mb),
            processor_buffer_interval_seconds: Some(s.processor.interval_seconds),
            lambda_memory_mb: Some(s.lambda.memory_mb),
            lambda_timeout_seconds: Some(s.lambda.timeout_seconds),
            log_retention_days: Some(s.log_retention_days),
            noncurrent_version_days: Some(s.noncurrent_version_days),
            athena_scan_limit_gb: Some(s.athena_scan_limit_gb),
            architecture: Some(s.architecture.clone()),
            alarms: Some(s.monitoring.alarms),
            dashboard: Some(s.monitoring.dashboard),
            alarm_email: s.monitoring.alarm_email.clone(),
            compression: Some(s.compression),
            cold_after_days: s.lifecycle.cold_after_days,
            cold_storage_class: Some(s.lifecycle.cold_storage_class),
            expire_processed_after_days: s.lifecycle.expire_processed_after_days,
            expire_errors_after_days: s.lifecycle.expire_errors_after_days,
            no_alarms: false,
            no_dashboard: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use clap::CommandFactory as _;

    use super::*;
    use crate::aws::stack::{DERIVED_PARAMETERS, PIPELINE_TEMPLATE};

    /// Every setting away from its default (a struct literal: a new setting must be added here).
    pub(super) fn all_changed() -> SettingsInput {
        SettingsInput {
            stack: Some("lab".into()),
            partitioning: Some(crate::settings::Partitioning::Arrival),
            bucket: Some("lab-lake".into()),
            prefix: Some("readings/!{timestamp:yyyy/MM/dd/HH}/".into()),
            error_prefix: Some("failed/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/".into()),
            buffer_size_mib: Some(7),
            buffer_interval_seconds: Some(120),
            processor_buffer_size_mb: Some(0.5),
            processor_buffer_interval_seconds: Some(10),
            lambda_memory_mb: Some(512),
            lambda_timeout_seconds: Some(30),
            log_retention_days: Some(30),
            noncurrent_version_days: Some(7),
            athena_scan_limit_gb: Some(3),
            architecture: Some("arm64".into()),
            alarms: Some(true),
            dashboard: Some(false),
            alarm_email: Some("ops@example.com".into()),
            compression: Some(Compression::None),
            cold_after_days: Some(30),
            cold_storage_class: Some(StorageClass::GlacierIr),
            expire_processed_after_days: Some(400),
            expire_errors_after_days: Some(120),
            no_alarms: false,
            no_dashboard: false,
        }
    }

    #[test]
    fn settings_resolve_and_read_back_through_the_stack_parameters_unchanged() {
        let given = all_changed();
        let settings = PipelineSettings::resolve(given.clone()).unwrap();
        assert_eq!(settings.input(), given, "input() is resolve()'s inverse");
        let defaults = PipelineSettings::defaults().input();
        // `alarms` stays on: an alarm email needs them (the round trip below turns them off).
        for declared in DECLARED.iter().filter(|d| d.key != "alarms") {
            let value = |input: &SettingsInput| serde_json::to_value(input).unwrap()[declared.key].clone();
            assert_ne!(value(&given), value(&defaults), "{} is left at its default in all_changed()", declared.key);
        }
        let parameters: BTreeMap<String, String> = given.to_parameters().into_iter().collect();
        assert_eq!(parameters.len(), DECLARED.len(), "one parameter per setting");
        let back = SettingsInput { stack: Some("lab".into()), ..SettingsInput::from_parameters(&parameters) };
        assert_eq!(back, given);
        let quiet = SettingsInput { alarms: Some(false), alarm_email: None, ..given };
        let parameters: BTreeMap<String, String> = quiet.to_parameters().into_iter().collect();
        assert_eq!(SettingsInput { stack: Some("lab".into()), ..SettingsInput::from_parameters(&parameters) }, quiet);
        assert_eq!(parameters["ScanLimitBytes"], (3u64 << 30).to_string());
        assert_eq!(parameters["CompressionFormat"], "UNCOMPRESSED");
        // An unset optional setting is written as what the template takes for "off", and read back as unset.
        let off: BTreeMap<String, String> = PipelineSettings::defaults().input().to_parameters().into_iter().collect();
        assert_eq!((off["AlarmEmail"].as_str(), off["ColdAfterDays"].as_str()), ("", "0"));
        let read = SettingsInput::from_parameters(&off);
        assert_eq!((read.alarm_email, read.cold_after_days), (None, None));
    }

    #[test]
    fn the_declaration_covers_the_template_parameters_and_the_example_file() {
        let template: serde_norway::Value = serde_norway::from_str(PIPELINE_TEMPLATE).unwrap();
        let in_template: BTreeSet<&str> =
            template["Parameters"].as_mapping().unwrap().keys().map(|k| k.as_str().unwrap()).collect();
        let declared: BTreeSet<&str> = DECLARED.iter().map(|d| d.parameter).chain(DERIVED_PARAMETERS).collect();
        assert_eq!(declared, in_template, "every template parameter is a declared setting or a derived one");
        assert_eq!(declared.len(), DECLARED.len() + DERIVED_PARAMETERS.len(), "no parameter declared twice");

        let example = include_str!("../../examples/reaqtions.yaml");
        serde_norway::from_str::<SettingsInput>(example).expect("examples/reaqtions.yaml loads");
        // Every `key: value` line, commented out or not.
        let is_setting = |line: &&str| {
            line.split_once(':')
                .is_some_and(|(k, _)| !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        };
        let uncommented: String =
            example.lines().map(|l| l.trim_start_matches(['#', ' '])).filter(is_setting).collect::<Vec<_>>().join("\n");
        let keys = serde_norway::from_str::<SettingsInput>(&uncommented).expect("its commented keys load too");
        let keys = serde_json::to_value(keys).unwrap();
        for key in DECLARED.iter().map(|d| d.key).chain(["stack"]) {
            assert!(!keys[key].is_null(), "examples/reaqtions.yaml does not show the setting {key}");
        }
    }

    #[test]
    fn a_settings_file_is_named_with_its_key_and_a_typo_gets_a_suggestion() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let range = write("range.yaml", "lambda_memory_mb: 512\nbuffer_size_mib: 500\n");
        let e = SettingsInput::default().with_file(Some(&range)).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}: buffer_size_mib: buffer size 500 MiB", range.display())), "{e}");
        let typo = write("typo.yaml", "buffer_size: 5\n");
        let e = SettingsInput::default().with_file(Some(&typo)).unwrap_err().to_string();
        assert!(e.contains("\"buffer_size\"") && e.contains("did you mean \"buffer_size_mib\"?"), "{e}");
        let far = write("far.yaml", "zzz: 1\n");
        let e = SettingsInput::default().with_file(Some(&far)).unwrap_err().to_string();
        assert!(e.contains("examples/reaqtions.yaml lists every key"), "{e}");
        // Without a layout given, the file's values are not judged by the new default's rules: a redeploy keeps an
        // arrival stack's layout, whose buffering may be 5 MiB (the layout's rules apply once it is known).
        let small = write("small.yaml", "buffer_size_mib: 5\n");
        assert_eq!(SettingsInput::default().with_file(Some(&small)).unwrap().buffer_size_mib, Some(5));
        // A key the flags override is not the file's to answer for; the flags' layout is the one in force.
        let zero = write("zero.yaml", "buffer_interval_seconds: 0\n");
        let flags = SettingsInput { partitioning: Some(crate::settings::Partitioning::Arrival), ..Default::default() };
        assert_eq!(flags.with_file(Some(&zero)).unwrap().buffer_interval_seconds, Some(0));
        let flags = SettingsInput { buffer_interval_seconds: Some(60), ..Default::default() };
        assert_eq!(flags.with_file(Some(&zero)).unwrap().buffer_interval_seconds, Some(60));
    }

    #[test]
    fn each_flag_is_named_after_its_key() {
        let cli = crate::cli::Cli::command();
        for verb in ["deploy", "cost"] {
            let command = cli.find_subcommand(verb).unwrap();
            for declared in DECLARED {
                let flag = declared.key.replace('_', "-");
                assert!(command.get_arguments().any(|a| a.get_long() == Some(&flag)), "{verb} has no --{flag}");
            }
        }
    }

    #[test]
    fn a_switch_is_turned_off_by_its_no_flag_and_the_file_stays_under_the_flags() {
        use clap::Parser as _;
        let parse = |args: &[&str]| {
            let cli = crate::cli::Cli::try_parse_from([&["reaqtions", "deploy"], args].concat()).unwrap();
            match cli.command {
                crate::cli::Command::Deploy(deploy) => deploy.settings,
                _ => unreachable!(),
            }
        };
        let file = SettingsInput { alarms: Some(true), dashboard: Some(false), ..SettingsInput::default() };
        let flags = parse(&["--no-alarms", "--dashboard"]).over(file.clone());
        assert_eq!((flags.alarms, flags.dashboard), (Some(false), Some(true)));
        assert_eq!(parse(&["--alarms", "false"]).over(file.clone()).alarms, Some(false), "the old spelling");
        assert_eq!(parse(&["--no-alarms", "--alarms"]).over(file.clone()).alarms, Some(true), "the last one wins");
        assert_eq!(parse(&[]).over(file).dashboard, Some(false));
        assert_eq!(parse(&["--buffer-size", "9"]).buffer_size_mib, Some(9), "the old spelling of a renamed flag");
    }
}
