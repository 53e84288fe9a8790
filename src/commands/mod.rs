//! One module per verb: each turns its arguments into validated settings, picks the target, and orchestrates.

pub(crate) mod broker;
pub(crate) mod cost;
pub(crate) mod demo;
pub(crate) mod deploy;
pub(crate) mod devices;
pub(crate) mod health;
pub mod help;
pub(crate) mod logs;
pub(crate) mod report;
pub(crate) mod reprocess;
pub(crate) mod simulate;
pub(crate) mod status;
pub(crate) mod teardown;
pub mod template;

use std::io::IsTerminal as _;
use std::process::ExitCode;

use anyhow::{Result, bail};
use chrono::{DateTime, Utc};

use crate::aws::Aws;
use crate::aws::target::AwsPipeline;
use crate::cli::{Cli, Command, PipelineOverride, Shape};
use crate::invalid;
use crate::local::LocalTarget;
use crate::seams::{GivenNames, Pipeline, Uses};
use crate::settings::DEFAULT_STACK;

/// The exit codes the CLI documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    /// Something is missing: `--verify` found readings missing, or a report skipped corrupt data.
    Incomplete = 3,
    /// Readings could not be sent and were written to the spool file.
    Spooled = 4,
    /// `health` found the pipeline degraded.
    Degraded = 5,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// Where a command runs, built once from the global flags.
pub(crate) enum Target {
    Local(LocalTarget),
    Aws { aws: Box<Aws>, stack: String },
}

impl Target {
    /// The pipeline this target opens, for commands printed as typed here ([`Place::command`]).
    pub(crate) fn place(&self) -> crate::seams::Place {
        match self {
            Target::Local(local) => crate::seams::Place::local(local.root(), local.stack()),
            Target::Aws { stack, .. } => crate::seams::Place::aws(stack),
        }
    }

    /// The AWS region, on AWS.
    pub(crate) fn region(&self) -> Option<String> {
        match self {
            Target::Aws { aws, .. } => Some(aws.region()),
            Target::Local(_) => None,
        }
    }

    /// The AWS connection and stack, for what exists only on AWS; `why_not` says what to do on the local target.
    pub(crate) fn aws(&self, why_not: &str) -> Result<(&Aws, &str)> {
        match self {
            Target::Aws { aws, stack } => Ok((aws.as_ref(), stack.as_str())),
            Target::Local(_) => Err(invalid!("{why_not}")),
        }
    }

    /// The local target, for what exists only there; `why_not` says what to do on AWS.
    pub(crate) fn local(&self, why_not: &str) -> Result<&LocalTarget> {
        match self {
            Target::Local(local) => Ok(local),
            Target::Aws { .. } => Err(invalid!("{why_not}")),
        }
    }

    /// The deployed pipeline behind the seams simulate, report and logs use (`names` apply on AWS, where a
    /// pipeline can be deployed by other means).
    pub(crate) fn open(&self, names: &GivenNames, uses: Uses) -> Result<Box<dyn Pipeline>> {
        Ok(match self {
            Target::Local(local) => Box::new(local.open()?),
            Target::Aws { aws, stack } => Box::new(AwsPipeline::open(aws, stack, names, uses)?),
        })
    }
}

impl PipelineOverride {
    pub(crate) fn names(&self) -> GivenNames {
        GivenNames {
            stream: self.stream.clone(),
            bucket: self.bucket.clone(),
            bucket_owner: self.bucket_owner.clone(),
            log_group: None,
        }
    }
}

pub fn run(mut cli: Cli) -> Result<Exit> {
    crate::output::set_quiet(cli.quiet);
    if let Some(shape) = shape_of(&mut cli.command) {
        settle_shape(shape)?;
    }
    let result = run_settled(cli);
    if result.is_err() {
        // A verb that failed leaves its `--output` file as it was: no empty or half-written results.
        crate::output::results_abandoned();
    }
    result
}

/// [`run`] once `--output` is settled.
fn run_settled(cli: Cli) -> Result<Exit> {
    match &cli.command {
        Command::Template(args) => return template::run(args, &cli.aws, cli.stack.as_deref()),
        Command::Cost(args) => {
            let exit = cost::run(args, cli.aws.region.as_deref())?;
            crate::output::results_written()?;
            return Ok(exit);
        }
        Command::Completions(args) => return help::completions(args.shell),
        Command::Man(args) => return help::man(args),
        _ => {}
    }
    // Decided before any AWS configuration is built: the verbs that exist only on one machine run there.
    let local = cli.local || matches!(cli.command, Command::Demo(_) | Command::Broker(_));
    let target = if local {
        // `--stack` picks the deployment on this target too: each stack has its own record in the data directory.
        Target::Local(LocalTarget::of_stack(&cli.data_dir, cli.stack.as_deref().unwrap_or(DEFAULT_STACK))?)
    } else {
        let stack = cli.stack.clone().unwrap_or_else(|| DEFAULT_STACK.to_owned());
        let aws = Aws::connect(&cli.aws).map_err(|e| with_local_hint(e, &cli.data_dir))?;
        Target::Aws { aws: Box::new(aws), stack }
    };
    let result = dispatch(&cli, &target);
    if result.is_ok() {
        crate::output::results_written()?;
    }
    match result {
        Err(e) if !local && crate::error::kind(&e) == Some(crate::error::Kind::Credentials) => {
            Err(with_local_hint(e, &cli.data_dir))
        }
        other => other,
    }
}

/// An AWS verb that found no region or no credentials, where a local deployment (of any stack) exists: say
/// `--local`.
fn with_local_hint(error: anyhow::Error, data_dir: &std::path::Path) -> anyhow::Error {
    match LocalTarget::new(data_dir).stacks() {
        Ok(stacks) if !stacks.is_empty() => error.context(format!(
            "on AWS (a local deployment exists under {}: add --local to run on it)",
            data_dir.display()
        )),
        _ => error,
    }
}

fn dispatch(cli: &Cli, target: &Target) -> Result<Exit> {
    match &cli.command {
        // The control plane differs by nature between targets: the one place that picks the implementation.
        Command::Deploy(args) => match target {
            Target::Local(local) => deploy::run_local(local, cli.stack.clone(), args),
            Target::Aws { aws, .. } => deploy::aws::run(aws, cli.stack.clone(), args),
        },
        Command::Simulate(args) => {
            let request = simulate::request(args, devices_dir(cli))?;
            if args.dry_run.on {
                simulate::dry_run(target, &request)
            } else {
                simulate::run(target, &request).map(|(exit, ..)| exit)
            }
        }
        Command::Report(args) => report::run(target, &report::request(args)?),
        Command::Logs(args) => logs::run(target, &logs::request(args)?),
        Command::Status(args) => match target {
            Target::Local(local) => status::run_local(local, args),
            Target::Aws { aws, stack } => status::run_aws(aws, stack, args),
        },
        Command::Health(args) => health::run(target, &health::request(args)?),
        Command::Reprocess(args) => reprocess::run(target, &reprocess::request(args)?),
        Command::Teardown(args) => match target {
            Target::Local(local) => teardown::run_local(local, args),
            Target::Aws { aws, stack } => teardown::run_aws(aws, stack, args, &devices_dir(cli)),
        },
        Command::Devices(args) => devices::run(target, args, &devices_dir(cli)),
        Command::Broker(args) => broker::run(target, args),
        Command::Demo(args) => {
            let place = demo::Place { data_dir: &cli.data_dir, stack: cli.stack.as_deref() };
            demo::run(target.local("demo runs on the local target")?, args, place, cli.verbose > 0)
        }
        Command::Template(_) | Command::Cost(_) | Command::Completions(_) | Command::Man(_) => {
            unreachable!("handled above")
        }
    }
}

/// The verb's `--format` and `--output`, where it has them (report has its own formats).
fn shape_of(command: &mut Command) -> Option<&mut Shape> {
    match command {
        Command::Logs(a) => Some(&mut a.shape),
        Command::Template(a) => Some(&mut a.shape),
        Command::Teardown(a) => Some(&mut a.shape),
        Command::Deploy(a) => Some(&mut a.shape),
        Command::Simulate(a) => Some(&mut a.shape),
        Command::Status(a) => Some(&mut a.shape),
        Command::Health(a) => Some(&mut a.shape),
        Command::Reprocess(a) => Some(&mut a.shape),
        Command::Devices(a) => Some(&mut a.shape),
        Command::Broker(a) => Some(&mut a.shape),
        Command::Cost(a) => Some(&mut a.shape),
        Command::Demo(a) => Some(&mut a.shape),
        _ => None,
    }
}

/// `--output FILE` becomes where results go, before any work: a file that cannot be created fails the verb at
/// once. (The old `--output table|json` was read as the format when the flags were parsed: [`Shape`].)
fn settle_shape(shape: &mut Shape) -> Result<()> {
    match shape.output.take() {
        Some(path) => crate::output::write_results_to(&path),
        None => Ok(()),
    }
}

/// The one check of a fleet's `--devices` and `--rate`, on every verb that takes them; `most_devices` is the
/// verb's own bound (simulate runs every device in this process), if it has one.
pub(crate) fn check_fleet(fleet: &crate::cli::FleetArgs, most_devices: Option<u64>) -> Result<()> {
    match most_devices {
        Some(most) if !(1..=most).contains(&fleet.devices) => {
            return Err(invalid!("--devices must be 1-{most} (got {})", fleet.devices));
        }
        None if fleet.devices == 0 => return Err(invalid!("--devices must be at least 1 (got 0)")),
        _ => {}
    }
    if !(fleet.rate > 0.0 && fleet.rate.is_finite()) {
        return Err(invalid!("--rate must be a positive number (got {})", fleet.rate));
    }
    Ok(())
}

/// Where `devices add` writes a stack's device certificates unless told otherwise: `<data-dir>/devices/<stack>`.
pub(crate) fn devices_dir(cli: &Cli) -> std::path::PathBuf {
    cli.data_dir.join("devices").join(cli.stack.as_deref().unwrap_or(DEFAULT_STACK))
}

/// The names every `deploy` and `status` result carries, under the same keys on every target, so a script
/// written against one target works against the other.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Named {
    pub(crate) target: &'static str,
    pub(crate) stack: String,
    pub(crate) stream: String,
    pub(crate) bucket: String,
    pub(crate) function: String,
    pub(crate) log_group: String,
    pub(crate) prefix: String,
    pub(crate) error_prefix: String,
}

impl Named {
    pub(crate) fn of(target: &'static str, s: &crate::settings::PipelineSettings) -> Named {
        Named {
            target,
            stack: s.stack.clone(),
            stream: s.stream.clone(),
            bucket: s.bucket.clone(),
            function: s.function.clone(),
            log_group: s.log_group.clone(),
            prefix: s.prefix.clone(),
            error_prefix: s.error_prefix.clone(),
        }
    }
}

/// `2026-11-25T21:00:00Z`, or a span back from now such as `90s`, `10m`, `2h`, `1day`.
pub(crate) fn parse_time(text: &str) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let span = humantime::parse_duration(text)
        .map_err(|_| invalid!("{text:?} is neither an RFC 3339 time nor a duration such as 10m or 2h"))?;
    let span = chrono::Duration::from_std(span).map_err(|_| invalid!("{text:?} is too long ago"))?;
    Ok(Utc::now() - span)
}

/// A window's `[since, until)`, either end open.
pub(crate) type Window = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// A verb's `--since`/`--until`, parsed, with the one check and wording every verb gives a window.
pub(crate) fn window(since: Option<&str>, until: Option<&str>) -> Result<Window> {
    let since = since.map(parse_time).transpose()?;
    let until = until.map(parse_time).transpose()?;
    if let (Some(s), Some(u)) = (since, until)
        && s >= u
    {
        let at = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        return Err(invalid!("--since ({}) is not before --until ({}): the window is [since, until)", at(s), at(u)));
    }
    Ok((since, until))
}

/// Asks on the terminal, the same way on every verb: without a terminal it refuses (a usage error, exit 2: pass
/// --yes); an answer other than yes is an error saying `declined` (exit 1, so `teardown && …` stops there).
pub(crate) fn confirm(question: &str, declined: &str) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(invalid!("{question} — refusing without a terminal to ask on; pass --yes to confirm"));
    }
    let answer = crate::output::ask(&format!("{question} [y/N] "))?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") { Ok(()) } else { bail!("{declined}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fleet_is_checked_once_with_each_verbs_bound() {
        let fleet = |devices, rate| crate::cli::FleetArgs { devices, rate };
        assert!(check_fleet(&fleet(200_000, 0.5), None).is_ok(), "cost prices any fleet");
        let said = |f, most| check_fleet(&f, most).unwrap_err().to_string();
        assert_eq!(said(fleet(200_000, 1.0), Some(100_000)), "--devices must be 1-100000 (got 200000)");
        assert_eq!(said(fleet(0, 1.0), None), "--devices must be at least 1 (got 0)");
        assert_eq!(said(fleet(3, 0.0), None), "--rate must be a positive number (got 0)");
        assert_eq!(said(fleet(3, f64::NAN), Some(100_000)), "--rate must be a positive number (got NaN)");
    }

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
