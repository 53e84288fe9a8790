//! `simulate`: devices sending readings into the deployed stream, optionally verified end to end.

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use anyhow::{Result, ensure};
use serde::Serialize;

use super::{AwsPipeline, Exit, Target, aws_settings};
use crate::aws::firehose::FirehoseSink;
use crate::aws::s3::S3Lake;
use crate::cli::SimulateArgs;
use crate::output::print;
use crate::settings::PipelineSettings;
use crate::simulate::sender::RetryPolicy;
use crate::simulate::verify::{Verification, verify};
use crate::simulate::{INTERRUPTED, Plan, Summary, resend, run as simulate};
use crate::target::{ObjectLake, RecordSink};

/// Validates the arguments into a plan before anything is sent.
pub fn plan(args: &SimulateArgs, quiet: bool) -> Result<Plan> {
    ensure!(args.devices >= 1 && args.devices <= 100_000, "--devices must be 1-100000 (got {})", args.devices);
    ensure!(args.rate > 0.0 && args.rate.is_finite(), "--rate must be a positive number (got {})", args.rate);
    ensure!(
        (0.0..=1.0).contains(&args.malformed_ratio),
        "--malformed-ratio must be 0-1 (got {})",
        args.malformed_ratio
    );
    ensure!((1..=256).contains(&args.concurrency), "--concurrency must be 1-256 (got {})", args.concurrency);
    let per_device = match (args.count, args.duration) {
        (Some(count), _) => count,
        (None, duration) => {
            let seconds = duration.map_or(10.0, |d| d.as_secs_f64());
            (seconds * args.rate).round().max(1.0) as u64
        }
    };
    ensure!(per_device >= 1, "--count must be at least 1");
    let spool = args.spool.clone().unwrap_or_else(|| {
        PathBuf::from(format!("reaqtions-unsent-{}.ndjson", chrono::Utc::now().format("%Y%m%dT%H%M%SZ")))
    });
    Ok(Plan {
        devices: args.devices,
        rate: args.rate,
        per_device,
        seed: args.seed.unwrap_or_else(rand::random),
        malformed_ratio: args.malformed_ratio,
        concurrency: args.concurrency,
        retry: RetryPolicy { max_retries: args.max_retries, ..RetryPolicy::default() },
        spool,
        track: args.verify,
        quiet,
    })
}

#[derive(Serialize)]
struct Report<'a> {
    #[serde(flatten)]
    summary: &'a Summary,
    #[serde(skip_serializing_if = "Option::is_none")]
    verify: Option<&'a Verification>,
}

/// Runs a simulation (or a resend) on either target and prints the result; shared with `demo`.
pub fn run(target: &Target, args: &SimulateArgs, quiet: bool) -> Result<(Exit, Summary, Option<Verification>)> {
    let plan = plan(args, quiet)?;
    match target {
        Target::Local(local) => {
            let deployment = local.require()?;
            let stream = local.start_stream(&deployment)?;
            let lake = local.lake(&deployment.settings.bucket);
            let result = execute(&stream, &lake, &deployment.settings, args, &plan);
            stream.close()?;
            result
        }
        Target::Aws { aws, stack } => {
            let AwsPipeline { settings, owner } = aws_settings(aws, stack, &args.pipeline)?;
            let sink = FirehoseSink::new(aws.firehose(), &settings.stream, aws.handle());
            let lake = S3Lake::new(aws.s3(), &settings.bucket, owner, aws.handle());
            execute(&sink, &lake, &settings, args, &plan)
        }
    }
}

fn execute(
    sink: &dyn RecordSink,
    lake: &dyn ObjectLake,
    settings: &PipelineSettings,
    args: &SimulateArgs,
    plan: &Plan,
) -> Result<(Exit, Summary, Option<Verification>)> {
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::Relaxed));
    let (summary, tracker) = match &args.resend {
        Some(file) => (resend(sink, file, plan)?, None),
        None => simulate(sink, plan)?,
    };
    let verification = match tracker {
        Some(tracker) => Some(verify(lake, settings, &tracker, args.verify_timeout, args.concurrency.max(8))?),
        None => None,
    };
    print(args.output, "simulate", &Report { summary: &summary, verify: verification.as_ref() })?;
    let exit = if summary.failed > 0 {
        eprintln!(
            "{} readings could not be sent; they are in {} (send them with --resend)",
            summary.failed,
            summary.spool_file.as_deref().unwrap_or("the spool file")
        );
        Exit::Spooled
    } else if verification.as_ref().is_some_and(|v| v.missing > 0) {
        eprintln!("verify: {} accepted readings are missing", verification.as_ref().map_or(0, |v| v.missing));
        Exit::Incomplete
    } else {
        Exit::Ok
    };
    Ok((exit, summary, verification))
}
