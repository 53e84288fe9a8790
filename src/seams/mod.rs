//! The seams between the commands and where the pipeline runs: a [`Pipeline`] (opened once from the global
//! flags) hands out a record sink (where simulate sends readings), an object lake (where report and verify read
//! objects), a log source (what logs reads) and the pipeline's names. The local target implements them on one
//! machine; the AWS target with Firehose, S3 and CloudWatch Logs. simulate, report and logs see only these.
//! What a message names is rendered here too, once for every target: a command as typed for the pipeline a
//! command ran on ([`Place::command`]) and an object's location in its lake ([`ObjectLake::location`]).

use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::settings::{DEFAULT_STACK, PipelineSettings};

pub(crate) mod batch;
pub(crate) mod endpoint;
pub mod vitals;

use crate::limits::SinkLimits;

/// A deployed pipeline as the data-plane commands use it, on any target.
pub trait Pipeline {
    /// Its names and prefixes.
    fn settings(&self) -> &PipelineSettings;
    /// Where readings are sent (the local target starts its delivery stream in this process).
    fn sink(&self) -> Result<Box<dyn RecordSink>>;
    /// Where devices publish over MQTT: IoT Core's data endpoint with each device's certificate, or the local
    /// broker (one started in this process when none is listening).
    fn mqtt(&self, access: &MqttAccess) -> Result<crate::seams::endpoint::Endpoint>;
    /// Where delivered objects are read.
    fn lake(&self) -> &dyn ObjectLake;
    /// Where log events are read.
    fn logs(&self) -> &dyn LogSource;
    /// Where the pipeline's vital signs are read.
    fn vitals(&self) -> &dyn VitalSource;
    /// The transform the pipeline's function runs ([`reaqtions_lambda::TRANSFORM_ID`] of its code), when known.
    fn transform_id(&self) -> Option<String>;
}

/// Names given for a pipeline deployed by other means (AWS: `--stream`, `--bucket`, `--log-group`), overriding
/// the stack's. When they name everything a command uses, the stack is not read at all, so a principal with
/// only its role's permissions (examples/iam/) can run it.
#[derive(Debug, Clone, Default)]
pub struct GivenNames {
    pub(crate) stream: Option<String>,
    pub(crate) bucket: Option<String>,
    /// The account expected to own `bucket` (`--bucket-owner`); by default the caller's.
    pub(crate) bucket_owner: Option<String>,
    pub(crate) log_group: Option<String>,
}

/// How devices reach the pipeline over MQTT.
#[derive(Debug, Clone, Default)]
pub struct MqttAccess {
    /// The local broker's address (default 127.0.0.1:1883).
    pub broker: Option<std::net::SocketAddr>,
    /// The directory `devices add` wrote the devices' certificates and keys into (AWS).
    pub devices_dir: std::path::PathBuf,
    /// How many devices will connect: `aq-0001` onwards must be registered (AWS).
    pub devices: usize,
    /// The CA to trust for the endpoint instead of the system's roots (AWS).
    pub ca_file: Option<std::path::PathBuf>,
    /// Connections the fleet may open per second (AWS: IoT Core's account quota; default the lowest region's).
    pub connects_per_second: Option<f64>,
}

/// The local target's data directory when none is given (`--data-dir`, `REAQTIONS_DATA_DIR`).
pub const DEFAULT_DATA_DIR: &str = ".reaqtions";

/// Which pipeline a command ran on, as the global flags name it: what a command printed for the user to run next
/// needs to reach the same pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The local target's data directory; `None` on AWS.
    pub(crate) data_dir: Option<PathBuf>,
    pub(crate) stack: String,
}

impl Place {
    /// The local target, its deployment `stack` under `data_dir`.
    pub fn local(data_dir: &Path, stack: &str) -> Place {
        Place { data_dir: Some(data_dir.to_owned()), stack: stack.to_owned() }
    }

    /// The AWS target's stack `stack` (the region and credentials are the user's configuration, not flags).
    pub fn aws(stack: &str) -> Place {
        Place { data_dir: None, stack: stack.to_owned() }
    }

    /// Whether this is the local target.
    pub fn is_local(&self) -> bool {
        self.data_dir.is_some()
    }

    /// The flags that pick this pipeline: `--local` on the local target, then `--data-dir` and `--stack` where
    /// they are not the defaults. `--local` is printed even when `REAQTIONS_LOCAL` chose the target: a printed
    /// command is copied into other shells, scripts and reports where the variable is not set, and the flag costs
    /// nothing where it is. The data directory and stack likewise, whether a flag or a variable named them.
    pub fn flags(&self) -> Vec<String> {
        let mut flags = Vec::new();
        if let Some(dir) = &self.data_dir {
            flags.push("--local".to_owned());
            if dir != Path::new(DEFAULT_DATA_DIR) {
                flags.push(format!("--data-dir {}", shell_word(&dir.display().to_string())));
            }
        }
        if self.stack != DEFAULT_STACK {
            flags.push(format!("--stack {}", shell_word(&self.stack)));
        }
        flags
    }

    /// `reaqtions <verb>`, this pipeline's flags, then `args` (already quoted for a shell), as the user would
    /// type it here: `place.command("logs", "--since 1h")` is `reaqtions logs --local --since 1h` locally.
    pub fn command(&self, verb: &str, args: &str) -> String {
        let mut words = vec!["reaqtions".to_owned(), verb.to_owned()];
        words.extend(self.flags());
        if !args.is_empty() {
            words.push(args.to_owned());
        }
        words.join(" ")
    }
}

/// `text` as one shell word: as it is when it holds only characters no shell treats specially, else in single
/// quotes.
fn shell_word(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// Which seams a command uses (the names it needs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Uses {
    pub(crate) sink: bool,
    pub(crate) lake: bool,
    pub(crate) logs: bool,
    /// The vital signs: judged against the deployment's settings, so the stack is always read.
    pub(crate) vitals: bool,
}

/// Why a sink refused a whole call or one entry: the service's code, a message that says what to do, and
/// whether retrying can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SinkError {
    pub(crate) code: String,
    pub(crate) message: String,
    /// No retry can help (a missing stream, a denial, bad or expired credentials): sending stops at once.
    pub(crate) permanent: bool,
}

impl SinkError {
    pub(crate) fn retryable(code: &str, message: impl Into<String>) -> SinkError {
        SinkError { code: code.to_owned(), message: message.into(), permanent: false }
    }

    pub(crate) fn permanent(code: &str, message: impl Into<String>) -> SinkError {
        SinkError { code: code.to_owned(), message: message.into(), permanent: true }
    }
}

/// Where readings are sent: a Firehose delivery stream, or the local one.
pub trait RecordSink: Send + Sync {
    /// What one call may carry.
    fn limits(&self) -> SinkLimits;

    /// Sends one batch (within [`limits`](Self::limits)). Returns, in request order, `None` for each accepted
    /// record and `Some(why)` for each the stream refused. `Err` means the whole call failed.
    fn put_record_batch(&self, records: &[Vec<u8>]) -> Result<Vec<Option<SinkError>>, SinkError>;

    /// Makes everything accepted so far durable (the local stream writes its buffers; Firehose needs nothing).
    fn flush(&self) -> Result<()>;

    /// When `flush` failed: the records accepted but not made durable, as they were sent (the local stream
    /// keeps them until their object is written). Firehose holds what it accepted: nothing.
    fn take_unwritten(&self) -> Vec<Vec<u8>> {
        Vec::new()
    }
}

/// One stored object.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectMeta {
    pub(crate) key: String,
    pub size: u64,
    pub(crate) last_modified: DateTime<Utc>,
}

/// Where delivered objects are read from: an S3 bucket, or the local directory lake.
pub trait ObjectLake: Send + Sync {
    /// The bucket name, for messages.
    fn bucket(&self) -> &str;
    /// Where the object `key` (or, for a prefix, the folder) is, as a message names it: `s3://bucket/key` in S3,
    /// the file's path in a directory lake, which overrides this.
    fn location(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket())
    }
    /// Every object whose key starts with `prefix`, in key order.
    fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>>;

    /// Objects under `prefix` whose key sorts after `after` (S3's StartAfter: the listing starts there).
    fn list_after(&self, prefix: &str, after: &str) -> Result<Vec<ObjectMeta>> {
        Ok(self.list(prefix)?.into_iter().filter(|o| o.key.as_str() > after).collect())
    }
    /// Whether any object's key starts with `prefix` (a lake overrides it to stop at the first).
    fn holds_any(&self, prefix: &str) -> Result<bool> {
        Ok(!self.list(prefix)?.is_empty())
    }
    /// One object's bytes.
    fn get(&self, key: &str) -> Result<Vec<u8>>;
    /// Writes an object (what `reprocess` writes back under the error prefix).
    fn put(&self, key: &str, bytes: &[u8]) -> Result<()>;
    /// Removes an object (on a versioned bucket, its versions stay until they expire).
    fn delete(&self, key: &str) -> Result<()>;
}

/// One log event.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEvent {
    pub(crate) timestamp: DateTime<Utc>,
    pub(crate) message: String,
}

/// Where log events are read from: CloudWatch Logs, or the local log files.
pub trait LogSource {
    /// Events of `group` in [since, until), oldest first, whose text contains `filter`.
    fn events(
        &self,
        group: &str,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        filter: Option<&str>,
    ) -> Result<Vec<LogEvent>>;
}

/// Where the pipeline's vital signs come from: CloudWatch, or the local stream's per-minute counters.
pub trait VitalSource {
    /// Each series over the window, one value per period, and the alarms firing now.
    fn vitals(&self, window: &crate::seams::vitals::Window) -> Result<crate::seams::vitals::Vitals>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_carries_the_flags_that_reach_its_pipeline() {
        let default = Place::local(Path::new(DEFAULT_DATA_DIR), DEFAULT_STACK);
        assert_eq!(default.command("logs", ""), "reaqtions logs --local");
        assert_eq!(default.command("logs", "--since 1h"), "reaqtions logs --local --since 1h");
        let other = Place::local(Path::new("/tmp/my lab"), "lab");
        assert_eq!(other.command("reprocess", ""), "reaqtions reprocess --local --data-dir '/tmp/my lab' --stack lab");
        assert_eq!(Place::aws(DEFAULT_STACK).command("reprocess", "--dry-run"), "reaqtions reprocess --dry-run");
        assert_eq!(Place::aws("prod").command("logs", ""), "reaqtions logs --stack prod");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }
}
