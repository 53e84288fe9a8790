//! `deploy`: settings from `--config` and flags, validated before any work; then, on the local target, the
//! deployment record created, updated or left as is ([`aws`] for the AWS target; [`build`] makes the zip). A dry
//! run on either target compares the planned settings with the deployed ones ([`SettingsPlan`]). Every JSON that
//! carries a pipeline's settings (deploy, its dry run, status) carries them as `settings`, by the settings file's
//! keys ([`SettingsInput`]).

pub(crate) mod aws;
mod build;

use std::path::Path;

use anyhow::Result;
use serde::Serialize;
use serde_json::{Map, Value};

use super::{Exit, Named};
use crate::cli::DeployArgs;
use crate::local::{DeployChange, Deployment, LocalTarget, Recorded};
use crate::output::{OutputFormat, print};
use crate::settings::{DECLARED, DEFAULT_CONFIG, DEFAULT_STACK, PipelineSettings, SettingsInput};

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
    /// What the pipeline runs with, by the settings file's keys (the shape `status` and the dry run show).
    pub(crate) settings: SettingsInput,
    pub(crate) data_dir: String,
    pub(crate) stream_version: u32,
    pub(crate) bucket_path: String,
    pub(crate) transform: String,
    /// Kept for one release beside `settings` (scripts read them): `settings.partitioning` and the
    /// `settings.*buffer*` keys say the same.
    pub(crate) partitioning: crate::settings::Partitioning,
    pub(crate) buffering: crate::settings::Buffering,
    pub(crate) processor_buffering: crate::settings::ProcessorBuffering,
}

pub(crate) fn outputs(target: &LocalTarget, d: &Deployment, change: &'static str) -> LocalOutputs {
    let s = &d.settings;
    LocalOutputs {
        change,
        named: Named::of("local", s),
        settings: s.input(),
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

/// When the settings file, not `--stack`, named a stack other than the default: the other verbs read no settings
/// file, so they need the flag.
pub(crate) fn say_stack_from_file(flag: Option<&str>, stack: &str) {
    if flag.is_none() && stack != DEFAULT_STACK {
        crate::say!("stack {stack} is named by the settings file: pass --stack {stack} to the other verbs");
    }
}

pub(crate) fn run_local(target: &LocalTarget, stack: Option<String>, args: &DeployArgs) -> Result<Exit> {
    let named = stack_named(stack.clone(), args.config.as_deref())?;
    say_stack_from_file(stack.as_deref(), &named);
    let target = &target.with_stack(&named)?;
    let deployed = target.load()?;
    let settings = resolve_settings(args, stack, None, deployed.as_ref().map(|d| &d.settings))?;
    target.check_apart(&settings)?;
    if args.dry_run.on {
        let plan = SettingsPlan::between(deployed.as_ref().map(|d| &d.settings), &settings)?;
        // A record still in the old layout would move into the stack's folder.
        let moved = if deployed.is_some() && !target.record_path().exists() {
            format!(" (its record moving to {})", target.record_path().display())
        } else {
            String::new()
        };
        crate::say!("dry run: local pipeline {} would {}{moved}; nothing was changed", settings.stack, plan.said());
        #[derive(Serialize)]
        struct LocalPlan {
            #[serde(flatten)]
            named: Named,
            #[serde(flatten)]
            plan: SettingsPlan,
        }
        let local = LocalPlan { named: Named::of("local", &settings), plan };
        // The table names the stack; the names derived from the settings are in the JSON.
        let derived = ["target", "stream", "bucket", "function", "log_group", "prefix", "error_prefix"];
        print_plan(args.shape.format, "local pipeline (dry run)", &local, &local.plan, &derived)?;
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

/// One setting a dry run would change: its settings-file key, the value deployed and the value planned (as the
/// settings file writes them; null for an optional setting left unset).
#[derive(Serialize)]
pub(crate) struct SettingChange {
    pub(crate) key: &'static str,
    pub(crate) old: Value,
    pub(crate) new: Value,
}

/// What a dry run would do to a pipeline's settings, against what is deployed.
#[derive(Serialize)]
pub(crate) struct SettingsPlan {
    /// `create` (nothing deployed), `update` (see `changes`) or `no change`.
    pub(crate) change: &'static str,
    /// The settings the pipeline would run with, by the settings file's keys (as deploy and status show them).
    pub(crate) settings: SettingsInput,
    /// Each setting whose value would change, in declaration order; empty on `create` and `no change`.
    pub(crate) changes: Vec<SettingChange>,
    /// How many settings would stay as they are (none on `create`).
    pub(crate) unchanged: usize,
}

impl SettingsPlan {
    /// `planned` compared with `deployed`, key by key of the settings file (the stack's name is the same by
    /// construction: a deployment is found by it).
    pub(crate) fn between(deployed: Option<&PipelineSettings>, planned: &PipelineSettings) -> Result<SettingsPlan> {
        let settings = planned.input();
        let Some(deployed) = deployed else {
            return Ok(SettingsPlan { change: "create", settings, changes: vec![], unchanged: 0 });
        };
        let new = keyed(&settings)?;
        let old = keyed(&deployed.input())?;
        let mut changes = Vec::new();
        for key in DECLARED.iter().map(|d| d.key) {
            let (old, new) =
                (old.get(key).cloned().unwrap_or(Value::Null), new.get(key).cloned().unwrap_or(Value::Null));
            if old != new {
                changes.push(SettingChange { key, old, new });
            }
        }
        let unchanged = DECLARED.len() - changes.len();
        let change = if changes.is_empty() { "no change" } else { "update" };
        Ok(SettingsPlan { change, settings, changes, unchanged })
    }

    /// The plan after "would": `create`, `update 2 settings`, `not change its settings`.
    pub(crate) fn said(&self) -> String {
        match self.change {
            "create" => "create".to_owned(),
            "update" => format!("update {}", crate::output::count(self.changes.len() as u64, "setting")),
            _ => "not change its settings".to_owned(),
        }
    }

    /// The table's rows for the settings: on `create` every value; else each change as `old → new` and one row
    /// saying how many settings stay as they are.
    fn rows(&self) -> Result<Map<String, Value>> {
        let mut rows = Map::new();
        rows.insert("change".to_owned(), self.change.into());
        if self.change == "create" {
            // The stack is named beside the plan already.
            for (key, value) in keyed(&self.settings)?.into_iter().filter(|(key, _)| key != "stack") {
                rows.insert(format!("settings.{key}"), text(&value).into());
            }
            return Ok(rows);
        }
        for SettingChange { key, old, new } in &self.changes {
            rows.insert(format!("settings.{key}"), format!("{} → {}", text(old), text(new)).into());
        }
        let stay = crate::output::count(self.unchanged as u64, "setting");
        let stay = if self.changes.is_empty() { format!("all {stay}") } else { stay };
        let verb = if self.unchanged == 1 { "stays" } else { "stay" };
        rows.insert("unchanged".to_owned(), format!("{stay} {verb} as deployed").into());
        Ok(rows)
    }
}

/// Settings, or a plan, as a JSON object by key.
fn keyed(value: &impl Serialize) -> Result<Map<String, Value>> {
    match serde_json::to_value(value)? {
        Value::Object(map) => Ok(map),
        other => anyhow::bail!("{other} is not a JSON object, as settings and plans are"),
    }
}

/// A setting's value as the table shows it: text as it is, an unset one as `unset`.
fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => "unset".to_owned(),
        other => other.to_string(),
    }
}

/// A dry run's result. JSON carries all of `value` (the whole plan); the table shows its facts, then only the
/// settings that would change (every value on create), leaving out `settings`, `changes`, `unchanged` and the
/// keys in `long` (what repeats the settings in another form).
pub(crate) fn print_plan(
    format: OutputFormat,
    title: &str,
    value: &impl Serialize,
    plan: &SettingsPlan,
    long: &[&str],
) -> Result<()> {
    let mut shown = keyed(value)?;
    if format == OutputFormat::Table {
        for key in ["change", "settings", "changes", "unchanged"].iter().chain(long) {
            shown.remove(*key);
        }
        shown.extend(plan.rows()?);
    }
    print(format, title, &Value::Object(shown))
}
