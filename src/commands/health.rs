//! `health`: the window validated before any call, the vitals from the target's source, judged and printed
//! (a table with sparklines, or one JSON object); exit 5 when degraded.

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::{Exit, Target};
use crate::cli::HealthArgs;
use crate::health::{Verdict, assess_at, render};
use crate::output::{OutputFormat, line};
use crate::seams::vitals::{Keeping, Thresholds, Window};
use crate::seams::{GivenNames, Uses};

pub(crate) struct Request {
    pub(crate) since: DateTime<Utc>,
    /// The window's end (now unless --until).
    pub(crate) until: Option<DateTime<Utc>>,
    pub(crate) output: OutputFormat,
}

/// The window, checked as every verb checks one ([`super::window`]); its span is checked by the target that keeps
/// the data, in [`run`].
pub(crate) fn request(args: &HealthArgs) -> Result<Request> {
    let since = args.window.since.as_deref().unwrap_or(crate::cli::HEALTH_SINCE);
    let (since, until) = super::window(Some(since), args.window.until.as_deref())?;
    let since = since.expect("given or defaulted");
    let now = Utc::now();
    if until.is_none() && since >= now {
        return Err(crate::invalid!("--since ({}) is not in the past", since.to_rfc3339()));
    }
    Ok(Request { since, until, output: args.shape.format })
}

pub(crate) fn run(target: &Target, request: &Request) -> Result<Exit> {
    // CloudWatch's retention bounds a window on AWS; the local counters are kept every minute, as long as the data
    // directory is. The window is widened to whole periods, and the table's header says which it used.
    let keeping = match target {
        Target::Local(_) => Keeping::EveryMinute,
        Target::Aws { .. } => Keeping::CloudWatch,
    };
    let now = Utc::now();
    let window = Window::over(request.since, request.until.unwrap_or(now), now, keeping)?;
    let pipeline = target.open(&GivenNames::default(), Uses { vitals: true, ..Uses::default() })?;
    let settings = pipeline.settings();
    let vitals = pipeline.vitals().vitals(&window)?;
    // The hints are typed for this pipeline: its data directory (when not the default) and stack.
    let health = assess_at(&target.place(), window, vitals, Thresholds::of(settings));
    match request.output {
        OutputFormat::Json => line(&serde_json::to_string_pretty(&health)?)?,
        OutputFormat::Table => line(&render::table(&health))?,
    }
    Ok(if health.verdict == Verdict::Degraded { Exit::Degraded } else { Exit::Ok })
}
