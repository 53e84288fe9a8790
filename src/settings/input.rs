//! Every setting declared once: its settings-file key (the field), its flag (the key with hyphens; an old
//! spelling stays as a hidden alias that warns), the stack parameter it is deployed as, where it lands in
//! [`PipelineSettings`], its default and its range. The file's schema, the flags and their help, the defaults, the
//! range checks, the layering of flags over the file, and both directions of the stack parameters all come from
//! the one declaration below (the macro is in `declare.rs`).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::declare::{ByLayout, DefaultFor, GibAsBytes, IntoGiven, OneOf, Range, declare_settings, given_text};
pub use super::declare::{Declared, ParameterValue};
use super::{DEFAULT_ERROR_PREFIX, DEFAULT_PARTITIONING, DEFAULT_PREFIX, PipelineSettings};
use crate::compression::Compression;
use crate::error::Invalid;
use crate::lifecycle::StorageClass;
use crate::limits;

/// Read from the current directory when `--config` is not given.
pub const DEFAULT_CONFIG: &str = "reaqtions.yaml";

/// `--partitioning`'s value, named in the error when it is neither.
fn parse_partitioning(text: &str) -> Result<crate::settings::Partitioning, String> {
    match text {
        "event" => Ok(crate::settings::Partitioning::Event),
        "arrival" => Ok(crate::settings::Partitioning::Arrival),
        other => Err(format!("{other:?} is not a layout: event (the reading's own hour) or arrival")),
    }
}

// One entry a setting: its doc (the help, to which the range and default are added), its flag's clap attributes,
// then `key: Type => "StackParameter" at field.in.PipelineSettings`, and what applies of: `unset "text"` (the
// parameter's text for an optional setting left unset), `via Codec` (another unit in the template), `switch
// no_key` (a --no- flag), `default value` (or `ByLayout { event, arrival }`), `range lo..=hi, named "what" "unit"`
// (a range check and its message), `one_of LIST, named "what" "unit" by "who offers it"`. Rules that read two
// settings are in `PipelineSettings::validate`.
declare_settings! {
    /// What a reading's lake folder is: event (the hour it was measured; a new pipeline's) or arrival (the hour
    /// Firehose received it). Fixed when the stream is created: a redeploy keeps it.
    #[arg(long, value_name = "LAYOUT", value_parser = parse_partitioning)]
    partitioning: crate::settings::Partitioning => "Partitioning" at partitioning,
        default DEFAULT_PARTITIONING;
    /// Raw data-lake bucket name (default <stack>-iot-data-lake-raw, made unique per account and region on AWS).
    #[arg(long)]
    bucket: String => "RawBucketName" at bucket;
    /// Key prefix of processed objects (Firehose expressions such as !{timestamp:yyyy} allowed; with partitioning
    /// event, its fixed folders followed by the reading's year=/month=/day=/hour=).
    #[arg(long, value_name = "PREFIX")]
    prefix: String => "Prefix" at prefix,
        default DEFAULT_PREFIX;
    /// Key prefix of error records (must contain !{firehose:error-output-type} when --prefix has expressions).
    #[arg(long, value_name = "PREFIX")]
    error_prefix: String => "ErrorPrefix" at error_prefix,
        default DEFAULT_ERROR_PREFIX;
    /// S3 buffering size, MiB; with partitioning event at least Firehose's minimum, the default.
    #[arg(long, value_name = "MIB", alias = "buffer-size")]
    buffer_size_mib: u32 => "BufferSizeMiB" at buffering.size_mib,
        default ByLayout { event: limits::FIREHOSE_PARTITIONING_MIN_BUFFERING.0, arrival: 5 },
        range limits::FIREHOSE_BUFFER_MIB, named "buffer size" "MiB";
    /// S3 buffering interval, seconds; with partitioning event at least Firehose's minimum, the default.
    #[arg(long, value_name = "SECONDS", alias = "buffer-interval")]
    buffer_interval_seconds: u32 => "BufferIntervalSeconds" at buffering.interval_seconds,
        default ByLayout { event: limits::FIREHOSE_PARTITIONING_MIN_BUFFERING.1, arrival: 60 },
        range limits::FIREHOSE_BUFFER_SECONDS, named "buffer interval" "s";
    /// Lambda processor buffering size, MB.
    #[arg(long, value_name = "MB", alias = "processor-buffer-size")]
    processor_buffer_size_mb: f64 => "ProcessorBufferSizeMB" at processor.size_mb,
        default 1.0,
        range limits::FIREHOSE_PROCESSOR_BUFFER_MB, named "processor buffer size" "MB";
    /// Lambda processor buffering interval, seconds.
    #[arg(long, value_name = "SECONDS", alias = "processor-buffer-interval")]
    processor_buffer_interval_seconds: u32 => "ProcessorBufferIntervalSeconds" at processor.interval_seconds,
        default 5,
        range limits::FIREHOSE_PROCESSOR_BUFFER_SECONDS, named "processor buffer interval" "s";
    /// Lambda memory, MB.
    #[arg(long, value_name = "MB", alias = "lambda-memory")]
    lambda_memory_mb: u32 => "LambdaMemory" at lambda.memory_mb,
        default 256,
        range limits::LAMBDA_MEMORY_MB, named "Lambda memory" "MB";
    /// Lambda timeout, seconds.
    #[arg(long, value_name = "SECONDS", alias = "lambda-timeout")]
    lambda_timeout_seconds: u32 => "LambdaTimeout" at lambda.timeout_seconds,
        default 60,
        range limits::FIREHOSE_PROCESSOR_TIMEOUT_SECONDS, named "Lambda timeout" "s";
    /// Days the log groups keep events, one of CloudWatch's values.
    #[arg(long, value_name = "DAYS")]
    log_retention_days: u32 => "LogRetentionDays" at log_retention_days,
        default 14,
        one_of limits::LOG_RETENTION_DAYS, named "log retention" "days" by "CloudWatch Logs offers";
    /// Days an overwritten or deleted object's old version stays in the raw bucket.
    #[arg(long, value_name = "DAYS")]
    noncurrent_version_days: u32 => "NoncurrentVersionDays" at noncurrent_version_days,
        default 30,
        range 1..=3650, named "noncurrent version expiry" "days";
    /// GiB one Athena query of the lake may scan before it is cancelled.
    #[arg(long, value_name = "GIB")]
    athena_scan_limit_gb: u32 => "ScanLimitBytes" at athena_scan_limit_gb, via GibAsBytes,
        default 10,
        range 1..=1_000_000, named "Athena scan limit" "GiB";
    /// The function's architecture (arm64 is Graviton, about 20 % cheaper per GB-second).
    #[arg(long, value_name = "ARCH", value_parser = limits::LAMBDA_ARCHITECTURES, hide_possible_values = true, alias = "arch")]
    architecture: String => "Architecture" at architecture,
        default "x86_64",
        one_of limits::LAMBDA_ARCHITECTURES, named "architecture" "" by "Lambda runs";
    /// CloudWatch alarms on the pipeline, with an SNS topic; --no-alarms turns them off.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", hide_possible_values = true)]
    alarms: bool => "AlarmsEnabled" at monitoring.alarms, switch no_alarms,
        default true;
    /// A CloudWatch dashboard of the pipeline; --no-dashboard turns it off.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", hide_possible_values = true)]
    dashboard: bool => "DashboardEnabled" at monitoring.dashboard, switch no_dashboard,
        default true;
    /// An address subscribed to the alarms' topic (it must confirm the subscription AWS mails it).
    #[arg(long, value_name = "ADDRESS")]
    alarm_email: String => "AlarmEmail" at monitoring.alarm_email, unset "";
    /// What lake objects are written as: gzip (keys end in .gz) or none.
    #[arg(long, value_enum, value_name = "FORMAT")]
    compression: Compression => "CompressionFormat" at compression,
        default Compression::Gzip;
    /// Move processed/ objects to --cold-storage-class this many days after they were written; never unless given.
    #[arg(long, value_name = "DAYS")]
    cold_after_days: u32 => "ColdAfterDays" at lifecycle.cold_after_days, unset "0",
        range 1..=36_500, named "cold_after_days" "days";
    /// Where they move: INTELLIGENT_TIERING, STANDARD_IA (from day 30) or GLACIER_IR.
    #[arg(long, value_enum, value_name = "CLASS")]
    cold_storage_class: StorageClass => "ColdStorageClass" at lifecycle.cold_storage_class,
        default StorageClass::IntelligentTiering;
    /// Delete processed/ objects this many days after they were written; never unless given.
    #[arg(long, value_name = "DAYS")]
    expire_processed_after_days: u32 => "ExpireProcessedAfterDays" at lifecycle.expire_processed_after_days,
        unset "0",
        range 1..=36_500, named "expire_processed_after_days" "days";
    /// Delete error objects this many days after they were written; never unless given.
    #[arg(long, value_name = "DAYS")]
    expire_errors_after_days: u32 => "ExpireErrorsAfterDays" at lifecycle.expire_errors_after_days, unset "0",
        range 1..=36_500, named "expire_errors_after_days" "days";
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
        assert_eq!(parameters[Declared::athena_scan_limit_gb.parameter], (3u64 << 30).to_string());
        assert_eq!(parameters[Declared::compression.parameter], "UNCOMPRESSED");
        // An unset optional setting is written as what the template takes for "off", and read back as unset.
        let off: BTreeMap<String, String> = PipelineSettings::defaults().input().to_parameters().into_iter().collect();
        assert_eq!(
            (off[Declared::alarm_email.parameter].as_str(), off[Declared::cold_after_days.parameter].as_str()),
            ("", "0")
        );
        let read = SettingsInput::from_parameters(&off);
        assert_eq!((read.alarm_email, read.cold_after_days), (None, None));
    }

    #[test]
    fn the_declaration_covers_the_template_parameters_and_the_example_file() {
        let template: serde_norway::Value = serde_norway::from_str(PIPELINE_TEMPLATE).unwrap();
        let in_template: BTreeSet<&str> =
            template["Parameters"].as_mapping().unwrap().keys().map(|k| k.as_str().unwrap()).collect();
        let declared: BTreeSet<&str> =
            DECLARED.iter().map(|d| d.parameter).chain(DERIVED_PARAMETERS.iter().copied()).collect();
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
    fn each_flag_is_named_after_its_key_and_its_help_says_the_declared_range_and_default() {
        let cli = crate::cli::Cli::command();
        for verb in ["deploy", "cost"] {
            let command = cli.find_subcommand(verb).unwrap();
            for declared in DECLARED {
                let flag = declared.key.replace('_', "-");
                let arg = command.get_arguments().find(|a| a.get_long() == Some(&flag));
                let help = arg.and_then(|a| a.get_help()).map(ToString::to_string);
                let help = help.unwrap_or_else(|| panic!("{verb} has no --{flag}, or it has no help"));
                if let Some(range) = declared.range {
                    assert!(help.contains(&format!("({}-{}", range.lo, range.hi)), "--{flag}: {help}");
                }
            }
        }
        let help = |key: &str| {
            let deploy = cli.find_subcommand("deploy").unwrap();
            let arg = deploy.get_arguments().find(|a| a.get_long() == Some(&key.replace('_', "-"))).unwrap();
            arg.get_help().unwrap().to_string()
        };
        assert!(help("buffer_size_mib").ends_with("(1-128; default 64 with partitioning event, else 5)"));
        assert!(help("lambda_memory_mb").ends_with("(128-10240; default 256)"), "{}", help("lambda_memory_mb"));
        assert!(help("architecture").ends_with("(x86_64 or arm64; default x86_64)"), "{}", help("architecture"));
    }

    #[test]
    fn each_declared_range_is_checked_at_both_ends_with_the_setting_named() {
        let resolve = |key: &str, value: f64| {
            let number = if value.fract() == 0.0 { serde_json::json!(value as u64) } else { serde_json::json!(value) };
            let input = serde_json::json!({ "partitioning": "arrival", key: number });
            PipelineSettings::resolve(serde_json::from_value(input).unwrap())
        };
        let mut checked = 0;
        for d in DECLARED {
            let Some(range) = d.range else { continue };
            let step = if range.lo.fract() == 0.0 && range.hi.fract() == 0.0 { 1.0 } else { 0.1 };
            for inside in [range.lo, range.hi] {
                resolve(d.key, inside).unwrap_or_else(|e| panic!("{} {inside}: {e:#}", d.key));
            }
            let outside = [range.hi + step].into_iter().chain((range.lo >= step).then_some(range.lo - step));
            for value in outside {
                let e = resolve(d.key, value).unwrap_err();
                let named =
                    format!("{} {} {} is outside the allowed", range.what, (value * 10.0).round() / 10.0, range.unit);
                assert!(e.to_string().starts_with(&named) && crate::error::is_invalid(&e), "{} {value}: {e}", d.key);
            }
            checked += 1;
        }
        assert!(checked >= 10, "the ranges are declared: {checked}");
        let arch = SettingsInput { architecture: Some("mips".into()), ..Default::default() };
        let e = PipelineSettings::resolve(arch).unwrap_err().to_string();
        assert_eq!(e, "architecture \"mips\" is not one Lambda runs: x86_64 or arm64");
    }

    #[test]
    fn the_types_own_defaults_agree_with_the_declaration() {
        // The enums' `#[default]` serves records and structs that predate a setting: it must say the same.
        let declared = SettingsInput::default().filled();
        assert_eq!(Compression::default(), declared.compression);
        assert_eq!(StorageClass::default(), declared.cold_storage_class);
        assert_eq!(crate::lifecycle::Lifecycle::default().cold_storage_class, declared.cold_storage_class);
        let monitoring = crate::settings::Monitoring::default();
        assert_eq!((monitoring.alarms, monitoring.dashboard), (declared.alarms, declared.dashboard));
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
