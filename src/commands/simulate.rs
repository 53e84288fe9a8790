//! `simulate`: devices sending readings into the deployed stream, optionally verified end to end. It states its
//! plan first and asks before a run over the thresholds; a run behind its rate ends at its duration.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use anyhow::Result;
use serde::Serialize;

use super::{Exit, Target};
use crate::cli::{SimulateArgs, Via};
use crate::mqtt::sink::MqttSink;
use crate::output::print;
use crate::simulate::budget::state;
use crate::simulate::clock::Timeline;
use crate::simulate::device::typical_reading_bytes;
use crate::simulate::sender::RetryPolicy;
use crate::simulate::verify::{Verification, verify};
use crate::simulate::{INTERRUPTED, Plan, RunSummary, resend, run as simulate};
use std::time::Duration;

use crate::output::OutputFormat;
use crate::seams::{GivenNames, MqttAccess, RecordSink, Uses};

/// What `simulate` (and `demo`) asked for: the engine's plan, and what the command does around it.
pub(crate) struct Request {
    pub(crate) plan: Plan,
    /// How long verification waits at most.
    pub(crate) verify_timeout: Duration,
    /// Send a spool file's readings again instead of simulating.
    pub(crate) resend: Option<PathBuf>,
    /// Names of a pipeline deployed by other means.
    pub(crate) names: GivenNames,
    /// How the run's counters are printed; `None`: not at all (the demo tells them its own way).
    pub(crate) output: Option<OutputFormat>,
    /// Run without asking even over the thresholds.
    pub(crate) yes: bool,
}

/// Validates the arguments into a request before anything is sent; a value out of range is a usage error.
pub(crate) fn request(args: &SimulateArgs, devices_dir: PathBuf) -> Result<Request> {
    super::check_fleet(&args.fleet, Some(crate::simulate::MOST_DEVICES))?;
    // Within MOST_DEVICES, so a usize on every platform.
    let devices = args.fleet.devices as usize;
    let rate = args.fleet.rate;
    let per_device = match (args.count, args.duration) {
        (Some(count), _) => count,
        (None, duration) => {
            let seconds = duration.map_or(10.0, |d| d.as_secs_f64());
            (seconds * rate).round().max(1.0) as u64
        }
    };
    let spool = args.spool.clone().unwrap_or_else(|| {
        PathBuf::from(format!("reaqtions-unsent-{}.ndjson", chrono::Utc::now().format("%Y%m%dT%H%M%SZ")))
    });
    let mut plan = Plan {
        devices,
        rate,
        per_device,
        timeline: None,
        zone: args.zone,
        seed: args.seed.unwrap_or_else(rand::random),
        malformed_ratio: args.malformed_ratio,
        concurrency: args.concurrency,
        retry: RetryPolicy { max_retries: args.max_retries, ..RetryPolicy::default() },
        // Over MQTT each reading is one publish: the topic rule makes one record of each message.
        record_bytes: if args.no_pack || args.via == Via::Mqtt { 0 } else { args.record_bytes },
        linger: args.linger,
        spool,
        track: args.verify,
        mqtt: (args.via == Via::Mqtt).then(|| MqttAccess {
            broker: Some(args.broker),
            devices_dir: args.devices_dir.clone().unwrap_or(devices_dir),
            devices,
            ca_file: args.ca_file.clone(),
            connects_per_second: args.connect_rate,
        }),
        quiet: crate::output::quiet(),
        deadline: if args.count.is_none() { args.duration } else { None },
        spool_limit_bytes: args.spool_limit_mib.saturating_mul(1 << 20),
        confirm_over_readings: args.confirm_over_readings,
        confirm_over_usd: args.confirm_over_usd,
    };
    plan.validate()?;
    let start = match args.start.as_deref() {
        Some(text) => Some((
            text,
            super::parse_time(text).map_err(|_| {
                crate::invalid!(
                    "--start must be an RFC 3339 time such as 2026-12-06T00:00:00Z, or a span back from now such as \
                     2h (got {text:?})"
                )
            })?,
        )),
        None => None,
    };
    plan.timeline = Timeline::resolve(start, args.every, plan.devices, per_device, plan.rate, chrono::Utc::now())?;
    Ok(Request {
        plan,
        verify_timeout: args.verify_timeout,
        resend: args.resend.clone(),
        names: args.pipeline.names(),
        output: Some(args.shape.format),
        yes: args.confirm.yes,
    })
}

#[derive(Serialize)]
struct Report<'a> {
    #[serde(flatten)]
    summary: &'a RunSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    verify: Option<&'a Verification>,
}

/// `simulate --dry-run`: the plan, stated on stdout as it would be before a run; nothing is sent.
pub(crate) fn dry_run(target: &Target, request: &Request) -> Result<Exit> {
    let plan = &request.plan;
    let statement = state(plan, typical_reading_bytes(), target.region().as_deref());
    if request.output == Some(OutputFormat::Json) {
        #[derive(serde::Serialize)]
        struct DryRun<'a> {
            devices: usize,
            rate_per_device: f64,
            readings: u64,
            estimated_bytes: u64,
            /// Firehose ingestion for the run, on AWS (null on the local target).
            usd: Option<f64>,
            /// The thresholds the run is over (a run would ask first, or need --yes).
            over: &'a [String],
            /// The span the readings' TIME covers, with --start.
            reading_times: Option<[String; 2]>,
            plan: &'a str,
        }
        let times = plan.timeline.as_ref().map(|t| {
            let (from, to) = t.window(plan.per_device);
            [from, to].map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        });
        let dry = DryRun {
            devices: plan.devices,
            rate_per_device: plan.rate,
            readings: statement.readings,
            estimated_bytes: statement.readings * typical_reading_bytes(),
            usd: statement.usd,
            over: &statement.over,
            reading_times: times,
            plan: &statement.line,
        };
        crate::output::line(&serde_json::to_string_pretty(&dry)?)?;
    } else {
        crate::output::line(&statement.line)?;
    }
    for over in &statement.over {
        crate::say!("over a threshold: {over} (a run would ask first, or need --yes)");
    }
    crate::say!("dry run: nothing was sent");
    Ok(Exit::Ok)
}

/// Runs a simulation (or a resend) on any target and prints the result; shared with `demo`.
pub(crate) fn run(target: &Target, request: &Request) -> Result<(Exit, RunSummary, Option<Verification>)> {
    let plan = &request.plan;
    let uses = Uses { sink: true, lake: plan.track, ..Uses::default() };
    let pipeline = target.open(&request.names, uses)?;
    if request.resend.is_none() {
        let region = target.region();
        let statement = state(plan, typical_reading_bytes(), region.as_deref());
        if !plan.quiet || !statement.over.is_empty() {
            crate::say!("{}", statement.line);
        }
        if !statement.over.is_empty() && !request.yes {
            let why = statement.over.join(" and ");
            if !std::io::stdin().is_terminal() {
                return Err(crate::invalid!(
                    "not started: {why} (the rate is per device). Pass --yes to run it, or raise \
                     --confirm-over-readings / --confirm-over-usd"
                ));
            }
            super::confirm(&format!("{why}: run it?"), "not started")?;
        }
    }
    let sink: Box<dyn RecordSink> = match &plan.mqtt {
        Some(access) => Box::new(MqttSink::new(pipeline.mqtt(access)?)?),
        None => pipeline.sink()?,
    };
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::Relaxed));
    let (summary, tracker) = match &request.resend {
        Some(file) => (resend(sink.as_ref(), file, plan)?, None),
        None => simulate(sink.as_ref(), plan)?,
    };
    drop(sink);
    let verification = match tracker {
        Some(tracker) => Some(verify(
            pipeline.lake(),
            pipeline.settings(),
            &tracker,
            request.verify_timeout,
            plan.concurrency.max(8),
        )?),
        None => None,
    };
    if let Some(format) = request.output {
        print(format, "simulate", &Report { summary: &summary, verify: verification.as_ref() })?;
    }
    if summary.not_made > 0 && summary.stopped_by.is_none() && !summary.interrupted {
        let planned = summary.sent + summary.not_made;
        crate::warning!(
            "the run ended at its duration behind the requested rate of {2}/s: {0} of {planned} readings made \
             ({1:.1}%); this machine or the stream could not keep up",
            summary.sent,
            100.0 * summary.sent as f64 / planned as f64,
            summary.target_rate
        );
    }
    if summary.not_written > 0 {
        crate::warning!(
            "the local lake could not be written: {} written, {} accepted but not written ({} in the spool, {} lost)",
            crate::output::count(summary.accepted - summary.not_written, "reading"),
            summary.not_written,
            summary.not_written - summary.lost,
            summary.lost
        );
    }
    if summary.spool_left_out > 0 {
        crate::warning!(
            "the spool file reached its limit (--spool-limit-mib): {} could not be kept and are lost",
            crate::output::count(summary.spool_left_out, "reading")
        );
    }
    let exit = if summary.lost > 0 && summary.failed == 0 {
        Exit::Incomplete
    } else if summary.failed > 0 {
        let spool = summary.spool_file.as_deref().unwrap_or("the spool file");
        // The resend goes where this run went: the same target, stack and the names given for it.
        let mut named = format!("--resend {spool}");
        for (flag, name) in [("--stream", &request.names.stream), ("--bucket", &request.names.bucket)] {
            if let Some(name) = name {
                named.push_str(&format!(" {flag} {name}"));
            }
        }
        let resend = target.place().command("simulate", &named);
        let unsent = crate::output::count(summary.failed, "reading");
        match &summary.stopped_by {
            Some(reason) => crate::warning!(
                "sending stopped: {reason}\n{unsent} could not be sent; they are in {spool} (send them with \
                 `{resend}` once that is fixed)"
            ),
            None => {
                let codes: Vec<String> = summary.errors.iter().map(|(code, n)| format!("{n} {code}")).collect();
                crate::warning!(
                    "{unsent} could not be sent after {} retries ({}); they are in {spool} (send them with \
                     `{resend}`)",
                    plan.retry.max_retries,
                    codes.join(", ")
                );
            }
        }
        Exit::Spooled
    } else if let Some(missing) = verification.as_ref().map(|v| v.missing).filter(|m| *m > 0) {
        let noun = if missing == 1 { "reading is" } else { "readings are" };
        crate::warning!("verify: {missing} accepted {noun} missing");
        Exit::Incomplete
    } else {
        Exit::Ok
    };
    Ok((exit, summary, verification))
}
