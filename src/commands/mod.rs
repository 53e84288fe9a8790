//! One module per verb: each turns its arguments into validated settings, picks the target, and orchestrates.

pub mod demo;
pub mod deploy;
pub mod logs;
pub mod report;
pub mod simulate;
pub mod status;
pub mod teardown;

use std::io::IsTerminal as _;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use chrono::{DateTime, Utc};

use crate::cli::{Cli, Command};
use crate::local::LocalTarget;

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

pub fn run(cli: Cli) -> Result<Exit> {
    let local = cli.local.then(|| LocalTarget::new(&cli.data_dir));
    match &cli.command {
        Command::Deploy(args) => deploy::run(&require_local(local)?, args),
        Command::Simulate(args) => simulate::run(&require_local(local)?, args, cli.quiet),
        Command::Report(args) => report::run(&require_local(local)?, args),
        Command::Logs(args) => logs::run(&require_local(local)?, args),
        Command::Status(args) => status::run(&require_local(local)?, args),
        Command::Teardown(args) => teardown::run(&require_local(local)?, args),
        Command::Demo(args) => demo::run(&require_local(local)?, args, cli.quiet),
    }
}

fn require_local(local: Option<LocalTarget>) -> Result<LocalTarget> {
    match local {
        Some(target) => Ok(target),
        None => bail!(
            "this build drives the local target only: add --local (or set REAQTIONS_LOCAL=1). \
             The AWS target (deploy from the embedded CloudFormation templates, Firehose/S3/CloudWatch) is not built yet"
        ),
    }
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
