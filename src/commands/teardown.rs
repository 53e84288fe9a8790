//! `teardown`: removes the pipeline; the data stays unless `--delete-data`, which also finds and deletes a raw
//! bucket an earlier teardown kept. Asks unless `--yes`. A second teardown says there is nothing to remove. What
//! it did (or, with `--dry-run`, would do) is one result, a table or with `--format json` one object.

use anyhow::Result;
use serde::Serialize;

use super::{Exit, confirm};
use crate::aws::Aws;
use crate::aws::cloudformation::{delete_stack, describe, output};
use crate::aws::s3::{bucket_exists, delete_bucket, empty_bucket};
use crate::aws::stack::{artifacts_stack, kept_buckets, stack_bucket};
use crate::cli::TeardownArgs;
use crate::local::LocalTarget;
use crate::output::{OutputFormat, print};
use crate::progress::Progress;

/// What a teardown removed and kept, or with `--dry-run` would: the sentence people read and the same facts for
/// scripts.
#[derive(Debug, Serialize)]
struct Outcome {
    /// What was (or would be) removed and kept, in one sentence.
    summary: String,
    stack: String,
    /// The stacks removed (on the local target, the local pipeline's); none when there was nothing to remove.
    stacks_removed: Vec<String>,
    /// The lake's bucket, or the buckets an earlier teardown kept.
    buckets: Vec<String>,
    /// What became of the buckets' data.
    data: Option<Data>,
    /// Object versions deleted with the data (AWS).
    versions_deleted: Option<u64>,
    dry_run: bool,
    /// Nothing was removed nor would be: the summary is a note for people, a result only for scripts.
    #[serde(skip)]
    nothing_to_remove: bool,
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
enum Data {
    Deleted,
    Kept,
    /// Not there any more: deleted earlier, or with the stack by an endpoint that ignores its deletion policy.
    Gone,
}

impl Outcome {
    /// No stack removed: what became of `buckets` alone.
    fn buckets_only(stack: &str, summary: String, buckets: Vec<String>, data: Option<Data>) -> Outcome {
        Outcome {
            summary,
            stack: stack.to_owned(),
            stacks_removed: Vec::new(),
            buckets,
            data,
            versions_deleted: None,
            dry_run: false,
            nothing_to_remove: false,
        }
    }

    /// Nothing (more) to remove: said on stderr as a note, and printed as a result for scripts (`--format json`).
    fn nothing(stack: &str, summary: String, buckets: Vec<String>, data: Option<Data>) -> Outcome {
        Outcome { nothing_to_remove: true, ..Outcome::buckets_only(stack, summary, buckets, data) }
    }

    fn print(&self, args: &TeardownArgs) -> Result<Exit> {
        if self.nothing_to_remove {
            crate::say!("{}", self.summary);
            if args.shape.format == OutputFormat::Table {
                return Ok(Exit::Ok);
            }
        }
        print(args.shape.format, "teardown", self)?;
        if self.dry_run {
            crate::say!("dry run: nothing was changed");
        }
        Ok(Exit::Ok)
    }
}

/// Whether to go ahead with `what`: not on a dry run (the caller prints what it would do); otherwise it is asked
/// unless --yes.
fn go_ahead(args: &TeardownArgs, what: &str) -> Result<bool> {
    if args.dry_run.on {
        return Ok(false);
    }
    if !args.confirm.yes {
        confirm(&format!("{what}?"), "teardown cancelled")?;
    }
    Ok(true)
}

pub(crate) fn run_local(target: &LocalTarget, args: &TeardownArgs) -> Result<Exit> {
    let Some(deployment) = target.load()? else {
        let summary = format!("nothing to remove: {}", target.not_deployed(false));
        return Outcome::nothing(target.stack(), summary, Vec::new(), None).print(args);
    };
    let (stack, bucket) = (&deployment.settings.stack, &deployment.settings.bucket);
    let data = if args.delete_data { Data::Deleted } else { Data::Kept };
    let outcome = |summary: String| Outcome {
        summary,
        stack: stack.clone(),
        stacks_removed: vec![stack.clone()],
        buckets: vec![bucket.clone()],
        data: Some(data),
        versions_deleted: None,
        dry_run: args.dry_run.on,
        nothing_to_remove: false,
    };
    let what = if args.delete_data {
        format!("remove local pipeline {stack} and DELETE bucket {bucket} with all its data")
    } else {
        format!("remove local pipeline {stack} (bucket {bucket} and its data are kept)")
    };
    if !go_ahead(args, &what)? {
        return outcome(format!("would {what}")).print(args);
    }
    target.teardown(args.delete_data)?;
    let summary = if args.delete_data {
        format!(
            "removed local pipeline {stack}; deleted bucket {bucket} and its log group {}",
            deployment.settings.log_group
        )
    } else {
        format!("removed local pipeline {stack}; kept bucket {bucket} at {}", target.lake(bucket).root().display())
    };
    outcome(summary).print(args)
}

pub(crate) fn run_aws(aws: &Aws, stack: &str, args: &TeardownArgs, devices_dir: &std::path::Path) -> Result<Exit> {
    let cfn = aws.cloudformation();
    let s3 = aws.s3();
    // The account: for the default bucket name, and as the expected owner of every bucket touched.
    let identity = aws.identity()?;
    let owner = Some(identity.account.as_str());
    let artifacts = artifacts_stack(stack);
    let pipeline = aws.block_on(describe(&cfn, stack))?;
    let artifacts_state = aws.block_on(describe(&cfn, &artifacts))?;
    if pipeline.is_none() && artifacts_state.is_none() {
        return remove_kept_data(aws, stack, &identity.account, args);
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
    let stacks_removed: Vec<String> = [(pipeline.is_some(), stack), (artifacts_state.is_some(), artifacts.as_str())]
        .into_iter()
        .filter(|(there, _)| *there)
        .map(|(_, name)| name.to_owned())
        .collect();
    let outcome = |summary: String, data: Option<Data>, versions_deleted: Option<u64>| Outcome {
        summary,
        stack: stack.to_owned(),
        stacks_removed: stacks_removed.clone(),
        buckets: raw_bucket.iter().cloned().collect(),
        data,
        versions_deleted,
        dry_run: args.dry_run.on,
        nothing_to_remove: false,
    };
    let what = format!("{what}{with_devices} in {}", aws.region());
    if !go_ahead(args, &what)? {
        let data = raw_bucket.as_ref().map(|_| if args.delete_data { Data::Deleted } else { Data::Kept });
        return outcome(format!("would {what}"), data, None).print(args);
    }
    if !devices.is_empty() {
        super::devices::remove(aws, devices_dir, &devices)?;
        crate::say!("removed {} of stack {stack}", crate::output::count(devices.len() as u64, "device"));
    }
    if pipeline.is_some() {
        let policy = crate::aws::iot::device_policy_name(stack);
        if aws.block_on(crate::aws::iot::delete_policy(&aws.iot(), &policy))? {
            crate::say!("deleted IoT policy {policy}");
        }
    }
    let progress = Progress::new("teardown", 0);
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
    let done = match (&raw_bucket, args.delete_data) {
        (Some(bucket), true) => {
            if aws.block_on(bucket_exists(&s3, bucket, owner))? {
                let n = delete_with_data(aws, bucket, owner, &progress)?;
                let summary =
                    format!("removed stacks {stack} and {artifacts}; deleted bucket {bucket} ({})", versions(n));
                outcome(summary, Some(Data::Deleted), Some(n))
            } else {
                let summary = format!("removed stacks {stack} and {artifacts}; bucket {bucket} was already gone");
                outcome(summary, Some(Data::Gone), None)
            }
        }
        (Some(bucket), false) if aws.block_on(bucket_exists(&s3, bucket, owner))? => outcome(
            format!(
                "removed stacks {stack} and {artifacts}; kept bucket {bucket} and its data (`teardown --delete-data` \
                 deletes it later)"
            ),
            Some(Data::Kept),
            None,
        ),
        // An endpoint that does not honour the bucket's deletion policy (an emulator) deleted it with the stack.
        (Some(bucket), false) => outcome(
            format!("removed stacks {stack} and {artifacts}; bucket {bucket} went with the stack"),
            Some(Data::Gone),
            None,
        ),
        (None, _) => outcome(format!("removed stack {artifacts}"), None, None),
    };
    done.print(args)
}

/// No stack left: a raw bucket an earlier teardown kept is all there may be. It is named, and deleted only
/// with `--delete-data` after confirmation.
fn remove_kept_data(aws: &Aws, stack: &str, account: &str, args: &TeardownArgs) -> Result<Exit> {
    let region = aws.region();
    let kept = aws.block_on(kept_buckets(&aws.s3(), stack, account, &region))?;
    if kept.is_empty() {
        let summary =
            format!("nothing to remove: no stack {stack} or {} and no kept bucket in {region}", artifacts_stack(stack));
        return Outcome::nothing(stack, summary, Vec::new(), None).print(args);
    }
    let names = kept.join(", ");
    if !args.delete_data {
        let summary = format!(
            "nothing to remove: no stack {stack} in {region}; bucket {names} kept by an earlier teardown holds the \
             data (`teardown --delete-data` deletes it)"
        );
        return Outcome::nothing(stack, summary, kept, Some(Data::Kept)).print(args);
    }
    let what = format!("DELETE bucket {names} (kept by an earlier teardown) with all its data");
    if !go_ahead(args, &what)? {
        let plan = Outcome {
            dry_run: true,
            ..Outcome::buckets_only(stack, format!("would {what}"), kept, Some(Data::Deleted))
        };
        return plan.print(args);
    }
    let progress = Progress::new("teardown", 0);
    let mut said = Vec::new();
    let mut deleted = 0;
    for bucket in &kept {
        let n = delete_with_data(aws, bucket, Some(account), &progress)?;
        said.push(format!("deleted bucket {bucket} kept by an earlier teardown ({})", versions(n)));
        deleted += n;
    }
    let done = Outcome {
        versions_deleted: Some(deleted),
        ..Outcome::buckets_only(stack, said.join("; "), kept, Some(Data::Deleted))
    };
    done.print(args)
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
