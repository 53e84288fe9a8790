//! `deploy`: settings from `--config` and flags, validated, then the deployment created, updated or left as is.

use anyhow::Result;
use serde::Serialize;

use super::Exit;
use crate::cli::{DeployArgs, SettingsArgs};
use crate::local::{DeployChange, Deployment, LocalTarget};
use crate::output::print;
use crate::settings::{PipelineSettings, SettingsFile};

/// Resolves the settings: defaults, then the file, then flags.
pub fn resolve_settings(args: &SettingsArgs) -> Result<PipelineSettings> {
    let file = match &args.config {
        Some(path) => SettingsFile::load(path)?,
        None => SettingsFile::default(),
    };
    PipelineSettings::resolve(file.merged(args.as_file()))
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

pub fn run(target: &LocalTarget, args: &DeployArgs) -> Result<Exit> {
    let settings = resolve_settings(&args.settings)?;
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
