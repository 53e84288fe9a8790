//! `demo`: the main job end to end on the local target — deploy, simulate with some malformed readings,
//! verify every reading arrived, print the per-device summary.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use super::{Exit, Target};
use crate::cli::DemoArgs;
use crate::local::LocalTarget;
use crate::report::Query;
use crate::report::output::Format;
use crate::settings::{PipelineSettings, SettingsInput};
use crate::simulate::Plan;
use crate::target::{Names, Uses};

pub(crate) fn run(local: &LocalTarget, args: &DemoArgs, stack: Option<String>, quiet: bool) -> Result<Exit> {
    let per_device = (args.duration.as_secs_f64() * args.rate).round().max(1.0) as u64;
    let spool = PathBuf::from(format!("reaqtions-unsent-{}.ndjson", chrono::Utc::now().format("%Y%m%dT%H%M%SZ")));
    let plan = Plan {
        seed: rand::random(),
        malformed_ratio: args.malformed_ratio,
        track: true,
        quiet,
        ..Plan::new(args.devices, args.rate, per_device, spool)
    };
    plan.validate()?;
    let settings = PipelineSettings::resolve(
        SettingsInput { stack, ..SettingsInput::default() }.with_file(args.config.as_deref())?,
    )?;
    let (_, deployment) = local.deploy(&settings)?;
    crate::say!("1/3 deployed local pipeline {} under {}", deployment.settings.stack, local.root().display());
    crate::say!(
        "2/3 {} devices × {}/s for {:?}, {:.0}% malformed, verified:",
        args.devices,
        args.rate,
        args.duration,
        args.malformed_ratio * 100.0
    );
    let target = Target::Local(local.clone());
    let request = super::simulate::Request {
        plan,
        verify_timeout: Duration::from_secs(60),
        resend: None,
        names: Names::default(),
        output: crate::output::OutputFormat::Table,
        yes: false,
    };
    let (exit, _, _) = super::simulate::run(&target, &request)?;
    crate::say!("3/3 per-device summary (reaqtions report --local --summary):");
    let report = crate::report::Request {
        format: Format::Table,
        engine: crate::report::output::Engine::Scan,
        sql: None,
        output: None,
        query: Query::default(),
        summary: true,
        concurrency: 8,
        names: Names::default(),
        quiet: true,
    };
    let pipeline = target.open(&Names::default(), Uses { lake: true, ..Uses::default() })?;
    let mut out = std::io::stdout().lock();
    let report_exit = super::report::write_report(pipeline.lake(), pipeline.settings(), &report, &mut out)?;
    Ok(if exit != Exit::Ok { exit } else { report_exit })
}
