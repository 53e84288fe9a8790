//! `deploy` on AWS, in the order that keeps a first deploy right, every failure recoverable and every quick
//! failure quick: settings, Firehose's rules, a given zip (read, its architecture checked) and the checkout to
//! build from when none was given, all before any AWS call; the region and credentials (STS), then the caller's
//! permissions, checked before anything is built or created; the deployed layout read from the stack and its
//! stream, and kept; both buckets' names checked, and the raw bucket's use decided from what exists now; a dry run
//! stops there and builds nothing (it names the checkout it would build from); the Lambda built when no zip was
//! given (after every read-only check, before the first change) and its architecture checked; the raw bucket's
//! prefix claimed for the layout (an existing bucket before any change, a new one once the stack made it); the
//! artifacts stack, the zip (checksummed), the pipeline stack; old zips pruned; the function smoke-tested.

use std::cell::Cell;

use anyhow::{Context as _, Result, bail};
use reaqtions_lambda::package::LambdaZip;
use serde::Serialize;

use super::build::{Checkout, LambdaSource, lambda_source};
use super::{BucketNamer, SettingsPlan, print_plan, resolve_settings};
use crate::aws::cloudformation::{StackChange, StackSpec, deploy_stack, describe, output};
use crate::aws::firehose::stream_facts;
use crate::aws::iam::{
    DEPLOYER_POLICY, PolicyNames, Preflight, checks, describe_missing, fill, preflight, principal_of,
};
use crate::aws::lambda::{Smoke, smoke_test};
use crate::aws::s3::{S3Lake, artifacts_bucket_exists, inspect_reused_bucket, prune_objects, upload_unless_present};
use crate::aws::stack::{
    ARTIFACTS_TEMPLATE, Deployed, PIPELINE_TEMPLATE, RawBucket, artifacts_bucket, artifacts_stack, firehose_rules,
    pipeline_parameters, raw_bucket,
};
use crate::aws::{Aws, Caller};
use crate::cli::DeployArgs;
use crate::commands::{Exit, Named};
use crate::output::print;
use crate::progress::Progress;
use crate::settings::{DEFAULT_STACK, Partitioning, PipelineSettings, STAND_IN_ACCOUNT, SettingsInput, default_bucket};

/// What a dry run that would build shows for the zip's key and transform, which only the build can tell.
const KNOWN_AFTER_THE_BUILD: &str = "<known after the build>";

/// Zips kept in the artifacts bucket besides the deployed one (to roll back to by hand).
const KEEP_ZIPS: usize = 2;

/// The shared names and the settings under the same keys as on the local target, then what only AWS has.
#[derive(Serialize)]
struct AwsOutputs<'a> {
    change: &'a str,
    #[serde(flatten)]
    named: Named,
    /// What the stack runs with, read back from its parameters, by the settings file's keys (as `status` shows).
    settings: SettingsInput,
    artifacts_stack: String,
    artifacts_change: &'a str,
    raw_bucket: &'a str,
    code_key: String,
    code_uploaded: bool,
    old_zips_deleted: usize,
    permission_check: String,
    smoke_test: String,
    stream_arn: String,
    function_arn: String,
    delivery_log_group: String,
    code_stored_as: String,
    /// The stream's version id as Firehose reports it (null where the stream cannot be described).
    stream_version: Option<u32>,
    /// Kept for one release beside `settings` (scripts read them): the `settings.*buffer*` keys say the same.
    buffering: crate::settings::Buffering,
    processor_buffering: crate::settings::ProcessorBuffering,
    /// The dashboard's console link and the alarms' topic (null when turned off).
    dashboard: Option<String>,
    alarm_topic: Option<String>,
}

fn said(change: StackChange) -> &'static str {
    match change {
        StackChange::Created => "created",
        StackChange::Recreated => "re-created (was ROLLBACK_COMPLETE or REVIEW_IN_PROGRESS)",
        StackChange::Updated => "updated",
        StackChange::UpToDate => "up to date",
    }
}

/// A zip as the progress lines name it.
fn zip_said(zip: &LambdaZip) -> String {
    format!("{} bytes, {}, sha256 {}", zip.bytes.len(), zip.architecture.unwrap_or("?"), zip.sha256)
}

fn bucket_said(plan: RawBucket) -> &'static str {
    match plan {
        RawBucket::OwnedByStack => "managed by the stack",
        RawBucket::Create => "created by the stack",
        RawBucket::Reuse => "reused (not managed by the stack)",
    }
}

pub(crate) fn run(aws: &Aws, stack: Option<String>, args: &DeployArgs) -> Result<Exit> {
    let progress = &Progress::new("deploy", 0);
    // Everything the user gave is checked before the first AWS call; the default bucket name's length with a
    // stand-in account id of the same length.
    let region = aws.region();
    let defaulted = Cell::new(false);
    let namer = |stack: &str| {
        defaulted.set(true);
        default_bucket(stack, STAND_IN_ACCOUNT, &region)
    };
    let mut given = checked_before_aws(args, stack.clone(), &namer, &region)?;
    super::say_stack_from_file(stack.as_deref(), &given.stack);
    // A given zip is read and checked now; a build waits until AWS has answered (it takes tens of seconds).
    let source = lambda_source(args.lambda_zip.as_deref(), &given.architecture)?;

    let identity = aws.identity()?;
    if defaulted.get() {
        given.bucket = default_bucket(&given.stack, &identity.account, &identity.region)?;
    }
    let owner = Some(identity.account.as_str());
    let code = match &source {
        LambdaSource::Given(zip) => format!("the given Lambda zip, {}", zip_said(zip)),
        LambdaSource::Build(checkout) => {
            format!("the Lambda to build for {} from {}", checkout.architecture, checkout.root.display())
        }
    };
    progress.say(&format!("deploying {} to account {} in {} ({code})", given.stack, identity.account, identity.region));
    // The names the permissions are checked for (stack, bucket) do not depend on the layout.
    let permission_check = if args.no_preflight {
        "skipped (--no-preflight)".to_owned()
    } else {
        check_permissions(aws, &identity, &given)?
    };
    progress.say(&format!("permissions: {permission_check}"));

    let cfn = aws.cloudformation();
    // A deployed stream keeps its layout: asking for the other is refused here, before anything changes.
    let deployed = deployed_settings(aws, &cfn, &given.stack)?;
    let mut settings = resolve_settings(args, stack, Some(&namer), deployed.as_ref())?;
    settings.bucket.clone_from(&given.bucket);
    firehose_preflight(&settings, &region)?;

    let s3 = aws.s3();
    // Both predictable bucket names are checked before anything is created, as another account may hold either:
    // the artifacts bucket's here, the raw bucket's where the stack's use of it is decided.
    let artifacts_name = artifacts_bucket(&settings.stack, &identity.account, &identity.region)?;
    aws.block_on(artifacts_bucket_exists(&s3, &artifacts_name, &identity.account))?;
    let bucket_plan = aws.block_on(raw_bucket(&cfn, &s3, &settings.stack, &settings.bucket, owner))?;
    let artifacts = StackSpec {
        name: artifacts_stack(&settings.stack),
        template: ARTIFACTS_TEMPLATE.to_owned(),
        parameters: vec![("BucketName".to_owned(), artifacts_name)],
    };
    let lake = S3Lake::new(s3.clone(), &settings.bucket, Some(identity.account.clone()), aws.handle());
    let zip = match source {
        _ if args.dry_run.on => {
            let plan = SettingsPlan::between(deployed.as_ref(), &settings)?;
            return dry_run(aws, &settings, plan, &artifacts, &source, bucket_plan, &lake, args);
        }
        LambdaSource::Given(zip) => zip,
        // Built after every read-only check and before the first change: a failed build leaves AWS as it was.
        LambdaSource::Build(checkout) => {
            let zip = checkout.build()?;
            progress.say(&format!("built the Lambda: {}", zip_said(&zip)));
            zip
        }
    };
    let code_key = zip.artifact_key();
    // One prefix never holds both layouts: a bucket that exists is claimed before anything changes.
    if bucket_plan != RawBucket::Create {
        crate::layout::claim(&lake, &settings)?;
    }
    if bucket_plan == RawBucket::Reuse {
        report_reused_bucket(aws, &settings.bucket, owner, progress);
        if settings.lifecycle.is_set() {
            progress.say(&format!(
                "lifecycle settings not applied: bucket {} is not this stack's (reused or kept), and deploy changes \
                 none of its settings; set its lifecycle rules yourself",
                settings.bucket
            ));
        }
    } else if settings.lifecycle.cold_after_days.is_some() {
        let ratio = crate::simulate::device::sample_ratio(settings.compression);
        let largest = (f64::from(settings.buffering.size_mib) * 1048576.0 / ratio) as u64;
        for warning in settings.lifecycle.warnings(largest) {
            progress.say(&format!("lifecycle: {warning}"));
        }
    }

    let mut on_event = |line: &str| progress.say(&format!("  {line}"));
    let artifacts_change = aws.block_on(deploy_stack(&cfn, &artifacts, &mut on_event))?;
    let artifacts_stack = aws.block_on(describe(&cfn, &artifacts.name))?.context("the artifacts stack vanished")?;
    let artifacts_bucket = output(&artifacts_stack, "ArtifactsBucket")?;
    let uploaded =
        aws.block_on(upload_unless_present(&s3, &artifacts_bucket, owner, &code_key, zip.bytes.clone(), &zip.sha256))?;
    if uploaded {
        progress.say(&format!("uploaded s3://{artifacts_bucket}/{code_key} (SHA-256 checked by S3)"));
    }
    let pipeline = StackSpec {
        name: settings.stack.clone(),
        template: PIPELINE_TEMPLATE.to_owned(),
        parameters: pipeline_parameters(
            &settings,
            &artifacts_bucket,
            &code_key,
            bucket_plan,
            &identity.region,
            zip.transform_id.as_deref(),
        )?,
    };
    let pipeline_change = aws.block_on(deploy_stack(&cfn, &pipeline, &mut on_event))?;
    if bucket_plan == RawBucket::Create {
        crate::layout::claim(&lake, &settings)?;
    }
    let stack = aws.block_on(describe(&cfn, &settings.stack))?.context("the pipeline stack vanished")?;
    let deployed = Deployed::from_stack(&stack)?;
    // Only zips no stack can roll back to: the deployed one and the newest others stay.
    let pruned = aws.block_on(prune_objects(&s3, &artifacts_bucket, owner, "lambda/", &code_key, KEEP_ZIPS))?;
    if pruned > 0 {
        progress
            .say(&format!("deleted {} from {artifacts_bucket}", crate::output::count(pruned as u64, "old Lambda zip")));
    }
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
    // The version id the local target prints too; a stream that cannot be described leaves it out.
    let stream_version = match aws.block_on(stream_facts(&aws.firehose(), &deployed.stream)) {
        Ok(facts) => facts.and_then(|f| f.version),
        Err(e) => {
            tracing::info!("deploy: the stream's version is not available: {e:#}");
            None
        }
    };
    progress.finish();
    crate::say!("pipeline {}: {}", settings.stack, said(pipeline_change));
    if let Some(url) = &deployed.dashboard {
        crate::say!("dashboard: {url}");
    }
    if let (Some(email), Some(_)) = (&settings.monitoring.alarm_email, &deployed.alarm_topic) {
        crate::say!(
            "alarms mail {email} once it confirms the subscription AWS mailed it (unconfirmed, it gets nothing)"
        );
    }
    let running = deployed.settings();
    print(
        args.shape.format,
        "pipeline",
        &AwsOutputs {
            change: said(pipeline_change),
            named: Named::of("aws", &running),
            settings: running.input(),
            artifacts_stack: artifacts.name.clone(),
            artifacts_change: said(artifacts_change),
            raw_bucket: bucket_said(bucket_plan),
            code_key,
            code_uploaded: uploaded,
            old_zips_deleted: pruned,
            permission_check,
            smoke_test: smoke,
            stream_arn: deployed.stream_arn,
            function_arn: deployed.function_arn,
            delivery_log_group: deployed.delivery_log_group,
            code_stored_as: format!("s3://{artifacts_bucket}/{}", deployed.code_key),
            stream_version,
            buffering: settings.buffering,
            processor_buffering: settings.processor,
            dashboard: deployed.dashboard.clone(),
            alarm_topic: deployed.alarm_topic.clone(),
        },
    )?;
    Ok(Exit::Ok)
}

/// The settings as given, checked before any AWS call with the tables' partitions and Firehose's rules. A deploy
/// that names no layout keeps the deployed one, which only the stack can tell: settings that only the arrival
/// layout allows (buffering under Firehose's minimums for dynamic partitioning) pass here as arrival's, and are
/// checked again once the stack is read (a new pipeline, which defaults to event, is then refused).
fn checked_before_aws(
    args: &DeployArgs,
    stack: Option<String>,
    namer: BucketNamer,
    region: &str,
) -> Result<PipelineSettings> {
    let check = |deployed: Option<&PipelineSettings>| -> Result<PipelineSettings> {
        let settings = resolve_settings(args, stack.clone(), Some(namer), deployed)?;
        firehose_preflight(&settings, region)?;
        Ok(settings)
    };
    let refused = match check(None) {
        Ok(settings) => return Ok(settings),
        Err(refused) => refused,
    };
    let input = SettingsInput { stack: stack.clone(), ..args.settings.clone() }.with_file(args.config.as_deref())?;
    if input.partitioning.is_some() {
        return Err(refused);
    }
    let mut arrival = PipelineSettings::defaults();
    arrival.stack = input.stack.unwrap_or_else(|| DEFAULT_STACK.to_owned());
    arrival.partitioning = Partitioning::Arrival;
    check(Some(&arrival)).map_err(|_| refused)
}

/// The stack's parameters as deploy renders them, checked against the tables' projection and Firehose's rules.
fn firehose_preflight(settings: &PipelineSettings, region: &str) -> Result<()> {
    let parameters =
        pipeline_parameters(settings, "<artifacts bucket>", "lambda/<sha256>.zip", RawBucket::Create, region, None)?;
    firehose_rules(PIPELINE_TEMPLATE, &parameters)
}

/// The pipeline deployed under `stack`, whose layout this deploy keeps: the settings of its stack's parameters (a
/// stack without a `Partitioning` parameter files by arrival), with the layout its stream itself reports when the
/// two disagree (the stream's is what Firehose never changes). `None` without such a stack, or for one without
/// outputs (a first create that failed: its stream never existed).
fn deployed_settings(aws: &Aws, cfn: &aws_sdk_cloudformation::Client, stack: &str) -> Result<Option<PipelineSettings>> {
    let Some(found) = aws.block_on(describe(cfn, stack))? else { return Ok(None) };
    let Ok(deployed) = Deployed::from_stack(&found) else { return Ok(None) };
    let mut settings = deployed.settings();
    let facts = aws.block_on(stream_facts(&aws.firehose(), &deployed.stream))?;
    if let Some(layout) = facts.and_then(|f| f.partitioning)
        && layout != settings.partitioning
    {
        crate::warning!(
            "stack {stack}'s Partitioning parameter says {}, but its delivery stream {} files by {}: the stream's \
             layout is kept",
            settings.partitioning.name(),
            deployed.stream,
            layout.name()
        );
        settings.partitioning = layout;
    }
    Ok(Some(settings))
}

/// Simulates the caller against the deployer policy. Missing permissions stop deploy (all listed at once), and
/// so does a check that fails for its credentials or its endpoint; one the caller may not run, IAM kept
/// throttling or the endpoint lacks is said in one line and deploy goes on.
fn check_permissions(aws: &Aws, identity: &Caller, settings: &PipelineSettings) -> Result<String> {
    let principal = match principal_of(&identity.arn) {
        Ok(principal) => principal,
        Err(why) => return Ok(format!("not checked: {why}")),
    };
    let glue_database = crate::aws::stack::catalog_names(&settings.stack).0;
    let names = PolicyNames {
        partition: identity.partition(),
        region: &identity.region,
        account: &identity.account,
        stack: &settings.stack,
        raw_bucket: &settings.bucket,
        glue_database: &glue_database,
    };
    let checks = checks(&fill(DEPLOYER_POLICY, &names), &settings.stack)?;
    match aws.block_on(preflight(&aws.iam(), &principal, &checks))? {
        Preflight::Allowed(n) => Ok(format!("{principal} may do all deploy needs ({n} action/resource pairs)")),
        Preflight::Skipped(why) => Ok(format!("not checked: {why}")),
        Preflight::Missing(missing) => bail!("{}", describe_missing(&principal, &missing)),
    }
}

/// A bucket the stack does not manage is used as it is: what it lacks is said, and nothing is changed.
fn report_reused_bucket(aws: &Aws, bucket: &str, owner: Option<&str>, progress: &Progress) {
    progress.say(&format!(
        "bucket {bucket} exists (kept by an earlier teardown, or given with --bucket): the pipeline writes to it \
         and changes none of its settings"
    ));
    for finding in aws.block_on(inspect_reused_bucket(&aws.s3(), bucket, owner)) {
        if finding.ok {
            progress.say(&format!("  bucket {bucket}: {}", finding.text));
        } else {
            progress.say(&format!("  warning: bucket {bucket}: {}", finding.text));
        }
    }
}

/// What deploy would do, without changing anything and without building: with no zip given, the checkout it
/// would build from stands where the zip's key and transform would be; `plan` names each setting that would
/// change against the stack's parameters.
#[allow(clippy::too_many_arguments)]
fn dry_run(
    aws: &Aws,
    settings: &PipelineSettings,
    plan: SettingsPlan,
    artifacts: &StackSpec,
    source: &LambdaSource,
    bucket_plan: RawBucket,
    lake: &S3Lake,
    args: &DeployArgs,
) -> Result<Exit> {
    let (code_key, transform_id, would_build) = match source {
        LambdaSource::Given(zip) => (Some(zip.artifact_key()), zip.transform_id.as_deref(), None),
        LambdaSource::Build(checkout) => (None, Some(KNOWN_AFTER_THE_BUILD), Some(checkout)),
    };
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
    struct Plan<'a> {
        artifacts_stack: String,
        pipeline_stack: String,
        raw_bucket: String,
        /// What the bucket's prefix already holds, and whether deploy would file this layout there.
        lake_layout: String,
        /// The zip's S3 key; null when it would be built (its key is its checksum).
        code_key: Option<String>,
        /// The checkout and architecture the Lambda would be built from; null when a zip was given.
        would_build: Option<&'a Checkout>,
        /// The stack's parameters as deploy would render them (JSON only: the settings say the same).
        parameters: Vec<(String, String)>,
        #[serde(flatten)]
        settings: SettingsPlan,
    }
    let root = crate::settings::prefix_root(&settings.prefix);
    let wanted = settings.partitioning.name();
    let lake_layout = match bucket_plan {
        RawBucket::Create => format!("a new bucket: {wanted} would be recorded under {root}"),
        _ => match crate::layout::found(lake, settings)? {
            None => format!("{root} is empty: {wanted} would be recorded there"),
            Some((held, recorded)) if held == settings.partitioning => {
                let how = if recorded { "recorded" } else { "objects without a record: it would be recorded" };
                format!("{root} holds {wanted} ({how})")
            }
            Some((held, _)) => format!("{root} holds {}: deploy would refuse to file {wanted} there", held.name()),
        },
    };
    let plan = Plan {
        artifacts_stack: format!("{}: {}", artifacts.name, state(&artifacts.name)?),
        pipeline_stack: format!("{}: {}", settings.stack, state(&settings.stack)?),
        raw_bucket: format!("{}: {}", settings.bucket, bucket_said(bucket_plan)),
        lake_layout,
        parameters: pipeline_parameters(
            settings,
            "<artifacts bucket>",
            code_key.as_deref().unwrap_or(KNOWN_AFTER_THE_BUILD),
            bucket_plan,
            &aws.region(),
            transform_id,
        )?,
        code_key,
        would_build,
        settings: plan,
    };
    let would = format!("pipeline {} would {}", settings.stack, plan.settings.said());
    match would_build {
        Some(checkout) => {
            crate::say!("dry run: {would}; nothing was changed; {} (no --lambda-zip given)", checkout.plan());
        }
        None => crate::say!("dry run: {would}; nothing was changed"),
    }
    print_plan(args.shape.format, "plan", &plan, &plan.settings, &["parameters"])?;
    Ok(Exit::Ok)
}
