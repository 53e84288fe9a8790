//! `teardown`: removes the pipeline; the data stays unless `--delete-data`, which also finds and deletes a raw
//! bucket an earlier teardown kept. Asks unless `--yes`. A second teardown says there is nothing to remove.

use anyhow::Result;

use super::{Exit, confirm};
use crate::aws::Aws;
use crate::aws::cloudformation::{delete_stack, describe, output};
use crate::aws::s3::{bucket_exists, delete_bucket, empty_bucket};
use crate::aws::stack::{artifacts_stack, kept_buckets, stack_bucket};
use crate::cli::TeardownArgs;
use crate::local::LocalTarget;
use crate::output::line;
use crate::progress::Progress;

/// Whether to go ahead with `what`: a dry run names it on stdout and changes nothing (false); otherwise it is
/// asked unless --yes.
fn go_ahead(args: &TeardownArgs, what: &str) -> Result<bool> {
    if args.dry_run {
        line(&format!("would {what}"))?;
        crate::say!("dry run: nothing was changed");
        return Ok(false);
    }
    if !args.yes {
        confirm(&format!("{what}?"), "teardown cancelled")?;
    }
    Ok(true)
}

pub(crate) fn run_local(target: &LocalTarget, args: &TeardownArgs) -> Result<Exit> {
    let Some(deployment) = target.load()? else {
        crate::say!("nothing to remove: {}", target.not_deployed(false));
        return Ok(Exit::Ok);
    };
    let bucket = &deployment.settings.bucket;
    let what = if args.delete_data {
        format!("remove local pipeline {} and DELETE bucket {bucket} with all its data", deployment.settings.stack)
    } else {
        format!("remove local pipeline {} (bucket {bucket} and its data are kept)", deployment.settings.stack)
    };
    if !go_ahead(args, &what)? {
        return Ok(Exit::Ok);
    }
    target.teardown(args.delete_data)?;
    if args.delete_data {
        line(&format!(
            "removed local pipeline {}; deleted bucket {bucket} and its log group {}",
            deployment.settings.stack, deployment.settings.log_group
        ))?;
    } else {
        line(&format!(
            "removed local pipeline {}; kept bucket {bucket} at {}",
            deployment.settings.stack,
            target.lake(bucket).root().display()
        ))?;
    }
    Ok(Exit::Ok)
}

pub(crate) fn run_aws(
    aws: &Aws,
    stack: &str,
    args: &TeardownArgs,
    devices_dir: &std::path::Path,
    quiet: bool,
) -> Result<Exit> {
    let cfn = aws.cloudformation();
    let s3 = aws.s3();
    // The account: for the default bucket name, and as the expected owner of every bucket touched.
    let identity = aws.identity()?;
    let owner = Some(identity.account.as_str());
    let artifacts = artifacts_stack(stack);
    let pipeline = aws.block_on(describe(&cfn, stack))?;
    let artifacts_state = aws.block_on(describe(&cfn, &artifacts))?;
    if pipeline.is_none() && artifacts_state.is_none() {
        return remove_kept_data(aws, stack, &identity.account, args, quiet);
    }
    let raw_bucket = pipeline.as_ref().and_then(stack_bucket);
    // The stack's devices go first: their certificates hold its device policy, which CloudFormation cannot
    // delete while it is attached.
    let devices =
        if pipeline.is_some() { aws.block_on(crate::aws::iot::device_ids(&aws.iot(), stack))? } else { Vec::new() };
    let with_devices = if devices.is_empty() {
        String::new()
    } else {
        format!(", remove its {} from IoT Core", crate::output::count(devices.len() as u64, "device"))
    };
    let what = match (&raw_bucket, args.delete_data) {
        (Some(b), true) => format!("delete stacks {stack} and {artifacts}, and DELETE bucket {b} with all its data"),
        (Some(b), false) => format!("delete stacks {stack} and {artifacts} (bucket {b} and its data are kept)"),
        (None, _) => format!("delete stack {artifacts}"),
    };
    if !go_ahead(args, &format!("{what}{with_devices} in {}", aws.region()))? {
        return Ok(Exit::Ok);
    }
    if !devices.is_empty() {
        super::devices::remove(aws, devices_dir, &devices, quiet)?;
        crate::say!("removed {} of stack {stack}", crate::output::count(devices.len() as u64, "device"));
    }
    if pipeline.is_some() {
        let policy = crate::aws::iot::device_policy_name(stack);
        if aws.block_on(crate::aws::iot::delete_policy(&aws.iot(), &policy))? {
            crate::say!("deleted IoT policy {policy}");
        }
    }
    let progress = Progress::new("teardown", 0, quiet);
    let mut on_event = |line: &str| progress.say(&format!("  {line}"));
    if pipeline.is_some() {
        progress.say(&format!("deleting stack {stack}"));
        aws.block_on(delete_stack(&cfn, stack, &mut on_event))?;
    }
    if let Some(artifacts_state) = artifacts_state {
        if let Ok(bucket) = output(&artifacts_state, "ArtifactsBucket")
            && aws.block_on(bucket_exists(&s3, &bucket, owner))?
        {
            let n = aws.block_on(empty_bucket(&s3, &bucket, owner, &mut |n| {
                progress.say(&format!("  emptied {} from {bucket}", versions(n)))
            }))?;
            progress.say(&format!("emptied artifacts bucket {bucket} ({})", versions(n)));
        }
        progress.say(&format!("deleting stack {artifacts}"));
        aws.block_on(delete_stack(&cfn, &artifacts, &mut on_event))?;
    }
    match (raw_bucket, args.delete_data) {
        (Some(bucket), true) => {
            if aws.block_on(bucket_exists(&s3, &bucket, owner))? {
                let n = delete_with_data(aws, &bucket, owner, &progress)?;
                line(&format!("removed stacks {stack} and {artifacts}; deleted bucket {bucket} ({})", versions(n)))?;
            } else {
                line(&format!("removed stacks {stack} and {artifacts}; bucket {bucket} was already gone"))?;
            }
        }
        (Some(bucket), false) if aws.block_on(bucket_exists(&s3, &bucket, owner))? => line(&format!(
            "removed stacks {stack} and {artifacts}; kept bucket {bucket} and its data (`teardown --delete-data` \
             deletes it later)"
        ))?,
        // An endpoint that does not honour the bucket's deletion policy (an emulator) deleted it with the stack.
        (Some(bucket), false) => {
            line(&format!("removed stacks {stack} and {artifacts}; bucket {bucket} went with the stack"))?
        }
        (None, _) => line(&format!("removed stack {artifacts}"))?,
    }
    Ok(Exit::Ok)
}

/// No stack left: a raw bucket an earlier teardown kept is all there may be. It is named, and deleted only
/// with `--delete-data` after confirmation.
fn remove_kept_data(aws: &Aws, stack: &str, account: &str, args: &TeardownArgs, quiet: bool) -> Result<Exit> {
    let region = aws.region();
    let kept = aws.block_on(kept_buckets(&aws.s3(), stack, account, &region))?;
    if kept.is_empty() {
        crate::say!("nothing to remove: no stack {stack} or {} and no kept bucket in {region}", artifacts_stack(stack));
        return Ok(Exit::Ok);
    }
    let names = kept.join(", ");
    if !args.delete_data {
        crate::say!(
            "nothing to remove: no stack {stack} in {region}; bucket {names} kept by an earlier teardown holds the \
             data (`teardown --delete-data` deletes it)"
        );
        return Ok(Exit::Ok);
    }
    if !go_ahead(args, &format!("DELETE bucket {names} (kept by an earlier teardown) with all its data"))? {
        return Ok(Exit::Ok);
    }
    let progress = Progress::new("teardown", 0, quiet);
    for bucket in &kept {
        let n = delete_with_data(aws, bucket, Some(account), &progress)?;
        line(&format!("deleted bucket {bucket} kept by an earlier teardown ({})", versions(n)))?;
    }
    Ok(Exit::Ok)
}

/// Empties the bucket (every version and delete marker) and deletes it; returns the versions deleted.
fn delete_with_data(aws: &Aws, bucket: &str, owner: Option<&str>, progress: &Progress) -> Result<u64> {
    let s3 = aws.s3();
    let n = aws.block_on(empty_bucket(&s3, bucket, owner, &mut |n| {
        progress.say(&format!("  deleted {} from {bucket}", versions(n)))
    }))?;
    aws.block_on(delete_bucket(&s3, bucket, owner))?;
    Ok(n)
}

fn versions(n: u64) -> String {
    crate::output::count(n, "object version")
}
