//! The local target: the whole pipeline on one machine, under one data directory —
//! `deployment.json` (what `deploy --local` recorded), `lake/<bucket>/` (the objects, same keys as S3),
//! `logs/` (one JSON-lines file per log group). The delivery stream runs inside the process that sends.

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

use crate::settings::PipelineSettings;
use crate::target::endpoint::{DeviceAuth, Endpoint};
use crate::target::{LogSource, MqttAccess, ObjectLake, Pipeline, RecordSink, VitalSource};
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

/// The local target rooted at a data directory.
#[derive(Debug, Clone)]
pub struct LocalTarget {
    root: PathBuf,
}

fn transform_identity() -> String {
    format!("reaqtions-lambda {} (linked into reaqtions)", env!("CARGO_PKG_VERSION"))
}

impl LocalTarget {
    pub fn new(root: &Path) -> Self {
        LocalTarget { root: root.to_owned() }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    fn deployment_path(&self) -> PathBuf {
        self.root.join("deployment.json")
    }

    pub fn lake(&self, bucket: &str) -> DirLake {
        DirLake::new(&self.root.join("lake"), bucket)
    }

    pub(crate) fn logs(&self) -> LogFiles {
        LogFiles::new(&self.root.join("logs"))
    }

    pub(crate) fn load(&self) -> Result<Option<Deployment>> {
        let path = self.deployment_path();
        match fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .with_context(|| format!("local deployment record {} is corrupt", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// The deployment, or an error telling how to create one.
    pub(crate) fn require(&self) -> Result<Deployment> {
        self.load()?.with_context(|| {
            format!("no local deployment in {}: run `reaqtions deploy --local` first", self.root.display())
        })
    }

    /// Records the deployment: creates it, updates it when the settings changed, or does nothing.
    pub fn deploy(&self, settings: &PipelineSettings) -> Result<(DeployChange, Deployment)> {
        let now = Utc::now();
        let (change, deployment) = match self.load()? {
            Some(d) if d.settings == *settings && d.transform == transform_identity() => {
                return Ok((DeployChange::UpToDate, d));
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
        fs::create_dir_all(&self.root).with_context(|| format!("cannot create {}", self.root.display()))?;
        let path = self.deployment_path();
        let tmp = path.with_extension("json.tmp");
        fs::write(&tmp, serde_json::to_vec_pretty(&deployment)?)
            .and_then(|()| fs::rename(&tmp, &path))
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok((change, deployment))
    }

    /// Removes the deployment record (and, with `delete_data`, the bucket and logs). False if nothing was there.
    pub(crate) fn teardown(&self, delete_data: bool) -> Result<Option<Deployment>> {
        let Some(deployment) = self.load()? else { return Ok(None) };
        if delete_data {
            self.lake(&deployment.settings.bucket).delete_all()?;
            let logs = self.root.join("logs");
            if logs.exists() {
                fs::remove_dir_all(&logs).with_context(|| format!("cannot delete {}", logs.display()))?;
            }
        }
        let path = self.deployment_path();
        fs::remove_file(&path).with_context(|| format!("cannot delete {}", path.display()))?;
        for counters in [self.stream_totals_path(), self.metrics_path()] {
            if counters.exists() {
                fs::remove_file(&counters).with_context(|| format!("cannot delete {}", counters.display()))?;
            }
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
        self.root.join("metrics.jsonl")
    }

    /// What the delivery stream received over every run (`stream.json`).
    pub(crate) fn stream_totals_path(&self) -> PathBuf {
        self.root.join("stream.json")
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
            broker: started.map(|b| Box::new(b) as Box<dyn crate::target::endpoint::Settle>),
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
