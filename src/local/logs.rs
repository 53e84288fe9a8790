//! Local log groups: one file of JSON lines per group, written by the local pipeline, read by `logs --local`.

use std::fs::{self, OpenOptions};
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context as _, Result};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::seams::{LogEvent, LogSource};

#[derive(Debug)]
pub(crate) struct LogFiles {
    dir: PathBuf,
    lock: Mutex<()>,
}

impl LogFiles {
    pub(crate) fn new(dir: &Path) -> Self {
        LogFiles { dir: dir.to_owned(), lock: Mutex::new(()) }
    }

    /// `/aws/lambda/x` → `<dir>/aws.lambda.x.log`.
    pub(crate) fn path_of(&self, group: &str) -> PathBuf {
        self.dir.join(format!("{}.log", group.trim_start_matches('/').replace('/', ".")))
    }

    /// Appends events (each a message plus structured fields) to a group.
    pub(crate) fn append(&self, group: &str, events: &[(&str, &str, Map<String, Value>)]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        fs::create_dir_all(&self.dir).with_context(|| format!("cannot create {}", self.dir.display()))?;
        let path = self.path_of(group);
        let mut text = String::new();
        let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        for (level, message, fields) in events {
            let mut line = json!({"timestamp": now, "level": level, "message": message});
            line.as_object_mut().expect("object").extend(fields.clone());
            text.push_str(&line.to_string());
            text.push('\n');
        }
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .with_context(|| format!("cannot append to log file {}", path.display()))
    }
}

/// `2026-11-25T21:00:00.123Z INFO batch transformed records=3 ok=2`
fn render(line: &Value) -> Option<LogEvent> {
    let obj = line.as_object()?;
    let timestamp: DateTime<Utc> = obj.get("timestamp")?.as_str()?.parse().ok()?;
    let mut message = format!(
        "{} {}",
        obj.get("level").and_then(Value::as_str).unwrap_or("INFO"),
        obj.get("message").and_then(Value::as_str).unwrap_or("")
    );
    for (k, v) in obj.iter().filter(|(k, _)| !matches!(k.as_str(), "timestamp" | "level" | "message")) {
        match v {
            Value::String(s) => message.push_str(&format!(" {k}={s}")),
            other => message.push_str(&format!(" {k}={other}")),
        }
    }
    Some(LogEvent { timestamp, message })
}

impl LogSource for LogFiles {
    fn events(
        &self,
        group: &str,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        filter: Option<&str>,
    ) -> Result<Vec<LogEvent>> {
        let path = self.path_of(group);
        let file = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("cannot read log file {}", path.display())),
        };
        let mut events = Vec::new();
        for line in BufReader::new(file).lines() {
            let line = line.with_context(|| format!("cannot read log file {}", path.display()))?;
            let Some(event) = serde_json::from_str(&line).ok().as_ref().and_then(render) else { continue };
            let outside = since.is_some_and(|s| event.timestamp < s) || until.is_some_and(|u| event.timestamp >= u);
            if outside || filter.is_some_and(|f| !event.message.contains(f)) {
                continue;
            }
            events.push(event);
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_then_read_with_filter_and_since() {
        let dir = tempfile::tempdir().unwrap();
        let logs = LogFiles::new(dir.path());
        let group = "/aws/lambda/reaqtions-data-transformation";
        let fields: Map<String, Value> = serde_json::from_str(r#"{"records":3,"record_id":"r1"}"#).unwrap();
        logs.append(group, &[("INFO", "batch transformed", fields.clone()), ("WARN", "record failed", fields)])
            .unwrap();
        assert!(logs.path_of(group).ends_with("aws.lambda.reaqtions-data-transformation.log"));
        let all = logs.events(group, None, None, None).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].message, "INFO batch transformed records=3 record_id=r1");
        assert_eq!(logs.events(group, None, None, Some("failed")).unwrap().len(), 1);
        let later = Utc::now() + chrono::Duration::hours(1);
        assert!(logs.events(group, Some(later), None, None).unwrap().is_empty());
        assert_eq!(logs.events(group, None, Some(later), None).unwrap().len(), 2);
        assert!(logs.events(group, None, Some(all[0].timestamp), None).unwrap().is_empty(), "until is exclusive");
        assert!(logs.events("/no/such/group", None, None, None).unwrap().is_empty());
    }
}
