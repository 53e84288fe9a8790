//! The simulation engine: paces N devices at a steady aggregate rate (readings are made as they are due,
//! never built up front), stamps them (wall clock, or the `--start`/`--every` timeline of [`clock`]), sends them
//! through the retrying sender with bounded concurrency, tracks what was accepted for `--verify`, and reports
//! what happened.

pub(crate) mod budget;
pub mod clock;
pub mod cycle;
pub mod device;
pub(crate) mod malformed;
pub(crate) mod pack;
pub(crate) mod sender;
pub(crate) mod verify;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use chrono::{DateTime, Utc};
use rand::Rng as _;
use serde::Serialize;

use crate::progress::Progress;
use crate::seams::RecordSink;
use crate::seams::batch::{Batcher, Outgoing};
use device::SimulatedDevice;
use pack::{Made, Packer};
use sender::{RetryPolicy, Sender};

/// How long a partly filled batch may wait for more readings before it is sent.
const BATCH_LINGER: Duration = Duration::from_millis(50);

/// Packed records fill one Firehose billing unit (5 KB) by default.
pub const DEFAULT_RECORD_BYTES: usize = crate::limits::BILLING_UNIT as usize;
/// The most devices one `simulate` plays: each is a task in this process.
pub(crate) const MOST_DEVICES: u64 = 100_000;
/// The longest a packed record waits for more readings: the tool's own bound on the latency packing adds (no AWS
/// limit; the stream's buffering adds its own).
pub(crate) const MAX_LINGER: Duration = Duration::from_secs(900);

/// Set by the Ctrl-C handler: stop making readings, send what was made, flush.
pub(crate) static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// What to simulate, validated.
#[derive(Debug, Clone)]
pub struct Plan {
    pub devices: usize,
    /// Readings per device per second.
    pub rate: f64,
    /// Readings per device in total.
    pub per_device: u64,
    /// The readings' `TIME`s laid out from a start, `every` apart per device (`--start`, `--every`); none: each
    /// reading's `TIME` is the moment it is made.
    pub timeline: Option<clock::Timeline>,
    /// The local time of the devices' daily cycle.
    pub zone: cycle::Zone,
    pub seed: u64,
    pub malformed_ratio: f64,
    pub concurrency: usize,
    pub retry: RetryPolicy,
    /// Readings are packed into records of at most this many bytes (0: one reading per record).
    pub record_bytes: usize,
    /// How long the oldest reading of a record may wait for more.
    pub linger: Duration,
    pub spool: PathBuf,
    /// Track what was accepted and verify it arrived.
    pub track: bool,
    /// Over MQTT (one reading per publish, each device on its own connection) instead of PutRecordBatch.
    pub mqtt: Option<crate::seams::MqttAccess>,
    pub quiet: bool,
    /// The wall time the run may take (`--duration`): a run that cannot keep up ends there, behind.
    pub deadline: Option<Duration>,
    /// What the spool file may hold; readings beyond are counted as left out.
    pub spool_limit_bytes: u64,
    /// A run over this many readings, or (on AWS) this many dollars of ingestion, asks first.
    pub confirm_over_readings: u64,
    pub confirm_over_usd: f64,
}

/// Readings made per pass of the sending loop at most.
const MAX_PER_PASS: u64 = 20_000;

/// How long past its duration a run may go to make its last readings.
const DEADLINE_GRACE: Duration = Duration::from_millis(500);

/// What a spool file holds at most unless told otherwise.
pub(crate) const DEFAULT_SPOOL_LIMIT_BYTES: u64 = 1 << 30;

impl Plan {
    /// `devices` × `per_device` readings at `rate` per device per second; everything else at its default
    /// (seed 1, nothing malformed, one batch in flight, nothing tracked).
    pub fn new(devices: usize, rate: f64, per_device: u64, spool: PathBuf) -> Plan {
        Plan {
            devices,
            rate,
            per_device,
            timeline: None,
            zone: cycle::Zone::UTC,
            seed: 1,
            malformed_ratio: 0.0,
            concurrency: 1,
            retry: RetryPolicy::default(),
            record_bytes: DEFAULT_RECORD_BYTES,
            linger: Duration::from_secs(1),
            spool,
            track: false,
            mqtt: None,
            quiet: true,
            deadline: None,
            spool_limit_bytes: DEFAULT_SPOOL_LIMIT_BYTES,
            confirm_over_readings: 10_000_000,
            confirm_over_usd: 1.0,
        }
    }

    /// Every value within its range (a usage error naming the flag otherwise).
    pub(crate) fn validate(&self) -> Result<()> {
        use crate::invalid;
        if !(1..=MOST_DEVICES as usize).contains(&self.devices) {
            return Err(invalid!("--devices must be 1-{MOST_DEVICES} (got {})", self.devices));
        }
        if !(self.rate > 0.0 && self.rate.is_finite()) {
            return Err(invalid!("--rate must be a positive number (got {})", self.rate));
        }
        if !(0.0..=1.0).contains(&self.malformed_ratio) {
            return Err(invalid!("--malformed-ratio must be 0-1 (got {})", self.malformed_ratio));
        }
        if !(1..=256).contains(&self.concurrency) {
            return Err(invalid!("--concurrency must be 1-256 (got {})", self.concurrency));
        }
        if let Some(rate) = self.mqtt.as_ref().and_then(|m| m.connects_per_second)
            && !(rate > 0.0 && rate <= 10_000.0)
        {
            return Err(invalid!("--connect-rate must be a number of connections per second, 0-10000 (got {rate})"));
        }
        if self.per_device < 1 {
            return Err(invalid!("--count must be at least 1"));
        }
        if self.mqtt.is_some() && self.rate > crate::limits::IOT_PUBLISHES_PER_SECOND {
            return Err(invalid!(
                "--rate must be at most {} with --via mqtt: IoT Core takes at most {} publishes per second on a \
                 connection (got {})",
                crate::limits::IOT_PUBLISHES_PER_SECOND,
                crate::limits::IOT_PUBLISHES_PER_SECOND,
                self.rate
            ));
        }
        if self.record_bytes > crate::limits::FIREHOSE.record_bytes {
            return Err(invalid!(
                "--record-bytes must be at most {}, Firehose's record limit (got {})",
                crate::limits::FIREHOSE.record_bytes,
                self.record_bytes
            ));
        }
        if self.record_bytes > 0 && (self.linger.is_zero() || self.linger > MAX_LINGER) {
            return Err(invalid!(
                "--linger must be more than 0 and at most {} (got {:?})",
                humantime::format_duration(MAX_LINGER),
                self.linger
            ));
        }
        Ok(())
    }

    pub(crate) fn total(&self) -> u64 {
        self.per_device * self.devices as u64
    }
}

/// Which readings a record carries: one device's, as `(seq, milliseconds after the start it was made)`.
#[derive(Debug, Clone)]
pub(crate) struct Tag {
    device: u32,
    readings: Vec<(u64, u32)>,
    malformed: bool,
}

/// What was accepted, by device and seq, for `--verify`.
#[derive(Debug)]
pub struct Tracker {
    pub(crate) run: String,
    pub(crate) started: DateTime<Utc>,
    /// The first reading's `TIME`: the timeline's start (`--start`), else when the run started.
    pub(crate) measured_from: DateTime<Utc>,
    /// Index of each device id (`aq-0001` is 0): a line's device is found in constant time, so verifying is
    /// linear in the readings whatever the number of devices.
    index: HashMap<String, usize>,
    /// `made_ms + 1` of each accepted reading, indexed `[device][seq - 1]`; 0 = not accepted.
    accepted: Mutex<Vec<Vec<u32>>>,
    malformed: Mutex<HashSet<(u32, u64)>>,
}

impl Tracker {
    fn new(run: &str, started: DateTime<Utc>, measured_from: DateTime<Utc>, devices: usize) -> Self {
        let device_ids: Vec<String> = (0..devices).map(crate::device::id).collect();
        Tracker {
            run: run.to_owned(),
            started,
            measured_from,
            index: device_ids.into_iter().enumerate().map(|(i, d)| (d, i)).collect(),
            accepted: Mutex::new(vec![Vec::new(); devices]),
            malformed: Mutex::new(HashSet::new()),
        }
    }

    fn accept(&self, tag: &Tag) {
        let mut accepted = self.accepted.lock().unwrap_or_else(|e| e.into_inner());
        let slots = &mut accepted[tag.device as usize];
        for &(seq, made_ms) in &tag.readings {
            let i = (seq - 1) as usize;
            if slots.len() <= i {
                slots.resize(i + 1, 0);
            }
            slots[i] = made_ms.saturating_add(1);
            if tag.malformed {
                self.malformed.lock().unwrap_or_else(|e| e.into_inner()).insert((tag.device, seq));
            }
        }
    }

    /// The index of a device of this run.
    pub(crate) fn device_index(&self, device: &str) -> Option<usize> {
        self.index.get(device).copied()
    }

    /// When the accepted reading `(device index, seq)` was made, if it was accepted.
    pub(crate) fn made_at(&self, index: usize, seq: u64) -> Option<DateTime<Utc>> {
        let accepted = self.accepted.lock().unwrap_or_else(|e| e.into_inner());
        let ms = *accepted[index].get(usize::try_from(seq).ok()?.checked_sub(1)?)?;
        (ms > 0).then(|| self.started + chrono::Duration::milliseconds(i64::from(ms - 1)))
    }

    pub(crate) fn is_malformed(&self, index: usize, seq: u64) -> bool {
        self.malformed.lock().unwrap_or_else(|e| e.into_inner()).contains(&(index as u32, seq))
    }

    /// Every accepted `(device, seq)`.
    pub(crate) fn accepted_keys(&self) -> Vec<(usize, u64)> {
        let accepted = self.accepted.lock().unwrap_or_else(|e| e.into_inner());
        accepted
            .iter()
            .enumerate()
            .flat_map(|(d, slots)| {
                slots.iter().enumerate().filter(|(_, ms)| **ms > 0).map(move |(i, _)| (d, i as u64 + 1))
            })
            .collect()
    }
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub(crate) run: String,
    pub(crate) devices: usize,
    pub target_rate: f64,
    pub sent: u64,
    /// The records the readings went in, what they weigh, and what Firehose bills for them (each record
    /// rounded up to 5 KB).
    #[serde(flatten)]
    pub records: pack::RecordStats,
    pub(crate) malformed_sent: u64,
    pub accepted: u64,
    pub(crate) failed: u64,
    pub retried: u64,
    pub(crate) oversize_rejected: u64,
    pub calls: u64,
    pub elapsed_seconds: f64,
    pub readings_per_second: f64,
    pub rate_accuracy_percent: f64,
    pub(crate) interrupted: bool,
    pub(crate) spool_file: Option<String>,
    /// Refused entries and failed calls, by code.
    pub errors: std::collections::BTreeMap<String, u64>,
    /// What stopped sending, when a failure no retry can fix did.
    pub(crate) stopped_by: Option<String>,
    /// Readings of the plan never made: sending stopped, or the run reached its duration behind the rate.
    pub(crate) not_made: u64,
    /// Readings the spool file had no room for (its size limit): lost, and said so.
    pub(crate) spool_left_out: u64,
    /// Readings the stream accepted but could not write (the local lake failed): in the spool, unless lost.
    pub(crate) not_written: u64,
    /// Readings neither written nor spooled (the spool could not be written either).
    pub(crate) lost: u64,
}

/// Full batches go to the sending threads at once; a partly filled one after [`BATCH_LINGER`].
struct Outbox<'a> {
    batcher: Batcher<Tag>,
    tx: &'a mpsc::SyncSender<Vec<Outgoing<Tag>>>,
    last_sent: Instant,
}

impl Outbox<'_> {
    fn push(&mut self, record: Outgoing<Tag>) -> Result<()> {
        if let Some(full) = self.batcher.push(record) {
            self.send(full)?;
        }
        Ok(())
    }

    fn send_lingering(&mut self, now: bool) -> Result<()> {
        if !self.batcher.is_empty() && (now || self.last_sent.elapsed() >= BATCH_LINGER) {
            let batch = self.batcher.take().expect("not empty");
            self.send(batch)?;
        }
        Ok(())
    }

    fn send(&mut self, batch: Vec<Outgoing<Tag>>) -> Result<()> {
        self.tx.send(batch).map_err(|_| anyhow!("every sending thread stopped"))?;
        self.last_sent = Instant::now();
        Ok(())
    }
}

/// Runs the simulation against `sink`; returns the summary and, when `plan.track`, what was accepted.
pub fn run(sink: &dyn RecordSink, plan: &Plan) -> Result<(RunSummary, Option<Tracker>)> {
    let run_id = format!("{:08x}", rand::rng().random::<u32>());
    let total = plan.total();
    let total_rate = plan.rate * plan.devices as f64;
    let sender = Sender::new(sink, plan.retry, plan.spool.clone()).with_spool_limit(plan.spool_limit_bytes);
    let limits = sink.limits();
    let started_wall = Utc::now();
    let started = Instant::now();
    let measured_from = plan.timeline.map_or(started_wall, |t| t.start);
    let tracker = plan.track.then(|| Tracker::new(&run_id, started_wall, measured_from, plan.devices));
    let mut devices: Vec<SimulatedDevice> =
        (0..plan.devices).map(|i| SimulatedDevice::in_zone(i, plan.seed, plan.zone)).collect();
    let share = malformed::Share::new(plan.malformed_ratio, total, plan.seed);
    let mut progress = Progress::shown_if("simulate", total, !plan.quiet);
    let (tx, rx) = mpsc::sync_channel::<Vec<Outgoing<Tag>>>(plan.concurrency * 2);
    let rx = Mutex::new(rx);
    let mut made = 0u64;
    let mut malformed_sent = 0u64;
    let mut oversize = 0u64;
    let send_error: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    let mut generation = Duration::ZERO;
    let mut records = pack::RecordStats::default();

    std::thread::scope(|s| -> Result<()> {
        for _ in 0..plan.concurrency {
            let (rx, sender, tracker, send_error) = (&rx, &sender, &tracker, &send_error);
            s.spawn(move || {
                loop {
                    let batch = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok(batch) = batch else { return };
                    let result = sender.send(batch, |o: &Outgoing<Tag>| {
                        if let Some(t) = tracker {
                            t.accept(&o.tag);
                        }
                    });
                    if let Err(e) = result {
                        send_error.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
                    }
                }
            });
        }
        let mut outbox = Outbox { batcher: Batcher::new(limits), tx: &tx, last_sent: Instant::now() };
        let mut packer = Packer::new(plan.devices, plan.record_bytes, plan.linger);
        let mut stamps = clock::Stamps::new(plan.timeline, started_wall);
        while made < total && !INTERRUPTED.load(Ordering::Relaxed) {
            let elapsed = started.elapsed();
            let now = Instant::now();
            // Once a failure no retry can fix stopped sending, nothing more is made: readings are never made
            // just to be spooled. A run behind its rate ends at its duration (with a moment's grace).
            if sender.is_stopped() || plan.deadline.is_some_and(|d| elapsed >= d + DEADLINE_GRACE) {
                break;
            }
            // At most a slice per pass, so a run far behind its rate still checks its deadline and flushes often.
            let due = ((elapsed.as_secs_f64() * total_rate) as u64 + 1).min(total).min(made + MAX_PER_PASS);
            if made < due {
                stamps.tick(started_wall + chrono::Duration::from_std(elapsed).unwrap_or_default());
            }
            while made < due {
                let device_index = (made % plan.devices as u64) as usize;
                let device = &mut devices[device_index];
                let mut bytes = Vec::with_capacity(320);
                let malformed = share.is_malformed(made);
                let (time, hour) = stamps.stamp(device_index, device.next_seq());
                let seq = if malformed {
                    let seq = device.skip();
                    malformed::write(malformed_sent, &device.id, seq, &run_id, &mut bytes);
                    malformed_sent += 1;
                    seq
                } else {
                    device.next_reading(time, &run_id, &mut bytes)
                };
                made += 1;
                if bytes.len() > limits.record_bytes {
                    oversize += 1;
                    continue;
                }
                let made_ms = elapsed.as_millis().min(u128::from(u32::MAX - 1)) as u32;
                let reading = Made { device: device_index as u32, seq, made_ms, hour, bytes, malformed };
                packer.add(reading, now, &mut |r| outbox.push(r))?;
            }
            if sender.is_stopped() || made == total {
                packer.flush_all(&mut |r| outbox.push(r))?;
            } else {
                packer.flush_due(now, &mut |r| outbox.push(r))?;
            }
            outbox.send_lingering(made == total)?;
            let accepted = sender.stats.accepted.load(Ordering::Relaxed);
            progress.update(made, || {
                let rate = made as f64 / started.elapsed().as_secs_f64().max(1e-9);
                format!("{made} sent, {accepted} accepted, {rate:.0}/s")
            });
            // Sleep until the next reading is due (briefly, to keep batches and progress flowing).
            let next_due = Duration::from_secs_f64(made as f64 / total_rate);
            if let Some(wait) = next_due.checked_sub(started.elapsed()).filter(|_| !sender.is_stopped()) {
                std::thread::sleep(wait.min(Duration::from_millis(20)));
            }
        }
        // Interrupted (or done): what is packed goes out too.
        packer.flush_all(&mut |r| outbox.push(r))?;
        records = packer.stats;
        generation = started.elapsed();
        outbox.send_lingering(true)?;
        drop(outbox);
        drop(tx);
        Ok(())
    })?;
    let elapsed = started.elapsed().as_secs_f64();
    progress.finish();
    if let Some(e) = send_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e.context("readings could not be sent or spooled"));
    }
    let (not_written, lost) = settle_unwritten(sink, &sender)?;
    let stats = &sender.stats;
    let accepted = stats.accepted.load(Ordering::Relaxed);
    // The rate the readings were made at: intervals between the first and the last.
    let achieved = if made > 1 { (made - 1) as f64 / generation.as_secs_f64().max(1e-9) } else { 0.0 };
    let summary = RunSummary {
        run: run_id,
        devices: plan.devices,
        target_rate: total_rate,
        sent: made,
        records,
        malformed_sent,
        accepted,
        failed: stats.spooled.load(Ordering::Relaxed),
        retried: stats.retried.load(Ordering::Relaxed),
        oversize_rejected: oversize,
        calls: stats.calls.load(Ordering::Relaxed),
        elapsed_seconds: elapsed,
        readings_per_second: achieved,
        rate_accuracy_percent: 100.0 * achieved / total_rate,
        interrupted: INTERRUPTED.load(Ordering::Relaxed),
        spool_file: sender.spool_path().map(|p| p.display().to_string()),
        errors: stats.errors(),
        stopped_by: stats.stopped().map(|e| e.message),
        not_made: total - made,
        spool_left_out: stats.left_out.load(Ordering::Relaxed),
        not_written,
        lost,
    };
    Ok((summary, tracker))
}

/// Flushes the sink; when it could not make everything durable (the local lake cannot be written), what it
/// accepted but did not write goes to the spool, or is counted as lost when the spool cannot be written either.
/// Returns (readings not written, readings lost).
fn settle_unwritten(sink: &dyn RecordSink, sender: &Sender) -> Result<(u64, u64)> {
    let Err(e) = sink.flush() else { return Ok((0, 0)) };
    let unwritten = sink.take_unwritten();
    if unwritten.is_empty() {
        return Err(e);
    }
    let readings: u64 = unwritten.iter().map(|r| sender::readings_in(r)).sum();
    let lost = match sender.spool_unwritten(unwritten) {
        Ok(()) => 0,
        Err(spool) => {
            crate::warning!("{spool:#}");
            readings
        }
    };
    crate::warning!("{e:#}");
    Ok((readings, lost))
}

/// Sends the readings of a spool file (one per line) again; returns the summary.
pub(crate) fn resend(sink: &dyn RecordSink, file: &std::path::Path, plan: &Plan) -> Result<RunSummary> {
    use anyhow::Context as _;
    let bytes = std::fs::read(file).with_context(|| format!("cannot read spool file {}", file.display()))?;
    let sender = Sender::new(sink, plan.retry, plan.spool.clone());
    let started = Instant::now();
    let limits = sink.limits();
    let mut batcher = Batcher::new(limits);
    let (mut sent, mut oversize) = (0u64, 0u64);
    let mut records = pack::RecordStats::default();
    // Lines are packed into records again, as the run that spooled them packed them; a line the transform would
    // refuse travels alone, so it sends no good neighbour to error/.
    let mut record: Vec<u8> = Vec::new();
    // The hour of the record's readings' TIME: a record never holds two hours (see pack.rs).
    let mut record_hour = None;
    let mut scratch = Vec::new();
    let mut ship = |record: &mut Vec<u8>, batcher: &mut Batcher<()>| -> Result<()> {
        if record.is_empty() {
            return Ok(());
        }
        records.add(record.len());
        if let Some(full) = batcher.push(Outgoing { bytes: std::mem::take(record), tag: () }) {
            sender.send(full, |_| {})?;
        }
        Ok(())
    };
    for line in bytes.split_inclusive(|b| *b == b'\n').filter(|l| !l.trim_ascii().is_empty()) {
        sent += 1;
        if line.len() > limits.record_bytes {
            oversize += 1;
            continue;
        }
        // A byte-order mark is kept by the transform only first in a record: a packed line's goes.
        let unmarked = if plan.record_bytes > 0 { line.strip_prefix(b"\xEF\xBB\xBF") } else { None };
        let mut line = unmarked.unwrap_or(line).to_vec();
        if line.last() != Some(&b'\n') {
            line.push(b'\n');
        }
        scratch.clear();
        let alone = plan.record_bytes == 0
            || !reaqtions_lambda::transform_record(&line, 0, reaqtions_lambda::Partitioning::Arrival, &mut scratch)
                .is_ok_and(|n| n > 0);
        let hour = clock::hour_in(&line);
        if alone || record.len() + line.len() > plan.record_bytes || (!record.is_empty() && hour != record_hour) {
            ship(&mut record, &mut batcher)?;
        }
        record_hour = hour;
        record.extend_from_slice(&line);
        if alone {
            ship(&mut record, &mut batcher)?;
        }
    }
    ship(&mut record, &mut batcher)?;
    if let Some(rest) = batcher.take() {
        sender.send(rest, |_| {})?;
    }
    sink.flush()?;
    let elapsed = started.elapsed().as_secs_f64();
    let stats = &sender.stats;
    Ok(RunSummary {
        run: format!("resend of {}", file.display()),
        devices: 0,
        target_rate: 0.0,
        sent,
        records,
        malformed_sent: 0,
        accepted: stats.accepted.load(Ordering::Relaxed),
        failed: stats.spooled.load(Ordering::Relaxed),
        retried: stats.retried.load(Ordering::Relaxed),
        oversize_rejected: oversize,
        calls: stats.calls.load(Ordering::Relaxed),
        elapsed_seconds: elapsed,
        readings_per_second: sent as f64 / elapsed.max(1e-9),
        rate_accuracy_percent: 100.0,
        interrupted: false,
        spool_file: sender.spool_path().map(|p| p.display().to_string()),
        errors: stats.errors(),
        stopped_by: stats.stopped().map(|e| e.message),
        not_made: 0,
        spool_left_out: stats.left_out.load(Ordering::Relaxed),
        not_written: 0,
        lost: 0,
    })
}
