//! One module per verb: each turns its arguments into validated settings, picks the target, and orchestrates.

pub mod demo;
pub mod deploy;
pub mod logs;
pub mod report;
pub mod simulate;
pub mod status;
pub mod teardown;
pub mod template;

use std::io::IsTerminal as _;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use chrono::{DateTime, Utc};

use crate::aws::Aws;
use crate::aws::pipeline::Deployed;
use crate::cli::{Cli, Command, PipelineOverride};
use crate::local::LocalTarget;
use crate::settings::{DEFAULT_STACK, PipelineSettings, SettingsFile};

/// The exit codes the CLI documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    /// Something is missing: `--verify` found readings missing, or a report skipped corrupt data.
    Incomplete = 3,
    /// Readings could not be sent and were written to the spool file.
    Spooled = 4,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// Where a command runs.
pub enum Target {
    Local(LocalTarget),
    Aws { aws: Box<Aws>, stack: String },
}

pub fn run(cli: Cli) -> Result<Exit> {
    if let Command::Template(args) = &cli.command {
        return template::run(args);
    }
    let target = if cli.local {
        Target::Local(LocalTarget::new(&cli.data_dir))
    } else {
        let stack = cli.stack.clone().unwrap_or_else(|| DEFAULT_STACK.to_owned());
        Target::Aws { aws: Box::new(Aws::connect(&cli.aws)?), stack }
    };
    match &cli.command {
        Command::Deploy(args) => deploy::run(&target, cli.stack.clone(), args, cli.quiet),
        Command::Simulate(args) => simulate::run(&target, args, cli.quiet).map(|(exit, ..)| exit),
        Command::Report(args) => report::run(&target, args),
        Command::Logs(args) => logs::run(&target, args),
        Command::Status(args) => status::run(&target, args),
        Command::Teardown(args) => teardown::run(&target, args, cli.quiet),
        Command::Demo(args) => match &target {
            Target::Local(local) => demo::run(local, args, cli.quiet),
            Target::Aws { .. } => bail!("demo runs on the local target: add --local"),
        },
        Command::Template(_) => unreachable!("handled above"),
    }
}

/// A pipeline on AWS as simulate, report and logs use it.
pub struct AwsPipeline {
    pub settings: PipelineSettings,
    /// The account that owns the pipeline's bucket, when the stack says (passed as S3's ExpectedBucketOwner).
    pub owner: Option<String>,
}

/// The pipeline's names and prefixes on AWS: from the stack's outputs, or given with --stream/--bucket for a
/// pipeline deployed by other means (then the default prefixes apply).
pub fn aws_settings(aws: &Aws, stack: &str, over: &PipelineOverride) -> Result<AwsPipeline> {
    let deployed = aws.block_on(crate::aws::cloudformation::describe(&aws.cloudformation(), stack))?;
    let mut owner = None;
    let mut settings = match deployed {
        Some(stack) => {
            let deployed = Deployed::from_stack(&stack)?;
            owner = deployed.account();
            deployed.settings()?
        }
        None if over.stream.is_some() || over.bucket.is_some() => PipelineSettings::resolve(SettingsFile::default())?,
        None => bail!(
            "no stack {stack} in {}: deploy it with `reaqtions deploy`, or name an existing pipeline with --stream/--bucket",
            aws.region()
        ),
    };
    if let Some(stream) = &over.stream {
        settings.stream.clone_from(stream);
    }
    if let Some(bucket) = &over.bucket {
        if *bucket != settings.bucket {
            owner = None;
        }
        settings.bucket.clone_from(bucket);
    }
    Ok(AwsPipeline { settings, owner })
}

/// `2026-11-25T21:00:00Z`, or a span back from now such as `90s`, `10m`, `2h`, `1day`.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let span = humantime::parse_duration(text)
        .with_context(|| format!("{text:?} is neither an RFC 3339 time nor a duration such as 10m or 2h"))?;
    Ok(Utc::now() - chrono::Duration::from_std(span)?)
}

/// Asks on the terminal; without one, refuses (the caller must pass --yes).
pub fn confirm(question: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("{question} — refusing without a terminal to ask on; pass --yes to confirm");
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_absolute_and_relative() {
        assert_eq!(
            parse_time("2026-11-25T21:00:00+01:00").unwrap(),
            "2026-11-25T20:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        let two_hours_ago = parse_time("2h").unwrap();
        let delta = (Utc::now() - two_hours_ago).num_seconds();
        assert!((7199..=7201).contains(&delta));
        assert!(parse_time("yesterday-ish").unwrap_err().to_string().contains("yesterday-ish"));
    }
}
