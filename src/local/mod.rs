//! The local target: the whole pipeline on one machine, under one data directory, one deployment per stack as
//! on AWS (`--stack` picks it; without it the stack is `reaqtions`):
//!
//! ```text
//! <data-dir>/stacks/<stack>/deployment.json   what `deploy --local` recorded for that stack
//! <data-dir>/stacks/<stack>/stream.json       what its delivery stream received over every run (`status`)
//! <data-dir>/stacks/<stack>/metrics.jsonl     its streams' per-minute counters (`health`)
//! <data-dir>/lake/<bucket>/                   each stack's objects, same keys as S3
//! <data-dir>/logs/<group>.log                 one JSON-lines file per log group
//! ```
//!
//! Lakes and logs sit beside each other rather than under the stack because their names already tell stacks
//! apart: the bucket defaults to `<stack>-iot-data-lake-raw` and the log group is `/aws/lambda/<stack>-…`, and
//! deploy refuses a bucket another local stack records, so tearing one stack down never touches another's data.
//! A data directory written before stacks had folders holds one `<data-dir>/deployment.json` (with `stream.json`
//! and `metrics.jsonl` beside it): that record is the deployment of the stack it names, read where it is until
//! that stack's next deploy moves the three files into `stacks/<stack>/`. The delivery stream runs inside the
//! process that sends.

pub(crate) mod broker;
pub(crate) mod lake;
pub(crate) mod logs;
pub(crate) mod metrics;
pub(crate) mod partitions;
pub(crate) mod stream;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::seams::endpoint::{DeviceAuth, Endpoint};
use crate::seams::{LogSource, MqttAccess, ObjectLake, Pipeline, RecordSink, VitalSource};
use crate::settings::{DEFAULT_STACK, PipelineSettings};
use lake::DirLake;
use logs::LogFiles;
use stream::LocalStream;

/// The region name local ARNs carry.
pub(crate) const REGION: &str = "local";

/// A local ARN in Firehose's or Lambda's shape.
pub(crate) fn arn(service: &str, resource: &str) -> String {
    format!("arn:aws:{service}:{REGION}:000000000000:{resource}")
}

/// What `deploy --local` records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    pub settings: PipelineSettings,
    /// The delivery stream's version id: 1 at creation, +1 at every update (it appears in object names).
    pub(crate) version: u32,
    /// The transform the local function runs.
    pub(crate) transform: String,
    pub(crate) created: DateTime<Utc>,
    pub(crate) updated: DateTime<Utc>,
}

/// What a deploy did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployChange {
    Created,
    Updated,
    UpToDate,
}

/// What a deploy recorded: the change, the record, and where an old-layout record was moved from.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub change: DeployChange,
    pub deployment: Deployment,
    /// The data directory's old `deployment.json`, when this deploy moved it into the stack's folder.
    pub moved_from: Option<PathBuf>,
}

/// The folder of every stack's own files, under the data directory.
const STACKS: &str = "stacks";
/// A stack's deployment record, in its folder (and, in the old layout, at the data directory's top).
const RECORD: &str = "deployment.json";
/// What a stack's delivery stream received over every run.
const STREAM_TOTALS: &str = "stream.json";
/// A stack's per-minute stream counters.
const METRICS: &str = "metrics.jsonl";
/// The folder of every log group's file, beside the stacks' folders (group names tell stacks apart).
const LOGS: &str = "logs";

/// The local target rooted at a data directory, scoped to one stack.
#[derive(Debug, Clone)]
pub struct LocalTarget {
    root: PathBuf,
    stack: String,
}

fn transform_identity() -> String {
    format!("reaqtions-lambda {} (linked into reaqtions)", env!("CARGO_PKG_VERSION"))
}

/// The record at `path`, if there is one.
fn read_record(path: &Path) -> Result<Option<Deployment>> {
    match fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .with_context(|| format!("local deployment record {} is corrupt", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// The stack an old-layout record names (None when there is none, or it cannot be read: listing stays possible,
/// and reading the record itself reports the fault).
fn legacy_stack(root: &Path) -> Option<String> {
    let text = fs::read(root.join(RECORD)).ok()?;
    let record: serde_json::Value = serde_json::from_slice(&text).ok()?;
    record["settings"]["stack"].as_str().map(str::to_owned)
}

/// Removes `path`; a file already gone is fine.
fn remove_file(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot delete {}", path.display()))
        }
        _ => Ok(()),
    }
}

impl LocalTarget {
    /// The default stack's deployment under the data directory `root`.
    pub fn new(root: &Path) -> Self {
        LocalTarget { root: root.to_owned(), stack: DEFAULT_STACK.to_owned() }
    }

    /// Stack `stack`'s deployment under the data directory `root`. The name becomes a folder: a stack name
    /// (the one rule on every target) is a plain one.
    pub fn of_stack(root: &Path, stack: &str) -> Result<Self> {
        crate::settings::validate_stack(stack)?;
        Ok(LocalTarget { root: root.to_owned(), stack: stack.to_owned() })
    }

    /// The same data directory, scoped to stack `stack`.
    pub(crate) fn with_stack(&self, stack: &str) -> Result<Self> {
        Self::of_stack(&self.root, stack)
    }

    /// The data directory.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The stack this target reads and records.
    pub(crate) fn stack(&self) -> &str {
        &self.stack
    }

    /// Where this stack's own files go: `<data-dir>/stacks/<stack>`.
    fn stack_dir(&self) -> PathBuf {
        self.root.join(STACKS).join(&self.stack)
    }

    /// Where this stack's record is written (an old-layout record moves there on the stack's next deploy).
    pub(crate) fn record_path(&self) -> PathBuf {
        self.stack_dir().join(RECORD)
    }

    /// This stack's record and the folder it is in: its own folder, or the data directory itself while the
    /// stack's record is still the old layout's (one the stack's own folder has not replaced).
    fn locate(&self) -> Result<Option<(PathBuf, Deployment)>> {
        let own = self.stack_dir();
        if let Some(deployment) = read_record(&own.join(RECORD))? {
            return Ok(Some((own, deployment)));
        }
        match read_record(&self.root.join(RECORD))? {
            Some(legacy) if legacy.settings.stack == self.stack => Ok(Some((self.root.clone(), legacy))),
            _ => Ok(None),
        }
    }

    /// The folder holding this stack's record and counters (see [`locate`](Self::locate)); the stack's own
    /// folder when it has no record yet.
    fn dir(&self) -> PathBuf {
        match self.locate() {
            Ok(Some((dir, _))) => dir,
            _ => self.stack_dir(),
        }
    }

    pub fn lake(&self, bucket: &str) -> DirLake {
        DirLake::new(&self.root.join("lake"), bucket)
    }

    pub(crate) fn logs(&self) -> LogFiles {
        LogFiles::new(&self.root.join(LOGS))
    }

    /// This stack's deployment, if it has one here.
    pub(crate) fn load(&self) -> Result<Option<Deployment>> {
        Ok(self.locate()?.map(|(_, deployment)| deployment))
    }

    /// The stacks deployed in this data directory, sorted: each folder of `stacks/` holding a record, and the
    /// stack the old-layout record names.
    pub(crate) fn stacks(&self) -> Result<Vec<String>> {
        let mut names = std::collections::BTreeSet::new();
        let dir = self.root.join(STACKS);
        match fs::read_dir(&dir) {
            Ok(entries) => {
                for entry in entries {
                    let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if crate::settings::validate_stack(&name).is_ok() && entry.path().join(RECORD).is_file() {
                        names.insert(name);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot list {}", dir.display())),
        }
        names.extend(legacy_stack(&self.root));
        Ok(names.into_iter().collect())
    }

    /// Says that this stack has no deployment here, with the command that makes one when `how` is set, and
    /// which stacks there are instead.
    pub(crate) fn not_deployed(&self, how: bool) -> String {
        let mut said = format!("no local deployment of stack {} in {}", self.stack, self.root.display());
        if how {
            let flag = if self.stack == DEFAULT_STACK { String::new() } else { format!(" --stack {}", self.stack) };
            said.push_str(&format!(": run `reaqtions deploy --local{flag}` first"));
        }
        if let Ok(stacks) = self.stacks()
            && !stacks.is_empty()
        {
            said.push_str(&format!("; deployed here: {} (pick one with --stack)", stacks.join(", ")));
        }
        said
    }

    /// The deployment, or an error telling how to create one.
    pub(crate) fn require(&self) -> Result<Deployment> {
        self.load()?.with_context(|| self.not_deployed(true))
    }

    /// Refuses settings whose bucket another local stack records: a teardown with `--delete-data` deletes the
    /// whole bucket, so each stack's lake is its own, as a bucket belongs to one stack on AWS. (Log groups are
    /// named after the stack, so they never meet.)
    pub(crate) fn check_apart(&self, settings: &PipelineSettings) -> Result<()> {
        for other in self.stacks()?.iter().filter(|s| **s != self.stack) {
            let Some(theirs) = self.with_stack(other)?.load()? else { continue };
            if theirs.settings.bucket == settings.bucket {
                return Err(crate::invalid!(
                    "bucket {} is the lake of local stack {other} (at {}): stack {} needs a bucket of its own \
                     (pass another --bucket, or leave it out for {}-iot-data-lake-raw)",
                    settings.bucket,
                    self.lake(&settings.bucket).root().display(),
                    self.stack,
                    self.stack
                ));
            }
        }
        Ok(())
    }

    /// Records the deployment: creates it, updates it when the settings changed, or does nothing. A record still
    /// in the old layout moves into the stack's folder first, with its counters.
    pub fn deploy(&self, settings: &PipelineSettings) -> Result<Recorded> {
        if settings.stack != self.stack {
            anyhow::bail!(
                "the settings of stack {} cannot be recorded as local stack {}'s deployment",
                settings.stack,
                self.stack
            );
        }
        self.check_apart(settings)?;
        let found = self.locate()?;
        let moved_from = match &found {
            Some((dir, _)) if *dir == self.root => Some(self.move_legacy()?),
            _ => None,
        };
        let now = Utc::now();
        let (change, deployment) = match found.map(|(_, d)| d) {
            Some(d) if d.settings == *settings && d.transform == transform_identity() => {
                return Ok(Recorded { change: DeployChange::UpToDate, deployment: d, moved_from });
            }
            Some(d) => (
                DeployChange::Updated,
                Deployment {
                    settings: settings.clone(),
                    version: d.version + 1,
                    transform: transform_identity(),
                    updated: now,
                    ..d
                },
            ),
            None => (
                DeployChange::Created,
                Deployment {
                    settings: settings.clone(),
                    version: 1,
                    transform: transform_identity(),
                    created: now,
                    updated: now,
                },
            ),
        };
        let dir = self.stack_dir();
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join(RECORD);
        let tmp = path.with_extension("json.tmp");
        fs::write(&tmp, serde_json::to_vec_pretty(&deployment)?)
            .and_then(|()| fs::rename(&tmp, &path))
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Recorded { change, deployment, moved_from })
    }

    /// Moves the old-layout record of this stack and its counters into the stack's folder, each by a rename.
    /// The counters go first and the record last: until the record has moved, the data directory's top is still
    /// where the stack is read, and the record itself is never copied, so it is never lost or doubled. A counter
    /// file the folder already has is left where it is (named in a warning) rather than overwritten.
    fn move_legacy(&self) -> Result<PathBuf> {
        let dir = self.stack_dir();
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for name in [STREAM_TOTALS, METRICS, RECORD] {
            let (from, to) = (self.root.join(name), dir.join(name));
            if !from.exists() {
                continue;
            }
            if to.exists() {
                crate::warning!("{} was not moved: {} already exists", from.display(), to.display());
                continue;
            }
            fs::rename(&from, &to).with_context(|| format!("cannot move {} to {}", from.display(), to.display()))?;
        }
        Ok(self.root.join(RECORD))
    }

    /// Removes this stack's record and counters (and, with `delete_data`, its bucket and log file); another
    /// stack's are never touched. None if this stack had no deployment here.
    pub(crate) fn teardown(&self, delete_data: bool) -> Result<Option<Deployment>> {
        let Some((dir, deployment)) = self.locate()? else { return Ok(None) };
        if delete_data {
            self.lake(&deployment.settings.bucket).delete_all()?;
            remove_file(&self.logs().path_of(&deployment.settings.log_group))?;
            // The folder goes with the last stack's log file; another stack's files keep it.
            let _ = fs::remove_dir(self.root.join(LOGS));
        }
        // The record last: a teardown cut short leaves a deployment that a second teardown finds.
        for name in [STREAM_TOTALS, METRICS, RECORD] {
            remove_file(&dir.join(name))?;
        }
        if dir != self.root {
            // Only when empty: whatever else someone put there stays.
            let _ = fs::remove_dir(&dir);
        }
        Ok(Some(deployment))
    }

    /// The deployed pipeline, for simulate, report and logs.
    pub fn open(&self) -> Result<LocalPipeline> {
        let deployment = self.require()?;
        Ok(LocalPipeline {
            lake: self.lake(&deployment.settings.bucket),
            logs: self.logs(),
            vitals: metrics::LocalVitals { path: self.metrics_path() },
            target: self.clone(),
            deployment,
        })
    }

    /// Starts the deployment's delivery stream in this process; what it receives is added to the totals.
    pub fn start_stream(&self, deployment: &Deployment) -> Result<LocalStream> {
        LocalStream::start_recording(
            &deployment.settings,
            deployment.version,
            self.lake(&deployment.settings.bucket),
            self.logs(),
            Some(self.stream_totals_path()),
        )
        .map(|stream| stream.counting_minutes(self.metrics_path()))
    }

    /// The running streams' per-minute counters (`metrics.jsonl`), what `health` reads.
    pub(crate) fn metrics_path(&self) -> PathBuf {
        self.dir().join(METRICS)
    }

    /// What the delivery stream received over every run (`stream.json`).
    pub(crate) fn stream_totals_path(&self) -> PathBuf {
        self.dir().join(STREAM_TOTALS)
    }
}

/// Where the local broker listens unless told otherwise.
pub(crate) const DEFAULT_BROKER: std::net::SocketAddr =
    std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), crate::mqtt::PLAIN_PORT);

/// The local deployment behind the [`Pipeline`] seam: the directory lake, the log files, and a delivery stream
/// started in this process when a sink is asked for (dropping it flushes what it accepted).
pub struct LocalPipeline {
    target: LocalTarget,
    deployment: Deployment,
    lake: DirLake,
    logs: LogFiles,
    vitals: metrics::LocalVitals,
}

impl Pipeline for LocalPipeline {
    fn settings(&self) -> &PipelineSettings {
        &self.deployment.settings
    }

    fn sink(&self) -> Result<Box<dyn RecordSink>> {
        Ok(Box::new(self.target.start_stream(&self.deployment)?))
    }

    fn mqtt(&self, access: &MqttAccess) -> Result<Endpoint> {
        let addr = access.broker.unwrap_or(DEFAULT_BROKER);
        let stack = &self.deployment.settings.stack;
        let started = if broker::listening(addr) {
            tracing::info!("publishing to the broker listening on {addr}");
            None
        } else {
            tracing::info!("no broker listening on {addr}: starting one in this process");
            Some(broker::LocalBroker::start(addr, stack, self.target.start_stream(&self.deployment)?)?)
        };
        Ok(Endpoint {
            host: addr.ip().to_string(),
            port: started.as_ref().map_or(addr.port(), |b| b.addr.port()),
            stack: stack.clone(),
            identity: DeviceAuth::None,
            hint: format!("start it with `reaqtions --local broker --listen {addr}`"),
            broker: started.map(|b| Box::new(b) as Box<dyn crate::seams::endpoint::Settle>),
            // One machine's broker takes connections as fast as they come.
            connects_per_second: None,
        })
    }

    fn lake(&self) -> &dyn ObjectLake {
        &self.lake
    }

    fn logs(&self) -> &dyn LogSource {
        &self.logs
    }

    fn vitals(&self) -> &dyn VitalSource {
        &self.vitals
    }

    /// The local stream runs in this process: its transform is this binary's.
    fn transform_id(&self) -> Option<String> {
        Some(reaqtions_lambda::TRANSFORM_ID.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stack_name_that_is_a_path_names_no_local_deployment() {
        let root = Path::new("data");
        for name in ["", "..", ".hidden", "a/b", "a\\b", "-x"] {
            let e = LocalTarget::of_stack(root, name).unwrap_err().to_string();
            assert!(e.contains(&format!("{name:?}")), "{e}");
        }
        let target = LocalTarget::of_stack(root, "other-2").unwrap();
        assert_eq!(target.record_path(), root.join("stacks/other-2/deployment.json"));
        assert_eq!(LocalTarget::new(root).stack(), DEFAULT_STACK);
    }
}
