//! CloudWatch Logs: FilterLogEvents (paginated) as a [`LogSource`].

use anyhow::{Result, anyhow};
use aws_sdk_cloudwatchlogs::Client;
use chrono::{DateTime, Utc};
use tokio::runtime::Handle;

use crate::seams::{LogEvent, LogSource};

pub(crate) struct CloudWatchLogs {
    client: Client,
    runtime: Handle,
}

impl CloudWatchLogs {
    pub(crate) fn new(client: Client, runtime: Handle) -> Self {
        CloudWatchLogs { client, runtime }
    }
}

impl LogSource for CloudWatchLogs {
    fn events(
        &self,
        group: &str,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        filter: Option<&str>,
    ) -> Result<Vec<LogEvent>> {
        self.runtime.block_on(async {
            let mut request = self.client.filter_log_events().log_group_name(group);
            if let Some(since) = since {
                request = request.start_time(since.timestamp_millis());
            }
            // FilterLogEvents' end time is exclusive, as `until` is.
            if let Some(until) = until {
                request = request.end_time(until.timestamp_millis());
            }
            if let Some(text) = filter {
                // A quoted term matches the text exactly, punctuation included.
                request = request.filter_pattern(format!("\"{}\"", text.replace('"', "")));
            }
            let mut pages = request.into_paginator().send();
            let mut events = Vec::new();
            while let Some(page) = pages.next().await {
                let page = match page {
                    Ok(p) => p,
                    Err(e) if super::error::judge(&e) == crate::error::Kind::NotFound => {
                        return Err(anyhow!("log group {group} does not exist"));
                    }
                    Err(e) => return Err(super::fail(format!("cannot read log group {group}"))(e)),
                };
                for e in page.events() {
                    let timestamp = e.timestamp().and_then(DateTime::from_timestamp_millis).unwrap_or_else(Utc::now);
                    events.push(LogEvent { timestamp, message: e.message().unwrap_or_default().trim_end().to_owned() });
                }
            }
            events.sort_by_key(|e| e.timestamp);
            Ok(events)
        })
    }
}
