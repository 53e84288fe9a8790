//! Command-line types: the global options, one `Args` struct per verb, and the AWS flags (flattened once).
//! Only parsing lives here; commands validate their arguments into settings before doing any work.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub(crate) use crate::aws::ConnectOptions;
pub(crate) use crate::output::OutputFormat;
use crate::report::writer::{Engine, Format};
use crate::settings::SettingsInput;

mod groups;
pub(crate) use groups::{ConfigArgs, ConfirmArgs, DryRunArgs, FleetArgs, HEALTH_SINCE, Shape, WindowArgs};

#[derive(Debug, Parser)]
#[command(name = "reaqtions", version, about = "IoT air-quality readings into an AWS data lake: Firehose → Lambda → S3", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,

    /// Run against the local target (the whole pipeline on this machine) instead of AWS (`demo` and `broker`
    /// always do). REAQTIONS_LOCAL takes 1/0, true/false, yes/no, on/off.
    #[arg(long, global = true, env = "REAQTIONS_LOCAL", value_parser = clap::builder::BoolishValueParser::new())]
    pub(crate) local: bool,

    /// The local target's data directory (deployment record, lake, logs).
    #[arg(long, global = true, env = "REAQTIONS_DATA_DIR", default_value = crate::seams::DEFAULT_DATA_DIR, value_name = "DIR")]
    pub(crate) data_dir: PathBuf,

    /// Stack name: which deployment (on AWS, the CloudFormation stack; names derive from it).
    #[arg(long, global = true, env = "REAQTIONS_STACK")]
    pub(crate) stack: Option<String>,

    #[command(flatten)]
    pub(crate) aws: ConnectOptions,

    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Results, warnings and errors only: no progress and no notes on stderr.
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create or update the pipeline, then show its outputs.
    Deploy(DeployArgs),
    /// Air-quality devices sending readings into the pipeline.
    Simulate(SimulateArgs),
    /// The processed readings back as a table, CSV or JSON.
    Report(ReportArgs),
    /// The transformation function's log events.
    Logs(LogsArgs),
    /// What is deployed and what the lake holds.
    Status(StatusArgs),
    /// The pipeline's vital signs over a window, findings and a verdict (exit 5 when degraded).
    Health(HealthArgs),
    /// Send failed records again: what the transform this binary carries accepts now goes through the stream once.
    Reprocess(ReprocessArgs),
    /// Remove the pipeline (the data stays unless --delete-data).
    Teardown(TeardownArgs),
    /// The main job end to end: deploy, simulate with some malformed readings, verify, summary report.
    Demo(DemoArgs),
    /// Print the embedded CloudFormation templates for review.
    Template(TemplateArgs),
    /// Devices that publish over MQTT: IoT Core things with their own certificates (AWS).
    Devices(DevicesArgs),
    /// The local target's MQTT broker: what devices publish to <stack>/<device>/readings goes into the pipeline.
    Broker(BrokerArgs),
    /// Estimate the monthly bill of a fleet, one reading per record and packed, side by side.
    Cost(CostArgs),
    /// Print a shell completion script (e.g. `reaqtions completions bash > ~/.local/share/bash-completion/completions/reaqtions`).
    Completions(CompletionsArgs),
    /// Print a manual page in roff (`reaqtions man > ~/.local/share/man/man1/reaqtions.1`; `reaqtions man simulate`).
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// One verb's page (`devices add` for a sub-verb), instead of the tool's.
    #[arg(value_name = "VERB", num_args = 0..)]
    pub(crate) verb: Vec<String>,
    /// Every verb and flag as one Markdown page (what docs/reference.md holds) instead of roff.
    #[arg(long, conflicts_with = "dir")]
    pub(crate) markdown: bool,
    /// Write the tool's page and every verb's to DIR (`reaqtions.1`, `reaqtions-deploy.1`, …) instead.
    #[arg(long, value_name = "DIR", conflicts_with = "verb")]
    pub(crate) dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct CostArgs {
    #[command(flatten)]
    pub(crate) fleet: FleetArgs,
    /// Bytes per reading (default: the size of `simulate`'s readings).
    #[arg(long, value_name = "BYTES")]
    pub(crate) reading_bytes: Option<u64>,
    /// Packed records hold at most this many bytes.
    #[arg(long, default_value_t = crate::simulate::DEFAULT_RECORD_BYTES as u64, value_name = "BYTES")]
    pub(crate) record_bytes: u64,
    /// A packed record is sent once its oldest reading has waited this long.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1s")]
    pub(crate) linger: std::time::Duration,
    /// Price this many months, one by one: the lake accumulates (1-120).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub(crate) months: u32,
    /// A price list of data/prices.json's shape instead of the embedded one.
    #[arg(long, value_name = "FILE")]
    pub(crate) prices: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    #[command(flatten)]
    pub(crate) settings: SettingsInput,
    #[command(flatten)]
    pub(crate) shape: Shape,
}

#[derive(Debug, Args)]
pub(crate) struct DevicesArgs {
    #[command(subcommand)]
    pub(crate) action: DevicesAction,
    /// The device directory: certificates, private keys (mode 0600) and devices.json (default
    /// <data-dir>/devices/<stack>).
    #[arg(long, global = true, value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) shape: Shape,
}

#[derive(Debug, Subcommand)]
pub(crate) enum DevicesAction {
    /// Register devices: a thing, a certificate and key, the stack's device policy; files into the directory.
    #[command(mut_arg("dry_run", |a| a.help("Name the devices it would register; register nothing")))]
    Add {
        /// How many devices to add (numbered after the highest of the id prefix).
        #[arg(long, value_name = "N", alias = "count", default_value_t = 1)]
        devices: usize,
        /// Device ids are this prefix and a 4-digit number (aq-0001); simulate's devices are aq-.
        #[arg(long, value_name = "PREFIX", alias = "prefix", default_value = "aq-")]
        id_prefix: String,
        #[command(flatten)]
        dry_run: DryRunArgs,
    },
    /// The stack's devices in IoT Core, and whether their files are here.
    List,
    /// Deactivate, detach and delete devices (their certificates stop working).
    #[command(mut_arg("dry_run", |a| a.help("Name the devices it would remove; remove nothing")))]
    Remove {
        /// The devices to remove.
        #[arg(value_name = "ID", required_unless_present = "all")]
        ids: Vec<String>,
        /// Every device of the stack.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
        #[command(flatten)]
        confirm: ConfirmArgs,
        #[command(flatten)]
        dry_run: DryRunArgs,
    },
}

#[derive(Debug, Args)]
pub(crate) struct BrokerArgs {
    /// Where to listen (plain MQTT 3.1.1, no authentication).
    #[arg(long, default_value = "127.0.0.1:1883", value_name = "ADDR")]
    pub(crate) listen: std::net::SocketAddr,
    /// Listen on an address other hosts can reach (anyone there can publish into the lake).
    #[arg(long)]
    pub(crate) allow_remote: bool,
    #[command(flatten)]
    pub(crate) shape: Shape,
}

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub(crate) struct TemplateArgs {
    /// Only this template (artifacts or pipeline), or `iam` for a role's policy filled in for the stack.
    #[arg(value_parser = ["artifacts", "pipeline", "iam"])]
    pub(crate) name: Option<String>,
    /// With `iam`: the role (deployer, producer, analyst, operator).
    #[arg(value_parser = ["deployer", "producer", "analyst", "operator", "reprocessor"], required_if_eq("name", "iam"))]
    pub(crate) role: Option<String>,
    /// With `iam`: the account id (default: the caller's, from STS).
    #[arg(long, value_name = "ID")]
    pub(crate) account: Option<String>,
    /// With `iam`: the raw bucket (default: the default name for the account and region).
    #[arg(long)]
    pub(crate) bucket: Option<String>,
    // `--format json`: the templates as `{"templates": [{"file", "body"}]}`; a role's policy is JSON either way.
    #[command(flatten)]
    pub(crate) shape: Shape,
}

#[derive(Debug, Args)]
#[command(mut_arg("dry_run", |a| a.help("Show what would change; change and build nothing")))]
pub(crate) struct DeployArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    #[command(flatten)]
    pub(crate) settings: SettingsInput,
    #[command(flatten)]
    pub(crate) dry_run: DryRunArgs,
    /// Deploy this zip (one executable entry `bootstrap`) instead of building the lambda crate.
    #[arg(long, value_name = "FILE")]
    pub(crate) lambda_zip: Option<PathBuf>,
    /// Skip the post-deploy smoke test of the function.
    #[arg(long)]
    pub(crate) no_smoke: bool,
    /// Skip the check that the caller may do everything deploy needs (IAM SimulatePrincipalPolicy).
    #[arg(long)]
    pub(crate) no_preflight: bool,
    #[command(flatten)]
    pub(crate) shape: Shape,
}

/// Where to send or read when the pipeline was not deployed by reaqtions (AWS target).
#[derive(Debug, Clone, Args, Default)]
pub(crate) struct PipelineOverride {
    /// Delivery stream to send to, instead of the stack's (e.g. the console-built reaqtions-iot-data-stream).
    #[arg(long, value_name = "NAME")]
    pub(crate) stream: Option<String>,
    /// Bucket to read, instead of the stack's (e.g. reaqtions-iot-data-lake-raw); S3 serves it only when the
    /// caller's account owns it, unless --bucket-owner names another.
    #[arg(long, value_name = "NAME")]
    pub(crate) bucket: Option<String>,
    /// With --bucket: the account owning the bucket, when not the caller's (a bucket shared by another account).
    #[arg(long, value_name = "ACCOUNT", requires = "bucket", value_parser = account_id)]
    pub(crate) bucket_owner: Option<String>,
}

/// `report --late`: a lateness allowance, or every later arrival.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Lateness {
    Within(std::time::Duration),
    Any,
}

fn lateness(text: &str) -> Result<Lateness, String> {
    if text == "all" {
        return Ok(Lateness::Any);
    }
    humantime::parse_duration(text).map(Lateness::Within).map_err(|e| format!("{text:?} is not a duration or all: {e}"))
}

/// A 12-digit AWS account id, as S3's ExpectedBucketOwner takes it.
fn account_id(text: &str) -> Result<String, String> {
    if text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit()) {
        Ok(text.to_owned())
    } else {
        Err(format!("{text:?} is not an AWS account id (12 digits)"))
    }
}

#[derive(Debug, Clone, Args)]
#[command(
    mut_arg("devices", |a| a.default_value("10").required(false)),
    mut_arg("rate", |a| a.help(
        "Readings each device sends per second: the sending pace (and, without --every, the step between the \
         readings' TIMEs)"
    )),
    mut_arg("yes", |a| a.help("Do not ask before a run over the thresholds below")),
    mut_arg("dry_run", |a| a.help(
        "State the plan (readings, bytes and, on AWS, what the ingestion costs); send nothing"
    ).conflicts_with("resend")),
)]
pub(crate) struct SimulateArgs {
    #[command(flatten)]
    pub(crate) fleet: FleetArgs,
    /// How long to send (e.g. 30s, 5m): --rate × this readings per device, and the run ends there even if behind;
    /// default 10s unless --count.
    #[arg(long, value_parser = humantime::parse_duration, conflicts_with = "count")]
    pub(crate) duration: Option<std::time::Duration>,
    /// Readings per device (the run sends --devices × N), instead of --duration; with --every they span N × --every.
    #[arg(long)]
    pub(crate) count: Option<u64>,
    /// The first reading's TIME: RFC 3339 (2026-12-06T00:00:00Z) or a span back from now (2h, 1day), not in the
    /// future. Each device's readings are then --every apart from there however fast they are sent, so a past day
    /// goes in seconds. Default, with --every: the readings end when the run starts; without either flag each
    /// reading's TIME is the moment it is made.
    #[arg(long, value_name = "TIME", conflicts_with = "resend")]
    pub(crate) start: Option<String>,
    /// The step between one device's consecutive readings' TIMEs (e.g. 60s, 1m; devices are staggered within a
    /// step); default one over --rate. No reading's TIME may be ahead of when it is sent.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, conflicts_with = "resend")]
    pub(crate) every: Option<std::time::Duration>,
    /// The local time of the devices' daily cycle (rush hours near 08:00 and 18:00, quieter nights): UTC or an
    /// offset such as +01:00.
    #[arg(long, value_name = "ZONE", default_value = "UTC", conflicts_with = "resend")]
    pub(crate) zone: crate::simulate::cycle::Zone,
    /// Seed for reproducible values.
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Share of deliberately malformed payloads (0-1); they must end up under error/.
    #[arg(long, default_value_t = 0.0)]
    pub(crate) malformed_ratio: f64,
    /// Wait until every accepted reading is visible, then report delivery and latency.
    #[arg(long)]
    pub(crate) verify: bool,
    /// How long --verify waits at most.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10m")]
    pub(crate) verify_timeout: std::time::Duration,
    /// Batches in flight at once.
    #[arg(long, default_value_t = 4)]
    pub(crate) concurrency: usize,
    /// Resends of a failed entry before it is spooled.
    #[arg(long, default_value_t = 8)]
    pub(crate) max_retries: u32,
    /// Pack each device's readings into records of at most this many bytes (Firehose bills each record as at
    /// least 5 KB: 5120 fills one billing unit; at most 1024000).
    #[arg(long, default_value_t = crate::simulate::DEFAULT_RECORD_BYTES, value_name = "BYTES")]
    pub(crate) record_bytes: usize,
    /// Send a record once its oldest reading has waited this long (bounds the added latency).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1s")]
    pub(crate) linger: std::time::Duration,
    /// One reading per record, as the original fleet sends.
    #[arg(long, conflicts_with = "record_bytes")]
    pub(crate) no_pack: bool,
    /// Where unsent readings go when retries run out (default reaqtions-unsent-<time>.ndjson).
    #[arg(long, value_name = "FILE")]
    pub(crate) spool: Option<PathBuf>,
    /// Send the readings of a spool file again instead of simulating.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["duration", "count", "verify"])]
    pub(crate) resend: Option<PathBuf>,
    /// How devices send: straight to the delivery stream (PutRecordBatch with AWS credentials), or over MQTT
    /// (IoT Core with each device's certificate; on --local, the local broker), one reading per QoS 1 publish.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) via: Via,
    /// With --via mqtt on --local: the broker's address (one is started in this process if none listens there).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:1883")]
    pub(crate) broker: std::net::SocketAddr,
    /// With --via mqtt on AWS: where `devices add` wrote the certificates (default <data-dir>/devices/<stack>).
    #[arg(long, value_name = "DIR")]
    pub(crate) devices_dir: Option<PathBuf>,
    /// With --via mqtt on AWS: trust this CA (PEM) for the MQTT endpoint instead of the system's roots (an IoT
    /// custom domain with a private CA, or a test broker).
    #[arg(long, value_name = "FILE")]
    pub(crate) ca_file: Option<PathBuf>,
    /// With --via mqtt on AWS: connections (first ones and reconnects) the fleet opens per second, within IoT
    /// Core's connect quota for the account (default 100, the lowest region's; each device also waits a second
    /// between its own attempts, IoT's limit per client id).
    #[arg(long, value_name = "N")]
    pub(crate) connect_rate: Option<f64>,
    #[command(flatten)]
    pub(crate) confirm: ConfirmArgs,
    #[command(flatten)]
    pub(crate) dry_run: DryRunArgs,
    /// Ask (or, off a terminal, refuse without --yes) before a run of more readings than this.
    #[arg(long, env = "REAQTIONS_CONFIRM_OVER_READINGS", default_value_t = 10_000_000, value_name = "N")]
    pub(crate) confirm_over_readings: u64,
    /// On AWS, ask (or refuse without --yes) before a run whose ingestion is estimated above this many USD.
    #[arg(long, env = "REAQTIONS_CONFIRM_OVER_USD", default_value_t = 1.0, value_name = "USD")]
    pub(crate) confirm_over_usd: f64,
    /// The spool file holds at most this many MiB; readings beyond are counted as left out.
    #[arg(long, default_value_t = 1024, value_name = "MIB")]
    pub(crate) spool_limit_mib: u64,
    #[command(flatten)]
    pub(crate) pipeline: PipelineOverride,
    #[command(flatten)]
    pub(crate) shape: Shape,
}

/// How simulated devices send their readings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Via {
    /// PutRecordBatch into the delivery stream, readings packed into records.
    #[default]
    Firehose,
    /// MQTT publishes through IoT Core's topic rule (or the local broker's).
    Mqtt,
}

#[derive(Debug, Args)]
#[command(
    mut_arg("since", |a| a.help("Readings measured at or after this time (RFC 3339, or relative like 2h)")),
    mut_arg("until", |a| a.help(
        "Readings measured before this time (RFC 3339, or relative like 30m): the window is [since, until)"
    )),
)]
pub(crate) struct ReportArgs {
    /// What the readings are printed as (html: one page of charts); default table.
    #[arg(long, value_enum)]
    pub(crate) format: Option<Format>,
    /// scan: this process reads the objects; athena: the stack's workgroup queries the lake table (AWS only).
    #[arg(long, value_enum, default_value_t)]
    pub(crate) engine: Engine,
    /// Run this SQL in the stack's workgroup and database instead (implies --engine athena).
    #[arg(long, value_name = "QUERY", conflicts_with_all = ["summary", "since", "until", "devices"])]
    pub(crate) sql: Option<String>,
    /// Write to FILE instead of stdout (`--output table|json` alone is the old spelling of `--format`).
    #[arg(long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) window: WindowArgs,
    /// How long after --until a reading of the window may have arrived and still be reported (a duration like
    /// 6h, or all to read every later arrival; default 1h). Lakes partitioned by arrival only: a lake filed by each
    /// reading's own hour reads a window's readings however late they arrived.
    #[arg(long, value_name = "DURATION|all", value_parser = lateness)]
    pub(crate) late: Option<Lateness>,
    /// Only this device (repeatable).
    #[arg(long = "device", value_name = "ID")]
    pub(crate) devices: Vec<String>,
    /// One row per device instead of the readings.
    #[arg(long)]
    pub(crate) summary: bool,
    /// Every line the lake holds: by default a reading the lake holds more than once (a retry's copy) is reported
    /// once, and the copies dropped are counted (docs/analysing.md says what a copy is).
    #[arg(long, conflicts_with = "sql")]
    pub(crate) keep_duplicates: bool,
    /// Objects read at once (S3 latency wants many in flight).
    #[arg(long, default_value_t = 32)]
    pub(crate) concurrency: usize,
    #[command(flatten)]
    pub(crate) pipeline: PipelineOverride,
}

#[derive(Debug, Args)]
#[command(
    mut_arg("since", |a| a.help(
        "Events from this long ago, or since this time (RFC 3339); the window is when the pipeline logged them. \
         Without it, the last 10 minutes"
    )),
    mut_arg("until", |a| a.help("Events before this time, or this long ago: the window is [since, until)")),
)]
pub(crate) struct LogsArgs {
    #[command(flatten)]
    pub(crate) window: WindowArgs,
    /// Keep printing new events.
    #[arg(long, conflicts_with = "until")]
    pub(crate) follow: bool,
    /// Only events containing TEXT.
    #[arg(long, value_name = "TEXT")]
    pub(crate) filter: Option<String>,
    /// The Firehose delivery-error log group instead of the function's.
    #[arg(long)]
    pub(crate) delivery: bool,
    /// Read this log group (AWS: the stack is then not read, so the operator policy alone suffices).
    #[arg(long, value_name = "NAME")]
    pub(crate) log_group: Option<String>,
    // `--format json`: one object per event and line (`timestamp`, `message`), as CloudWatch Logs keeps them,
    // also while following.
    #[command(flatten)]
    pub(crate) shape: Shape,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub(crate) shape: Shape,
}

#[derive(Debug, Args)]
#[command(
    mut_arg("since", |a| a.default_value(HEALTH_SINCE).help(
        "The window: this long ago (90m, 6h, 7days), or since this time (RFC 3339). On AWS at most 455 days (CloudWatch's retention)"
    )),
    mut_arg("until", |a| a.help(
        "The window's end: before this time, or this long ago (default now); the window is [since, until)"
    )),
)]
pub(crate) struct HealthArgs {
    #[command(flatten)]
    pub(crate) window: WindowArgs,
    #[command(flatten)]
    pub(crate) shape: Shape,
}

#[derive(Debug, Args)]
#[command(
    mut_arg("since", |a| a.help("Error objects written at or after this time (RFC 3339) or this long ago (2h, 7days)")),
    mut_arg("until", |a| a.help(
        "Error objects written before this time or this long ago: the window is [since, until)"
    )),
    mut_arg("dry_run", |a| a.help("Say what would happen; change nothing")),
)]
pub(crate) struct ReprocessArgs {
    #[command(flatten)]
    pub(crate) window: WindowArgs,
    #[command(flatten)]
    pub(crate) dry_run: DryRunArgs,
    #[command(flatten)]
    pub(crate) confirm: ConfirmArgs,
    /// Resend even when the deployed function does not run the transform this binary carries.
    #[arg(long)]
    pub(crate) force: bool,
    #[command(flatten)]
    pub(crate) shape: Shape,
}

#[derive(Debug, Args)]
#[command(mut_arg("dry_run", |a| a.help("Name everything it would remove; remove nothing")))]
pub(crate) struct TeardownArgs {
    #[command(flatten)]
    pub(crate) confirm: ConfirmArgs,
    /// Also delete the data lake bucket and everything in it.
    #[arg(long)]
    pub(crate) delete_data: bool,
    #[command(flatten)]
    pub(crate) dry_run: DryRunArgs,
    // `--format json`: what was removed and kept, as one object (`teardown::Outcome`).
    #[command(flatten)]
    pub(crate) shape: Shape,
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Devices to play.
    #[arg(long, default_value_t = 5)]
    pub(crate) devices: usize,
    /// Readings per device per second.
    #[arg(long, default_value_t = 2.0)]
    pub(crate) rate: f64,
    /// How long the devices send.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
    pub(crate) duration: std::time::Duration,
    /// Share of the readings sent malformed (they land under error/).
    #[arg(long, default_value_t = 0.05)]
    pub(crate) malformed_ratio: f64,
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    #[command(flatten)]
    pub(crate) shape: Shape,
}
