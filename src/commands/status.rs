//! `status`: the deployment and what its lake holds, in one shape on both targets: the shared names, the state,
//! the object counts, then what only that target has.

use anyhow::Result;
use serde::Serialize;

use super::{Exit, Named};
use crate::aws::Aws;
use crate::aws::cloudformation::{describe, outputs};
use crate::aws::cloudwatch::{Received, received};
use crate::aws::firehose::stream_facts;
use crate::aws::lambda::{FunctionInfo, function_info};
use crate::aws::s3::{Counted, count_objects};
use crate::aws::stack::{Deployed, artifacts_stack, kept_buckets};
use crate::cli::StatusArgs;
use crate::error::Kind;
use crate::local::LocalTarget;
use crate::output::print;
use crate::prefix::Prefix;
use crate::seams::ObjectLake;
use crate::settings::Partitioning;

/// Objects counted at most, per prefix on AWS (`counts_capped` says when a count stopped there).
const COUNT_LIMIT: usize = 10_000;

#[derive(Serialize)]
struct Status<T: Serialize> {
    /// `deployed` (local), the stack's status (AWS), or `not deployed`.
    status: String,
    #[serde(flatten)]
    named: Option<Named>,
    /// What the pipeline runs with, by the settings file's keys: read back from the deployment itself (the
    /// stack's parameters on AWS, the deployment record locally). The same object as `deploy` and its dry run
    /// print under `settings`.
    settings: Option<crate::settings::SettingsInput>,
    /// How the lake files readings, in words (the setting is `settings.partitioning`).
    layout: Option<&'static str>,
    processed_objects: Option<u64>,
    error_objects: Option<u64>,
    /// Bytes the lake holds under each prefix (lower bounds when `counts_capped`).
    processed_bytes: Option<u64>,
    error_bytes: Option<u64>,
    /// True when a listing stopped at 10,000 objects per prefix: the counts and bytes are then lower bounds.
    counts_capped: bool,
    /// When the deployment was made and last changed (RFC 3339).
    created: Option<String>,
    updated: Option<String>,
    #[serde(flatten)]
    details: T,
}

#[derive(Serialize)]
struct AwsDetails {
    artifacts_stack: String,
    artifacts_status: String,
    stream_status: Option<String>,
    /// From the stream itself: its version, layout (event when dynamic partitioning is on) and buffering as it
    /// runs (what the stack asked for is in `settings`; these say what Firehose reports).
    stream_version: Option<u32>,
    stream_partitioning: Option<Partitioning>,
    buffering: Option<crate::settings::Buffering>,
    processor_buffering: Option<crate::settings::ProcessorBuffering>,
    /// What the stream received over CloudWatch's retention (455 days), with billed bytes estimated.
    records_received: Option<u64>,
    bytes_received: Option<u64>,
    billed_bytes_received: Option<u64>,
    function_code: Option<FunctionInfo>,
    /// Raw buckets an earlier teardown kept (only looked for when the stack is not deployed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    kept_buckets: Vec<String>,
    outputs: std::collections::BTreeMap<String, String>,
    /// The dashboard's console link (null when turned off or not deployed).
    dashboard: Option<String>,
    /// Sections the caller's policy does not let it read (shown as such; the rest is shown).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    not_permitted: Vec<&'static str>,
}

/// A section's value; `None` when the caller may not read it (the section is listed as not permitted). Any other
/// failure, refused or expired credentials among them, stops status with its own message.
fn section<T>(denied: &mut Vec<&'static str>, name: &'static str, result: Result<T>) -> Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if crate::aws::is_denied(&e) => {
            tracing::info!("status: {name} not permitted: {e:#}");
            denied.push(name);
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Each section is read on its own: what the caller's policy allows is shown, what it does not is marked
/// "not permitted"; the command fails only when nothing at all could be read.
pub(crate) fn run_aws(aws: &Aws, stack: &str, args: &StatusArgs) -> Result<Exit> {
    let cfn = aws.cloudformation();
    let artifacts = artifacts_stack(stack);
    let mut denied = Vec::new();
    let pipeline = section(&mut denied, "stack", aws.block_on(describe(&cfn, stack)))?;
    let artifacts_state = section(&mut denied, "artifacts_stack", aws.block_on(describe(&cfn, &artifacts)))?;
    if pipeline.is_none() && artifacts_state.is_none() {
        anyhow::bail!(
            "the caller may read nothing of stack {stack}: it may not call cloudformation:DescribeStacks on {stack} \
             or {artifacts}; examples/iam/operator.json grants it"
        );
    }
    let state = |s: &Option<Option<aws_sdk_cloudformation::types::Stack>>| match s {
        None => "not permitted".to_owned(),
        Some(s) => {
            s.as_ref().and_then(|s| s.stack_status()).map_or("not deployed".to_owned(), |s| s.as_str().to_owned())
        }
    };
    let mut status = Status {
        status: state(&pipeline),
        named: None,
        settings: None,
        layout: None,
        processed_objects: None,
        error_objects: None,
        processed_bytes: None,
        error_bytes: None,
        counts_capped: false,
        created: None,
        updated: None,
        details: AwsDetails {
            artifacts_stack: artifacts.clone(),
            artifacts_status: state(&artifacts_state),
            stream_status: None,
            stream_version: None,
            stream_partitioning: None,
            buffering: None,
            processor_buffering: None,
            records_received: None,
            bytes_received: None,
            billed_bytes_received: None,
            function_code: None,
            kept_buckets: vec![],
            outputs: Default::default(),
            dashboard: None,
            not_permitted: vec![],
        },
    };
    // `None`: the caller may not describe the stack; `Some(None)`: it does not exist.
    match pipeline {
        Some(None) => {
            let identity = aws.identity()?;
            let kept = aws.block_on(kept_buckets(&aws.s3(), stack, &identity.account, &identity.region));
            status.details.kept_buckets = section(&mut denied, "kept_buckets", kept)?.unwrap_or_default();
        }
        None => {}
        Some(Some(stack)) => {
            if let Ok(deployed) = Deployed::from_stack(&stack) {
                let time = |t: Option<&aws_smithy_types::DateTime>| {
                    t.and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())).map(|t| t.to_rfc3339())
                };
                status.created = time(stack.creation_time());
                status.updated = time(stack.last_updated_time().or(stack.creation_time()));
                let settings = deployed.settings();
                status.named = Some(Named::of("aws", &settings));
                status.layout = Some(layout(settings.partitioning));
                status.settings = Some(settings.input());
                status.details.outputs = outputs(&stack).into_iter().collect();
                status.details.dashboard.clone_from(&deployed.dashboard);
                let stream = aws.block_on(stream_facts(&aws.firehose(), &deployed.stream));
                if let Some(facts) = section(&mut denied, "stream_status", stream)? {
                    let d = &mut status.details;
                    d.stream_status = Some(facts.as_ref().map_or_else(|| "not found".into(), |f| f.status.clone()));
                    d.stream_version = facts.as_ref().and_then(|f| f.version);
                    d.stream_partitioning = facts.as_ref().and_then(|f| f.partitioning);
                    d.buffering = facts.as_ref().and_then(|f| f.buffering);
                    d.processor_buffering = facts.as_ref().and_then(|f| f.processor_buffering);
                }
                // The metrics add to status; an endpoint without CloudWatch metrics leaves them out, said once.
                // Refused credentials stop status, as they do for every other section.
                let totals = aws.block_on(received(&aws.cloudwatch(), &deployed.stream, chrono::Utc::now()));
                let totals = match totals {
                    Err(e) if !crate::aws::is_denied(&e) && crate::error::kind(&e) != Some(Kind::Credentials) => {
                        crate::warning!("status: what the stream received is not available: {e:#}");
                        Ok(None)
                    }
                    other => other.map(Some),
                };
                if let Some(Received { records, bytes, billed_bytes }) =
                    section(&mut denied, "records_received", totals)?.flatten()
                {
                    status.details.records_received = Some(records);
                    status.details.bytes_received = Some(bytes);
                    status.details.billed_bytes_received = Some(billed_bytes);
                }
                let function = aws.block_on(function_info(&aws.lambda(), &deployed.function));
                status.details.function_code = section(&mut denied, "function_code", function)?.flatten();
                let s3 = aws.s3();
                let owner = deployed.account();
                let count = |text: &str, error: bool| -> Result<Counted> {
                    let root = Prefix::parse(text, error)?.static_root().to_owned();
                    aws.block_on(count_objects(&s3, &deployed.bucket, owner.as_deref(), &root, COUNT_LIMIT))
                };
                if let Some(processed) = section(&mut denied, "objects", count(&deployed.prefix, false))? {
                    let errors = count(&deployed.error_prefix, true)?;
                    status.processed_objects = Some(processed.objects as u64);
                    status.error_objects = Some(errors.objects as u64);
                    status.processed_bytes = Some(processed.bytes);
                    status.error_bytes = Some(errors.bytes);
                    status.counts_capped = processed.capped || errors.capped;
                }
            }
        }
    }
    if !denied.is_empty() {
        crate::warning!("status: not permitted for this caller: {} (the rest is shown)", denied.join(", "));
    }
    status.details.not_permitted = denied;
    print(args.shape.format, "pipeline", &with_stack(status, stack))?;
    Ok(Exit::Ok)
}

/// The layout in words, as status shows it on both targets.
fn layout(partitioning: Partitioning) -> &'static str {
    match partitioning {
        Partitioning::Event => "event: each reading under the hour it was measured (keys from the transform)",
        Partitioning::Arrival => "arrival: each reading under the hour the stream received it",
    }
}

/// Adds `stack` (and `target`) when no names could be read, so every status names its stack.
fn with_stack<T: Serialize>(status: Status<T>, stack: &str) -> serde_json::Value {
    let mut value = serde_json::to_value(&status).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.entry("stack").or_insert_with(|| stack.into());
        map.entry("target").or_insert_with(|| "aws".into());
    }
    value
}

#[derive(Serialize)]
struct LocalDetails {
    data_dir: String,
    stream_version: u32,
    bucket_path: String,
    transform: String,
    /// Kept for one release beside `settings` (scripts read them): the `settings.*buffer*` keys say the same.
    buffering: crate::settings::Buffering,
    processor_buffering: crate::settings::ProcessorBuffering,
    /// What the local delivery stream received over every run, and what Firehose would bill for it.
    records_received: u64,
    bytes_received: u64,
    billed_bytes_received: u64,
}

pub(crate) fn run_local(target: &LocalTarget, args: &StatusArgs) -> Result<Exit> {
    let Some(deployment) = target.load()? else {
        crate::say!("{}", target.not_deployed(true));
        // Which stacks there are instead, for scripts as for people.
        let status = serde_json::json!({
            "status": "not deployed",
            "target": "local",
            "stack": target.stack(),
            "deployed_stacks": target.stacks()?,
        });
        print(args.shape.format, "local pipeline", &status)?;
        return Ok(Exit::Ok);
    };
    let lake = target.lake(&deployment.settings.bucket);
    let count = |text: &str, error: bool| -> Result<(u64, u64)> {
        let objects = lake.list(Prefix::parse(text, error)?.static_root())?;
        Ok((objects.len() as u64, objects.iter().map(|o| o.size).sum()))
    };
    let (processed_objects, processed_bytes) = count(&deployment.settings.prefix, false)?;
    let (error_objects, error_bytes) = count(&deployment.settings.error_prefix, true)?;
    let o = super::deploy::outputs(target, &deployment, "deployed");
    let received = crate::local::stream::StreamStats::load(&target.stream_totals_path());
    let status = Status {
        status: "deployed".to_owned(),
        named: Some(o.named),
        settings: Some(deployment.settings.input()),
        layout: Some(layout(deployment.settings.partitioning)),
        processed_objects: Some(processed_objects),
        error_objects: Some(error_objects),
        processed_bytes: Some(processed_bytes),
        error_bytes: Some(error_bytes),
        counts_capped: false,
        created: Some(deployment.created.to_rfc3339()),
        updated: Some(deployment.updated.to_rfc3339()),
        details: LocalDetails {
            data_dir: o.data_dir,
            stream_version: o.stream_version,
            bucket_path: o.bucket_path,
            transform: o.transform,
            buffering: o.buffering,
            processor_buffering: o.processor_buffering,
            records_received: received.records_in,
            bytes_received: received.bytes_in,
            billed_bytes_received: received.billed_bytes_in,
        },
    };
    print(args.shape.format, "local pipeline", &status)?;
    Ok(Exit::Ok)
}
