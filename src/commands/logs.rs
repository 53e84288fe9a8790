//! `logs`: the transformation function's log events (or the delivery-error group), optionally followed.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Result;

use super::{Exit, Target, aws_settings, parse_time};
use crate::aws::logs::CloudWatchLogs;
use crate::cli::LogsArgs;
use crate::target::LogSource;

/// Between polls with --follow (CloudWatch allows a few FilterLogEvents calls per second per account).
const FOLLOW_POLL: Duration = Duration::from_secs(1);

pub fn run(target: &Target, args: &LogsArgs) -> Result<Exit> {
    let group_of = |settings: &crate::settings::PipelineSettings| {
        if args.delivery { format!("/aws/kinesisfirehose/{}", settings.stream) } else { settings.log_group.clone() }
    };
    match target {
        Target::Local(local) => {
            let deployment = local.require()?;
            print_events(&local.logs(), &group_of(&deployment.settings), args)
        }
        Target::Aws { aws, stack } => {
            let settings = aws_settings(aws, stack, &Default::default())?.settings;
            print_events(&CloudWatchLogs::new(aws.logs(), aws.handle()), &group_of(&settings), args)
        }
    }
}

/// Prints events of `group` from any log source; with `--follow`, polls for new ones until interrupted.
pub fn print_events(source: &dyn LogSource, group: &str, args: &LogsArgs) -> Result<Exit> {
    let mut since = args.since.as_deref().map(parse_time).transpose()?;
    let mut printed_at_last_time: HashSet<String> = HashSet::new();
    loop {
        let events = source.events(group, since, args.filter.as_deref())?;
        for event in &events {
            // Events at the boundary time were printed by the previous poll.
            if Some(event.timestamp) == since && printed_at_last_time.contains(&event.message) {
                continue;
            }
            println!("{} {}", event.timestamp.to_rfc3339_opts(chrono::SecondsFormat::Millis, true), event.message);
        }
        if !args.follow {
            if events.is_empty() {
                eprintln!("no log events in {group}");
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
