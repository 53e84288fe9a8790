//! `logs`: the transformation function's log events (or the delivery-error group), optionally followed; as lines
//! of text, or with `--format json` one JSON object per event and line (a stream of them has no end to close).

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::{Exit, Target};
use crate::cli::LogsArgs;
use crate::seams::{GivenNames, LogSource, Uses};

/// The window without `--since`: the last ten minutes before `--until` (or now), as `aws logs tail` reads.
pub(crate) const DEFAULT_WINDOW: chrono::Duration = chrono::Duration::minutes(10);

/// Between polls with --follow (CloudWatch allows a few FilterLogEvents calls per second per account).
const FOLLOW_POLL: Duration = Duration::from_secs(1);

/// Which events to print, validated.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) since: Option<DateTime<Utc>>,
    pub(crate) until: Option<DateTime<Utc>>,
    pub(crate) follow: bool,
    pub(crate) filter: Option<String>,
    /// The Firehose delivery-error log group instead of the function's.
    pub(crate) delivery: bool,
    /// The log group, named (the stack is then not read).
    pub(crate) log_group: Option<String>,
    /// Each event as a JSON object on its line instead of a line of text.
    pub(crate) json: bool,
}

pub(crate) fn request(args: &LogsArgs) -> Result<Request> {
    let (since, until) = super::window(args.window.since.as_deref(), args.window.until.as_deref())?;
    let since = match since {
        Some(since) => since,
        None => {
            crate::say!("logs: the last 10 minutes (--since 1h, or a time, reads further back)");
            until.unwrap_or_else(Utc::now) - DEFAULT_WINDOW
        }
    };
    let since = Some(since);
    Ok(Request {
        since,
        until,
        follow: args.follow,
        filter: args.filter.clone(),
        delivery: args.delivery,
        log_group: args.log_group.clone(),
        json: args.shape.format == crate::output::OutputFormat::Json,
    })
}

pub(crate) fn run(target: &Target, request: &Request) -> Result<Exit> {
    let names = GivenNames { log_group: request.log_group.clone(), ..GivenNames::default() };
    let pipeline = target.open(&names, Uses { logs: true, ..Uses::default() })?;
    let settings = pipeline.settings();
    let group = match &request.log_group {
        Some(group) => group.clone(),
        None if request.delivery => format!("/aws/kinesisfirehose/{}", settings.stream),
        None => settings.log_group.clone(),
    };
    print_events(pipeline.logs(), &group, request)
}

/// Prints events of `group` from any log source; with `--follow`, polls for new ones until interrupted.
pub(crate) fn print_events(source: &dyn LogSource, group: &str, request: &Request) -> Result<Exit> {
    let mut since = request.since;
    let mut printed_at_last_time: HashSet<String> = HashSet::new();
    loop {
        let events = source.events(group, since, request.until, request.filter.as_deref())?;
        for event in &events {
            // Events at the boundary time were printed by the previous poll.
            if Some(event.timestamp) == since && printed_at_last_time.contains(&event.message) {
                continue;
            }
            let time = event.timestamp.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            let line = if request.json {
                serde_json::json!({"timestamp": time, "message": event.message}).to_string()
            } else {
                format!("{time} {}", event.message)
            };
            crate::output::line(&line)?;
        }
        if !request.follow {
            if events.is_empty() {
                crate::say!("no log events in {group}");
            }
            return Ok(Exit::Ok);
        }
        if let Some(last) = events.last().map(|e| e.timestamp) {
            if since != Some(last) {
                printed_at_last_time.clear();
            }
            since = Some(last);
            printed_at_last_time.extend(events.iter().filter(|e| e.timestamp == last).map(|e| e.message.clone()));
        }
        std::thread::sleep(FOLLOW_POLL);
    }
}
