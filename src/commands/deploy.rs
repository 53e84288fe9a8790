//! `deploy`: settings from `--config` and flags, validated; then, on the local target, the deployment record
//! created, updated or left as is; on AWS, the Lambda built and zipped, its zip uploaded when absent, the
//! artifacts and pipeline stacks created or updated, the outputs shown and the function smoke-tested.

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use reaqtions_lambda::package::{LambdaZip, package_bootstrap, read_zip};
use serde::Serialize;

use super::{Exit, Target};
use crate::aws::Aws;
use crate::aws::cloudformation::{StackChange, StackSpec, deploy_stack, describe, output};
use crate::aws::lambda::{Smoke, smoke_test};
use crate::aws::pipeline::{
    ARTIFACTS_TEMPLATE, Deployed, PIPELINE_TEMPLATE, artifacts_stack, default_bucket, pipeline_parameters,
};
use crate::aws::s3::{object_exists, put_object};
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
        Target::Aws { aws, .. } => run_aws(aws, stack, args, &Progress::new("deploy", 0, quiet)),
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

/// The deployment zip: the given file, or the lambda crate built in release and packaged.
fn lambda_zip(file: Option<&Path>) -> Result<LambdaZip> {
    if let Some(file) = file {
        let bytes = std::fs::read(file).with_context(|| format!("cannot read Lambda zip {}", file.display()))?;
        return read_zip(bytes)
            .with_context(|| format!("{} is not a Lambda zip with an executable bootstrap", file.display()));
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = workspace.join("Cargo.toml");
    if !manifest.exists() {
        bail!("the lambda crate's source is not at {}: build it and pass --lambda-zip FILE", workspace.display());
    }
    eprintln!("building the transformation Lambda (cargo build --profile lambda -p reaqtions-lambda)…");
    let status = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--profile", "lambda", "-p", "reaqtions-lambda", "--bin", "bootstrap", "--manifest-path"])
        .arg(&manifest)
        .status()
        .context("cannot run cargo to build the Lambda (or pass --lambda-zip FILE)")?;
    if !status.success() {
        bail!("building the Lambda failed ({status})");
    }
    let binary = workspace.join("target/lambda/bootstrap");
    let bytes = std::fs::read(&binary).with_context(|| format!("cannot read {}", binary.display()))?;
    Ok(package_bootstrap(&bytes)?)
}

#[derive(Serialize)]
struct AwsOutputs<'a> {
    artifacts_stack: String,
    artifacts_change: &'a str,
    pipeline_change: &'a str,
    code_key: String,
    code_uploaded: bool,
    smoke_test: String,
    #[serde(flatten)]
    deployed: Deployed,
}

fn said(change: StackChange) -> &'static str {
    match change {
        StackChange::Created => "created",
        StackChange::Recreated => "re-created (was ROLLBACK_COMPLETE)",
        StackChange::Updated => "updated",
        StackChange::UpToDate => "up to date",
    }
}

fn run_aws(aws: &Aws, stack: Option<String>, args: &DeployArgs, progress: &Progress) -> Result<Exit> {
    let identity = aws.identity()?;
    let make_bucket = |stack: &str| default_bucket(stack, &identity.account, &identity.region);
    let settings = resolve_settings(&args.settings, stack, Some(&make_bucket))?;
    let zip = lambda_zip(args.lambda_zip.as_deref())?;
    let architecture = zip.architecture.context(
        "the zip's bootstrap is not a Linux x86_64 or arm64 executable (build it for provided.al2023: see README)",
    )?;
    let cfn = aws.cloudformation();
    let s3 = aws.s3();
    let artifacts = StackSpec {
        name: artifacts_stack(&settings.stack),
        template: ARTIFACTS_TEMPLATE.to_owned(),
        parameters: vec![],
    };
    let code_key = zip.artifact_key();
    progress.say(&format!(
        "deploying {} to account {} in {} (Lambda zip {} bytes, {architecture}, sha256 {})",
        settings.stack,
        identity.account,
        identity.region,
        zip.bytes.len(),
        zip.sha256
    ));
    let mut on_event = |line: &str| progress.say(&format!("  {line}"));
    if args.dry_run {
        return dry_run(aws, &settings, &artifacts, &code_key, architecture, args, progress);
    }
    let artifacts_change = aws.block_on(deploy_stack(&cfn, &artifacts, &mut on_event))?;
    let artifacts_stack = aws.block_on(describe(&cfn, &artifacts.name))?.context("the artifacts stack vanished")?;
    let artifacts_bucket = output(&artifacts_stack, "ArtifactsBucket")?;
    let uploaded = if aws.block_on(object_exists(&s3, &artifacts_bucket, &code_key))? {
        false
    } else {
        progress.say(&format!("uploading s3://{artifacts_bucket}/{code_key}"));
        aws.block_on(put_object(&s3, &artifacts_bucket, &code_key, zip.bytes.clone()))?;
        true
    };
    let create_bucket = create_raw_bucket(aws, &settings, progress)?;
    let pipeline = StackSpec {
        name: settings.stack.clone(),
        template: PIPELINE_TEMPLATE.to_owned(),
        parameters: pipeline_parameters(&settings, &artifacts_bucket, &code_key, architecture, create_bucket)?,
    };
    let pipeline_change = aws.block_on(deploy_stack(&cfn, &pipeline, &mut on_event))?;
    let stack = aws.block_on(describe(&cfn, &settings.stack))?.context("the pipeline stack vanished")?;
    let deployed = Deployed::from_stack(&stack)?;
    let smoke = if args.no_smoke {
        "skipped (--no-smoke)".to_owned()
    } else {
        match aws.block_on(smoke_test(&aws.lambda(), &deployed.function))? {
            Smoke::Passed => "passed".to_owned(),
            Smoke::CannotRun(why) => {
                progress.say(&format!("smoke test not run: this endpoint's Lambda cannot execute functions ({why})"));
                "not run: the endpoint cannot execute functions".to_owned()
            }
        }
    };
    progress.finish();
    eprintln!("pipeline {}: {}", settings.stack, said(pipeline_change));
    print(
        args.output,
        "pipeline",
        &AwsOutputs {
            artifacts_stack: artifacts.name.clone(),
            artifacts_change: said(artifacts_change),
            pipeline_change: said(pipeline_change),
            code_key,
            code_uploaded: uploaded,
            smoke_test: smoke,
            deployed,
        },
    )?;
    Ok(Exit::Ok)
}

/// Whether the pipeline stack creates the raw bucket: a stack keeps what it was created with; a new stack
/// reuses a bucket of that name that already exists (kept by an earlier teardown) instead of failing.
fn create_raw_bucket(aws: &Aws, settings: &PipelineSettings, progress: &Progress) -> Result<bool> {
    let cfn = aws.cloudformation();
    if let Some(stack) = aws.block_on(describe(&cfn, &settings.stack))? {
        let given = stack.parameters().iter().find(|p| p.parameter_key() == Some("CreateRawBucket"));
        return Ok(given.and_then(|p| p.parameter_value()) != Some("false"));
    }
    if aws.block_on(crate::aws::s3::bucket_exists(&aws.s3(), &settings.bucket))? {
        progress.say(&format!(
            "bucket {} exists (kept by an earlier teardown?): the pipeline will use it",
            settings.bucket
        ));
        return Ok(false);
    }
    Ok(true)
}

/// What deploy would do, without changing anything.
fn dry_run(
    aws: &Aws,
    settings: &PipelineSettings,
    artifacts: &StackSpec,
    code_key: &str,
    architecture: &str,
    args: &DeployArgs,
    progress: &Progress,
) -> Result<Exit> {
    let cfn = aws.cloudformation();
    let state = |name: &str| -> Result<String> {
        Ok(match aws.block_on(describe(&cfn, name))? {
            None => "would be created".to_owned(),
            Some(s) => format!(
                "exists ({}): would be updated if its template or parameters differ",
                s.stack_status().map(|s| s.as_str()).unwrap_or("?")
            ),
        })
    };
    #[derive(Serialize)]
    struct Plan {
        artifacts_stack: String,
        pipeline_stack: String,
        code_key: String,
        parameters: Vec<(String, String)>,
    }
    let plan = Plan {
        artifacts_stack: format!("{}: {}", artifacts.name, state(&artifacts.name)?),
        pipeline_stack: format!("{}: {}", settings.stack, state(&settings.stack)?),
        code_key: code_key.to_owned(),
        parameters: pipeline_parameters(
            settings,
            "<artifacts bucket>",
            code_key,
            architecture,
            create_raw_bucket(aws, settings, progress)?,
        )?,
    };
    eprintln!("dry run: nothing was changed");
    print(args.output, "plan", &plan)?;
    Ok(Exit::Ok)
}
