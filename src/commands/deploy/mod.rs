//! `deploy`: settings from `--config` and flags, validated before any work; then, on the local target, the
//! deployment record created, updated or left as is ([`aws`] for the AWS target; [`build`] makes the zip).

mod aws;
mod build;

use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use super::{Exit, Target};
use crate::cli::{DeployArgs, SettingsArgs};
use crate::local::{DeployChange, Deployment, LocalTarget};
use crate::output::print;
use crate::progress::Progress;
use crate::settings::{PipelineSettings, SettingsFile};

/// Read from the current directory when `--config` is not given.
pub const DEFAULT_CONFIG: &str = "reaqtions.yaml";

/// Makes the default bucket name for a stack (on AWS: unique per account and region).
pub type BucketNamer<'a> = &'a dyn Fn(&str) -> Result<String>;

/// Resolves the settings: defaults, then the file, then flags. `default_bucket` replaces the local default
/// bucket name when no bucket was given (on AWS it must be globally unique).
pub fn resolve_settings(
    args: &SettingsArgs,
    stack: Option<String>,
    default_bucket: Option<BucketNamer>,
) -> Result<PipelineSettings> {
    let file = match &args.config {
        Some(path) => SettingsFile::load(path)?,
        None if Path::new(DEFAULT_CONFIG).exists() => {
            eprintln!("using settings from ./{DEFAULT_CONFIG}");
            SettingsFile::load(Path::new(DEFAULT_CONFIG))?
        }
        None => SettingsFile::default(),
    };
    let mut merged = file.merged(args.as_file(stack));
    if merged.bucket.is_none()
        && let Some(make) = default_bucket
    {
        let stack = merged.stack.clone().unwrap_or_else(|| crate::settings::DEFAULT_STACK.to_owned());
        merged.bucket = Some(make(&stack)?);
    }
    PipelineSettings::resolve(merged)
}

/// The outputs other commands and people need.
#[derive(Serialize)]
pub struct Outputs<'a> {
    pub change: &'a str,
    pub data_dir: String,
    pub stack: &'a str,
    pub stream: &'a str,
    pub stream_version: u32,
    pub bucket: &'a str,
    pub bucket_path: String,
    pub function: &'a str,
    pub transform: &'a str,
    pub log_group: &'a str,
    pub prefix: &'a str,
    pub error_prefix: &'a str,
    pub buffering: String,
    pub processor_buffering: String,
}

pub fn outputs<'a>(target: &LocalTarget, d: &'a Deployment, change: &'a str) -> Outputs<'a> {
    let s = &d.settings;
    Outputs {
        change,
        data_dir: target.root().display().to_string(),
        stack: &s.stack,
        stream: &s.stream,
        stream_version: d.version,
        bucket: &s.bucket,
        bucket_path: target.lake(&s.bucket).root().display().to_string(),
        function: &s.function,
        transform: &d.transform,
        log_group: &s.log_group,
        prefix: &s.prefix,
        error_prefix: &s.error_prefix,
        buffering: format!("{} MiB / {} s", s.buffering.size_mib, s.buffering.interval_seconds),
        processor_buffering: format!("{} MB / {} s", s.processor.size_mb, s.processor.interval_seconds),
    }
}

pub fn run(target: &Target, stack: Option<String>, args: &DeployArgs, quiet: bool) -> Result<Exit> {
    match target {
        Target::Local(local) => run_local(local, stack, args),
        Target::Aws { aws, .. } => aws::run(aws, stack, args, &Progress::new("deploy", 0, quiet)),
    }
}

fn run_local(target: &LocalTarget, stack: Option<String>, args: &DeployArgs) -> Result<Exit> {
    let settings = resolve_settings(&args.settings, stack, None)?;
    if args.dry_run {
        let plan = match target.load()? {
            None => "create",
            Some(d) if d.settings == settings => "no change",
            Some(_) => "update",
        };
        eprintln!("dry run: the local deployment would {plan}; nothing was changed");
        print(args.output, "planned settings", &settings)?;
        return Ok(Exit::Ok);
    }
    let (change, deployment) = target.deploy(&settings)?;
    let said = match change {
        DeployChange::Created => "created",
        DeployChange::Updated => "updated",
        DeployChange::UpToDate => "up to date",
    };
    eprintln!("local pipeline {}: {said}", settings.stack);
    print(args.output, "local pipeline", &outputs(target, &deployment, said))?;
    Ok(Exit::Ok)
}
