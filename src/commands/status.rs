//! `status`: the deployment and what its lake holds.

use anyhow::Result;
use serde::Serialize;

use super::deploy::Outputs;
use super::{Exit, Target};
use crate::aws::Aws;
use crate::aws::cloudformation::{describe, outputs};
use crate::aws::firehose::stream_status;
use crate::aws::lambda::function_info;
use crate::aws::pipeline::{Deployed, artifacts_stack, kept_buckets};
use crate::aws::s3::count_objects;
use crate::cli::StatusArgs;
use crate::local::LocalTarget;
use crate::output::print;
use crate::prefix::Prefix;
use crate::target::ObjectLake;

#[derive(Serialize)]
struct Status<'a> {
    #[serde(flatten)]
    outputs: Outputs<'a>,
    created: String,
    updated: String,
    processed_objects: usize,
    processed_bytes: u64,
    error_objects: usize,
    error_bytes: u64,
}

pub fn run(target: &Target, args: &StatusArgs) -> Result<Exit> {
    match target {
        Target::Local(local) => run_local(local, args),
        Target::Aws { aws, stack } => run_aws(aws, stack, args),
    }
}

/// Objects counted at most, per prefix.
const COUNT_LIMIT: usize = 10_000;

#[derive(Serialize)]
struct AwsStatus {
    stack: String,
    stack_status: String,
    artifacts_stack: String,
    artifacts_status: String,
    stream_status: String,
    function: Option<crate::aws::lambda::FunctionInfo>,
    processed_objects: String,
    error_objects: String,
    /// Raw buckets an earlier teardown kept (only looked for when the stack is not deployed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    kept_buckets: Vec<String>,
    outputs: std::collections::BTreeMap<String, String>,
}

fn run_aws(aws: &Aws, stack: &str, args: &StatusArgs) -> Result<Exit> {
    let cfn = aws.cloudformation();
    let artifacts = artifacts_stack(stack);
    let pipeline = aws.block_on(describe(&cfn, stack))?;
    let artifacts_state = aws.block_on(describe(&cfn, &artifacts))?;
    let state = |s: &Option<aws_sdk_cloudformation::types::Stack>| {
        s.as_ref().and_then(|s| s.stack_status()).map_or("not deployed".to_owned(), |s| s.as_str().to_owned())
    };
    let mut status = AwsStatus {
        stack: stack.to_owned(),
        stack_status: state(&pipeline),
        artifacts_stack: artifacts.clone(),
        artifacts_status: state(&artifacts_state),
        stream_status: "-".into(),
        function: None,
        processed_objects: "-".into(),
        error_objects: "-".into(),
        kept_buckets: vec![],
        outputs: Default::default(),
    };
    if pipeline.is_none() {
        let identity = aws.identity()?;
        status.kept_buckets = aws.block_on(kept_buckets(&aws.s3(), stack, &identity.account, &identity.region))?;
    }
    if let Some(stack) = &pipeline
        && let Ok(deployed) = Deployed::from_stack(stack)
    {
        status.outputs = outputs(stack).into_iter().collect();
        status.stream_status =
            aws.block_on(stream_status(&aws.firehose(), &deployed.stream))?.unwrap_or_else(|| "not found".into());
        status.function = aws.block_on(function_info(&aws.lambda(), &deployed.function))?;
        let s3 = aws.s3();
        let count = |text: &str, error: bool| -> Result<String> {
            let root = Prefix::parse(text, error)?.static_root().to_owned();
            let owner = deployed.account();
            let (n, more) = aws.block_on(count_objects(&s3, &deployed.bucket, owner.as_deref(), &root, COUNT_LIMIT))?;
            Ok(if more { format!("{n}+") } else { n.to_string() })
        };
        status.processed_objects = count(&deployed.prefix, false)?;
        status.error_objects = count(&deployed.error_prefix, true)?;
    }
    print(args.output, "pipeline", &status)?;
    Ok(Exit::Ok)
}

fn run_local(target: &LocalTarget, args: &StatusArgs) -> Result<Exit> {
    let Some(deployment) = target.load()? else {
        eprintln!("no local deployment in {} (run `reaqtions deploy --local`)", target.root().display());
        return Ok(Exit::Ok);
    };
    let lake = target.lake(&deployment.settings.bucket);
    let count = |text: &str, error: bool| -> Result<(usize, u64)> {
        let objects = lake.list(Prefix::parse(text, error)?.static_root())?;
        Ok((objects.len(), objects.iter().map(|o| o.size).sum()))
    };
    let (processed_objects, processed_bytes) = count(&deployment.settings.prefix, false)?;
    let (error_objects, error_bytes) = count(&deployment.settings.error_prefix, true)?;
    let status = Status {
        outputs: super::deploy::outputs(target, &deployment, "deployed"),
        created: deployment.created.to_rfc3339(),
        updated: deployment.updated.to_rfc3339(),
        processed_objects,
        processed_bytes,
        error_objects,
        error_bytes,
    };
    print(args.output, "local pipeline", &status)?;
    Ok(Exit::Ok)
}
