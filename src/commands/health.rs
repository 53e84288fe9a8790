//! `health`: the window validated before any call, the vitals from the target's source, judged and printed
//! (a table with sparklines, or one JSON object); exit 5 when degraded.

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::{Exit, Target};
use crate::cli::HealthArgs;
use crate::health::{Verdict, assess_at, render};
use crate::output::{OutputFormat, line};
use crate::target::vitals::{Thresholds, Window};
use crate::target::{Names, Place, Uses};

pub(crate) struct Request {
    pub(crate) since: DateTime<Utc>,
    /// The window's end (now unless --until).
    pub(crate) until: Option<DateTime<Utc>>,
    pub(crate) output: OutputFormat,
}

pub(crate) fn request(args: &HealthArgs) -> Result<Request> {
    let since = super::parse_time(args.window.since.as_deref().unwrap_or(crate::cli::HEALTH_SINCE))?;
    let until = args.window.until.as_deref().map(super::parse_time).transpose()?;
    Window::since(since, until.unwrap_or_else(Utc::now))?;
    Ok(Request { since, until, output: args.shape.format })
}

pub(crate) fn run(target: &Target, request: &Request) -> Result<Exit> {
    let window = Window::since(request.since, request.until.unwrap_or_else(Utc::now))?;
    let pipeline = target.open(&Names::default(), Uses { vitals: true, ..Uses::default() })?;
    let settings = pipeline.settings();
    let vitals = pipeline.vitals().vitals(&window)?;
    // The hints are typed for this pipeline: its data directory (when not the default) and stack.
    let place = match target {
        Target::Local(local) => Place::local(local.root(), &settings.stack),
        Target::Aws { .. } => Place::aws(&settings.stack),
    };
    let health = assess_at(&place, window, vitals, Thresholds::of(settings));
    match request.output {
        OutputFormat::Json => line(&serde_json::to_string_pretty(&health)?)?,
        OutputFormat::Table => line(&render::table(&health))?,
    }
    Ok(if health.verdict == Verdict::Degraded { Exit::Degraded } else { Exit::Ok })
}
