//! `demo`: the main job end to end on the local target — deploy, simulate with some malformed readings, verify every
//! reading arrived — told as one verdict line and a per-device table of this run that fit 80 columns, then the
//! commands to go on with. Every counter goes to `--format json` (and the full tables to `-v`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use serde::Serialize;
use serde_json::Value;

use super::{Exit, Named, Target};
use crate::cli::DemoArgs;
use crate::local::LocalTarget;
use crate::output::OutputFormat;
use crate::prefix::Prefix;
use crate::report::summary::DeviceSummary;
use crate::report::{Query, Row, for_each_row, select_objects};
use crate::seams::{GivenNames, Uses};
use crate::settings::{DEFAULT_STACK, SettingsInput};
use crate::simulate::{Plan, RunSummary, verify::Verification};

/// Where the demo was run, for the commands it suggests next.
pub(crate) struct Place<'a> {
    pub(crate) data_dir: &'a Path,
    pub(crate) stack: Option<&'a str>,
}

pub(crate) fn run(local: &LocalTarget, args: &DemoArgs, place: Place, verbose: bool) -> Result<Exit> {
    let quiet = crate::output::quiet();
    let per_device = (args.duration.as_secs_f64() * args.rate).round().max(1.0) as u64;
    let spool = PathBuf::from(format!("reaqtions-unsent-{}.ndjson", chrono::Utc::now().format("%Y%m%dT%H%M%SZ")));
    let plan = Plan {
        seed: rand::random(),
        malformed_ratio: args.malformed_ratio,
        track: true,
        quiet: true,
        ..Plan::new(args.devices, args.rate, per_device, spool)
    };
    plan.validate()?;
    let input = SettingsInput { stack: place.stack.map(str::to_owned), ..SettingsInput::default() }
        .with_file(args.config.as_deref())?;
    // The settings file may name the stack when --stack does not: the demo runs on that stack's deployment.
    let local = &local.with_stack(input.stack.as_deref().unwrap_or(DEFAULT_STACK))?;
    let settings = crate::layout::resolve_keeping(input, local.load()?.as_ref().map(|d| &d.settings))?;
    local.check_apart(&settings)?;
    crate::layout::claim(&local.lake(&settings.bucket), &settings)?;
    let recorded = local.deploy(&settings)?;
    let deployment = recorded.deployment;
    let say = |line: String| {
        if !quiet {
            crate::say!("{line}");
        }
    };
    if let Some(old) = recorded.moved_from {
        say(format!(
            "moved the record of local pipeline {} from {} to {}",
            settings.stack,
            old.display(),
            local.record_path().display()
        ));
    }
    say(format!(
        "1/3 deployed local pipeline {} under {} (readings filed by {})",
        deployment.settings.stack,
        local.root().display(),
        match deployment.settings.partitioning {
            crate::settings::Partitioning::Event => "the hour they were measured",
            crate::settings::Partitioning::Arrival => "the hour they arrived",
        }
    ));
    say(format!(
        "2/3 {} devices × {}/s for {}, {:.0}% malformed on purpose",
        args.devices,
        args.rate,
        humantime::format_duration(args.duration),
        args.malformed_ratio * 100.0
    ));
    let target = Target::Local(local.clone());
    let request = super::simulate::Request {
        plan,
        verify_timeout: Duration::from_secs(60),
        resend: None,
        names: GivenNames::default(),
        output: if verbose { Some(OutputFormat::Table) } else { None },
        yes: false,
    };
    let (exit, summary, verification) = super::simulate::run(&target, &request)?;
    let verification = verification.expect("the demo's plan tracks its readings");
    say(format!("    {}", verdict(&summary, &verification)));
    let pipeline = target.open(&GivenNames::default(), Uses { lake: true, ..Uses::default() })?;
    let devices = this_run(pipeline.lake(), pipeline.settings(), &summary.run)?;
    match args.shape.format {
        OutputFormat::Json => {
            #[derive(Serialize)]
            struct Demo<'a> {
                pipeline: Named,
                simulate: &'a RunSummary,
                verify: &'a Verification,
                devices: &'a [Row],
            }
            let demo = Demo {
                pipeline: Named::of("local", &deployment.settings),
                simulate: &summary,
                verify: &verification,
                devices: &devices,
            };
            crate::output::line(&serde_json::to_string_pretty(&demo)?)?;
        }
        OutputFormat::Table => {
            let date = devices.first().and_then(|d| text(d, "first_TIME")).and_then(|t| t.get(..10));
            say(format!(
                "3/3 this run's readings by device (run {}{}):",
                summary.run,
                date.map(|d| format!(", {d} UTC")).unwrap_or_default()
            ));
            crate::output::line(&device_table(&devices))?;
        }
    }
    if !quiet {
        next_commands(place.data_dir, &deployment.settings.stack, verification.malformed_in_error);
    }
    Ok(exit)
}

/// One line for the whole run: what was sent and where each reading is now.
fn verdict(summary: &RunSummary, v: &Verification) -> String {
    let mut line = format!(
        "{} sent → {} in processed/, {} malformed in error/, {} missing",
        summary.sent, v.delivered, v.malformed_in_error, v.missing
    );
    let other_errors = v.in_error.saturating_sub(v.malformed_in_error);
    if other_errors > 0 {
        line.push_str(&format!(", {other_errors} more in error/ (not sent malformed: see `logs`)"));
    }
    if v.duplicated > 0 {
        line.push_str(&format!(", {} delivered twice (counted once by report)", v.duplicated));
    }
    line
}

/// The per-device summary of the readings of run `run` alone (a folder may hold earlier demos).
fn this_run(
    lake: &dyn crate::seams::ObjectLake,
    settings: &crate::settings::PipelineSettings,
    run: &str,
) -> Result<Vec<Row>> {
    let prefix = Prefix::parse(&settings.prefix, false)?;
    let objects = select_objects(lake, &prefix, "", &Query::default())?;
    let mut summary = DeviceSummary::default();
    let stats = for_each_row(lake, &objects, &Query::default(), 8, &mut |_| {}, |row, _| {
        if row.get("sim_run").and_then(Value::as_str) == Some(run) {
            summary.add(&row);
        }
        Ok(())
    })?;
    for problem in &stats.problems {
        crate::warning!("{problem}");
    }
    Ok(summary.rows().collect())
}

fn text<'a>(row: &'a Row, key: &str) -> Option<&'a str> {
    row.get(key).and_then(Value::as_str)
}

/// EPA's longest category, shortened so the table fits 80 columns (a legend line says it in full).
const USG: (&str, &str) = ("Unhealthy for Sensitive Groups", "USG");

/// The summary as a table of at most 80 columns, borderless: the clock time of `TIME` only (the date is said once
/// above), PM2.5's mean and the highest AQI the device reported.
fn device_table(devices: &[Row]) -> String {
    let clock = |t: Option<&str>| t.and_then(|t| t.get(11..19)).unwrap_or("-").to_owned();
    let number = |row: &Row, key: &str| match row.get(key) {
        Some(Value::Null) | None => "-".to_owned(),
        Some(v) => v.to_string(),
    };
    let header = ["device", "readings", "first", "last", "PM2.5 mean", "AQI max", "category"];
    let mut rows = vec![header.map(str::to_owned)];
    for row in devices {
        let category = text(row, "AQI_category").unwrap_or("-");
        rows.push([
            text(row, "device_id").unwrap_or("-").to_owned(),
            number(row, "readings"),
            clock(text(row, "first_TIME")),
            clock(text(row, "last_TIME")),
            number(row, "PM2_5_mean"),
            number(row, "AQI_max"),
            if category == USG.0 { USG.1.to_owned() } else { category.to_owned() },
        ]);
    }
    let widths: Vec<usize> =
        (0..header.len()).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for (n, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                let w = widths[c];
                // Numbers to the right, words to the left.
                if (1..6).contains(&c) && n > 0 { format!("{cell:>w$}") } else { format!("{cell:<w$}") }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
        if n == 0 {
            out.push_str(&"─".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1)));
            out.push('\n');
        }
    }
    if devices.iter().any(|d| text(d, "AQI_category") == Some(USG.0)) {
        out.push_str(&format!("{}: {}\n", USG.1, USG.0));
    }
    out.pop();
    out
}

/// The commands to go on with, as typed for this data directory and stack (named even when it came from the
/// settings file, which the other verbs do not read).
fn next_commands(data_dir: &Path, stack: &str, malformed: usize) {
    let place = crate::seams::Place::local(data_dir, stack);
    let lines = [
        (place.command("report", "--format html --output readings.html"), "the page of charts".to_owned()),
        (
            place.command("health", ""),
            if malformed > 0 {
                format!("says degraded now: the {malformed} malformed readings are failed records, sent on purpose")
            } else {
                "the pipeline's vital signs and a verdict".to_owned()
            },
        ),
        (place.command("logs", "--filter \"record failed\""), "why each was refused".to_owned()),
        (place.command("teardown", ""), "remove it all (asks first)".to_owned()),
    ];
    crate::say!("next, on this machine:");
    for (command, why) in lines {
        crate::say!("  # {why}\n  {command}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_device_table_fits_80_columns_and_shows_the_clock_only() {
        let rows: Vec<Row> = (1..=5)
            .map(|i| {
                serde_json::from_value(serde_json::json!({
                    "device_id": format!("aq-000{i}"), "readings": 10, "first_TIME": "2026-12-07T18:49:07.123",
                    "last_TIME": "2026-12-07T18:49:11.623", "PM2_5_mean": 155.42, "PM2_5_max": 216.2,
                    "AQI_max": 301, "AQI_category": "Unhealthy for Sensitive Groups",
                }))
                .unwrap()
            })
            .collect();
        let table = device_table(&rows);
        let widest = table.lines().map(|l| l.chars().count()).max().unwrap();
        assert!(widest <= 80, "{widest} columns:\n{table}");
        assert!(table.contains("18:49:07") && !table.contains("2026-12-07"), "{table}");
    }
}
