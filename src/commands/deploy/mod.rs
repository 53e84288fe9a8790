//! `deploy`: settings from `--config` and flags, validated before any work; then, on the local target, the
//! deployment record created, updated or left as is ([`aws`] for the AWS target; [`build`] makes the zip).

pub(crate) mod aws;
mod build;

use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use super::{Exit, Named};
use crate::cli::DeployArgs;
use crate::local::{DeployChange, Deployment, LocalTarget, Recorded};
use crate::output::print;
use crate::settings::{DEFAULT_CONFIG, DEFAULT_STACK, PipelineSettings, SettingsInput};

/// Names the raw bucket for a stack when none was given.
pub(crate) type BucketNamer<'a> = &'a dyn Fn(&str) -> Result<String>;

/// The settings `deploy` was given: flags over the settings file, validated; `default_bucket` names the
/// bucket when none was given (on AWS it must be globally unique). `deployed` is the pipeline already deployed
/// under that stack name, if any: its layout is kept ([`crate::layout::keep_deployed`]).
pub(crate) fn resolve_settings(
    args: &DeployArgs,
    stack: Option<String>,
    default_bucket: Option<BucketNamer>,
    deployed: Option<&PipelineSettings>,
) -> Result<PipelineSettings> {
    let flags = SettingsInput { stack, ..args.settings.clone() };
    let mut input = flags.with_file(args.config.as_deref())?;
    let name = input.stack.clone().unwrap_or_else(|| crate::settings::DEFAULT_STACK.to_owned());
    let deployed = deployed.filter(|d| d.stack == name);
    crate::layout::keep_deployed(&mut input, deployed.map(|d| d.partitioning), &name)?;
    match default_bucket {
        Some(name) => PipelineSettings::resolve_with(input, name),
        None => PipelineSettings::resolve(input),
    }
}

/// What `deploy --local` shows (and `status --local` repeats): the shared names, then the local details.
#[derive(Serialize)]
pub(crate) struct LocalOutputs {
    pub(crate) change: &'static str,
    #[serde(flatten)]
    pub(crate) named: Named,
    pub(crate) data_dir: String,
    pub(crate) stream_version: u32,
    pub(crate) bucket_path: String,
    pub(crate) transform: String,
    /// Which hour folders readings are filed under: `event` (their own) or `arrival`.
    pub(crate) partitioning: crate::settings::Partitioning,
    pub(crate) buffering: crate::settings::Buffering,
    pub(crate) processor_buffering: crate::settings::ProcessorBuffering,
}

pub(crate) fn outputs(target: &LocalTarget, d: &Deployment, change: &'static str) -> LocalOutputs {
    let s = &d.settings;
    LocalOutputs {
        change,
        named: Named::of("local", s),
        data_dir: target.root().display().to_string(),
        stream_version: d.version,
        bucket_path: target.lake(&s.bucket).root().display().to_string(),
        transform: d.transform.clone(),
        partitioning: s.partitioning,
        buffering: s.buffering,
        processor_buffering: s.processor,
    }
}

/// The stack a deploy is for, as [`resolve_settings`] will settle it: `--stack`, else the settings file's
/// `stack`, else the default. Read first so that the local target finds that stack's record.
fn stack_named(stack: Option<String>, config: Option<&Path>) -> Result<String> {
    let default_file = Path::new(DEFAULT_CONFIG);
    let file = config.or_else(|| default_file.exists().then_some(default_file));
    let named = match (stack, file) {
        (Some(stack), _) => Some(stack),
        (None, Some(path)) => SettingsInput::load(path)?.stack,
        (None, None) => None,
    };
    Ok(named.unwrap_or_else(|| DEFAULT_STACK.to_owned()))
}

pub(crate) fn run_local(target: &LocalTarget, stack: Option<String>, args: &DeployArgs) -> Result<Exit> {
    let target = &target.with_stack(&stack_named(stack.clone(), args.config.as_deref())?)?;
    let deployed = target.load()?;
    let settings = resolve_settings(args, stack, None, deployed.as_ref().map(|d| &d.settings))?;
    target.check_apart(&settings)?;
    if args.dry_run {
        let deployed_here = deployed.is_some();
        let plan = match deployed {
            None => "create",
            Some(d) if d.settings == settings => "no change",
            Some(_) => "update",
        };
        // A record still in the old layout would move into the stack's folder.
        let moved = if deployed_here && !target.record_path().exists() {
            format!(" (its record moving to {})", target.record_path().display())
        } else {
            String::new()
        };
        crate::say!("dry run: local pipeline {} would {plan}{moved}; nothing was changed", settings.stack);
        print(args.shape.format, "planned settings", &settings)?;
        return Ok(Exit::Ok);
    }
    crate::layout::claim(&target.lake(&settings.bucket), &settings)?;
    let Recorded { change, deployment, moved_from } = target.deploy(&settings)?;
    if let Some(old) = moved_from {
        crate::say!(
            "moved the record of local pipeline {} from {} to {}",
            settings.stack,
            old.display(),
            target.record_path().display()
        );
    }
    let said = match change {
        DeployChange::Created => "created",
        DeployChange::Updated => "updated",
        DeployChange::UpToDate => "up to date",
    };
    crate::say!("local pipeline {}: {said}", settings.stack);
    print(args.shape.format, "local pipeline", &outputs(target, &deployment, said))?;
    Ok(Exit::Ok)
}
