//! `demo`: the main job end to end on the local target — deploy, simulate with some malformed readings,
//! verify every reading arrived, print the per-device summary.

use anyhow::Result;

use super::Exit;
use crate::cli::{DemoArgs, OutputFormat, ReportArgs, SettingsArgs, SimulateArgs};
use crate::local::LocalTarget;
use crate::report::Query;
use crate::report::output::Format;

pub fn run(target: &LocalTarget, args: &DemoArgs, quiet: bool) -> Result<Exit> {
    let settings = super::deploy::resolve_settings(&SettingsArgs::default(), None, None)?;
    let (_, deployment) = target.deploy(&settings)?;
    eprintln!("1/3 deployed local pipeline {} under {}", deployment.settings.stack, target.root().display());
    let simulate = SimulateArgs {
        devices: args.devices,
        rate: args.rate,
        duration: Some(args.duration),
        count: None,
        seed: None,
        malformed_ratio: args.malformed_ratio,
        verify: true,
        verify_timeout: std::time::Duration::from_secs(60),
        concurrency: 1,
        max_retries: 8,
        spool: None,
        resend: None,
        pipeline: Default::default(),
        output: OutputFormat::Table,
    };
    eprintln!(
        "2/3 {} devices × {}/s for {:?}, {:.0}% malformed, verified:",
        args.devices,
        args.rate,
        args.duration,
        args.malformed_ratio * 100.0
    );
    let (exit, _, _) = super::simulate::run(&super::Target::Local(target.clone()), &simulate, quiet)?;
    eprintln!("3/3 per-device summary (reaqtions report --local --summary):");
    let report = ReportArgs {
        format: Format::Table,
        output: None,
        since: None,
        until: None,
        devices: vec![],
        summary: true,
        concurrency: 8,
        pipeline: Default::default(),
    };
    let lake = target.lake(&deployment.settings.bucket);
    let mut out = std::io::stdout().lock();
    let report_exit = super::report::write_report(&lake, &deployment.settings, &report, &Query::default(), &mut out)?;
    Ok(if exit != Exit::Ok { exit } else { report_exit })
}
