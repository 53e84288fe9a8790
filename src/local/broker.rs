//! The local target's MQTT broker: rumqttd listening on loopback (plain MQTT, no authentication), and the topic
//! rule applied as IoT Core applies it — `<stack>/+/readings` selected, `device_id` taken from the topic, the
//! payload otherwise unchanged — into the local delivery stream, in batches within Firehose's limits.

use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use rumqttd::local::LinkError;
use rumqttd::{Broker, Config, ConnectionSettings, Notification, RouterConfig, ServerSettings};

use super::stream::{LocalStream, StreamStats};
use crate::aws::firehose::LIMITS;
use crate::mqtt::{self, endpoint::Settle};
use crate::simulate::sender::{Batcher, Outgoing};
use crate::target::RecordSink as _;

/// How long a partly filled batch waits for more messages.
const LINGER: Duration = Duration::from_millis(20);

/// What the broker did.
#[derive(Debug, Default)]
pub struct Counters {
    /// Messages the rule selected and the delivery stream accepted.
    pub forwarded: AtomicU64,
    /// Messages the delivery stream refused (logged; the stream only fails when its disk does).
    pub failed: AtomicU64,
    /// The devices heard from, for the summary.
    pub devices: Mutex<HashSet<String>>,
}

/// A running local broker; [`stop`](Self::stop) hands on what it received and closes the stream.
pub struct LocalBroker {
    pub addr: SocketAddr,
    pub counters: Arc<Counters>,
    stream: Option<Arc<LocalStream>>,
    stopping: Arc<AtomicBool>,
    consumer: Option<JoinHandle<()>>,
}

/// Whether an MQTT server already accepts connections at `addr`.
pub fn listening(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

impl LocalBroker {
    /// Starts a broker on `addr` feeding `stream` with the readings published to `stack`'s topics.
    pub fn start(addr: SocketAddr, stack: &str, stream: LocalStream) -> Result<LocalBroker> {
        // rumqttd reports a taken port only in its own thread: find out here, with the address in the error.
        let addr = {
            let probe = TcpListener::bind(addr).map_err(|e| {
                anyhow!("cannot listen on {addr}: {e} (is another broker running? pass another --listen)")
            })?;
            probe.local_addr()?
        };
        let mut broker = Broker::new(config(addr));
        let (mut link_tx, mut link_rx) =
            broker.link("reaqtions-rule").context("cannot attach the rule to the broker")?;
        // (IoT Basic Ingest's `$aws/rules/…` topics have no local equivalent: rumqttd refuses `$` filters.)
        link_tx.subscribe(mqtt::filter(stack)).context("cannot subscribe the rule")?;
        std::thread::Builder::new()
            .name("mqtt-broker".into())
            .spawn(move || {
                if let Err(e) = broker.start() {
                    tracing::error!("the local MQTT broker stopped: {e}");
                }
            })
            .context("cannot start the broker thread")?;
        let stream = Arc::new(stream);
        let counters = Arc::new(Counters::default());
        let stopping = Arc::new(AtomicBool::new(false));
        let consumer = {
            let (stream, counters, stopping, stack) =
                (Arc::clone(&stream), Arc::clone(&counters), Arc::clone(&stopping), stack.to_owned());
            std::thread::Builder::new()
                .name("mqtt-rule".into())
                .spawn(move || {
                    let mut rule = Rule { stack, stream, counters, batcher: Batcher::new(LIMITS), since: None };
                    loop {
                        match link_rx.recv_deadline(Instant::now() + LINGER) {
                            Ok(Some(Notification::Forward(forward))) => rule.apply(&forward.publish),
                            // The router pauses a link whose buffer filled until the link says it has room.
                            Ok(Some(Notification::Unschedule)) => {
                                if let Err(e) = link_rx.ready() {
                                    tracing::error!("the rule lost the broker: {e}");
                                    rule.send_all();
                                    return;
                                }
                            }
                            Ok(_) => {}
                            Err(LinkError::RecvTimeout(_)) => {
                                rule.send_all();
                                if stopping.load(Relaxed) {
                                    return;
                                }
                            }
                            Err(e) => {
                                tracing::error!("the rule lost the broker: {e}");
                                rule.send_all();
                                return;
                            }
                        }
                        rule.send_lingering();
                    }
                })
                .context("cannot start the rule thread")?
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while !listening(addr) {
            if Instant::now() > deadline {
                bail!("the local MQTT broker did not start listening on {addr} within 5s");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(LocalBroker { addr, counters, stream: Some(stream), stopping, consumer: Some(consumer) })
    }

    /// Hands on everything received (the rule drains the broker until it is quiet), then flushes and closes
    /// the delivery stream. Connections are not refused until the process ends: rumqttd cannot be stopped.
    pub fn stop(mut self) -> Result<StreamStats> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<StreamStats> {
        self.stopping.store(true, Relaxed);
        if let Some(consumer) = self.consumer.take() {
            let _ = consumer.join();
        }
        let stream = self.stream.take().ok_or_else(|| anyhow!("the local broker is stopped"))?;
        let stream = Arc::try_unwrap(stream).map_err(|_| anyhow!("the delivery stream is still in use"))?;
        stream.close()
    }
}

impl Drop for LocalBroker {
    fn drop(&mut self) {
        if self.stream.is_some()
            && let Err(e) = self.shutdown()
        {
            tracing::error!("the local broker could not hand on what it received: {e:#}");
        }
    }
}

impl Settle for LocalBroker {
    fn settle(&self, acknowledged: u64) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.counters.forwarded.load(Relaxed) + self.counters.failed.load(Relaxed) < acknowledged {
            if Instant::now() > deadline {
                bail!(
                    "the local broker handed on {} of {acknowledged} acknowledged readings within 60s",
                    self.counters.forwarded.load(Relaxed)
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.stream.as_ref().map_or(Ok(()), |s| s.flush())
    }
}

/// The topic rule, batching its records for the delivery stream.
struct Rule {
    stack: String,
    stream: Arc<LocalStream>,
    counters: Arc<Counters>,
    batcher: Batcher<()>,
    since: Option<Instant>,
}

impl Rule {
    fn apply(&mut self, publish: &rumqttd::protocol::Publish) {
        let device = std::str::from_utf8(&publish.topic).ok().and_then(|t| mqtt::device_of(&self.stack, t));
        // The subscription selects only the rule's topics; anything else never reaches here.
        let Some(device) = device else { return };
        {
            // Checked before inserting, so a known device costs no allocation per message.
            let mut seen = self.counters.devices.lock().unwrap_or_else(|e| e.into_inner());
            if !seen.contains(device) {
                seen.insert(device.to_owned());
            }
        }
        let mut bytes = Vec::new();
        mqtt::record(device, &publish.payload, &mut bytes);
        self.since.get_or_insert_with(Instant::now);
        if let Some(full) = self.batcher.push(Outgoing { bytes, tag: () }) {
            self.send(full);
        }
    }

    fn send_lingering(&mut self) {
        if self.since.is_some_and(|t| t.elapsed() >= LINGER) {
            self.send_all();
        }
    }

    fn send_all(&mut self) {
        if let Some(batch) = self.batcher.take() {
            self.send(batch);
        }
        self.since = None;
    }

    fn send(&mut self, batch: Vec<Outgoing<()>>) {
        let records: Vec<Vec<u8>> = batch.into_iter().map(|o| o.bytes).collect();
        let n = records.len() as u64;
        match self.stream.put_record_batch(&records) {
            Ok(_) => self.counters.forwarded.fetch_add(n, Relaxed),
            Err(e) => {
                tracing::error!("the local delivery stream refused {n} messages: {e}");
                self.stream.note_rule_failures(n);
                self.counters.failed.fetch_add(n, Relaxed)
            }
        };
    }
}

/// A v4 (MQTT 3.1.1) listener on `addr` taking IoT Core's payload size, and a commit log small enough to stay
/// in memory however long the broker runs (the rule reads it as it is written).
fn config(addr: SocketAddr) -> Config {
    let server = ServerSettings {
        name: "reaqtions".into(),
        listen: addr,
        tls: None,
        next_connection_delay_ms: 0,
        connections: ConnectionSettings {
            connection_timeout_ms: 10_000,
            max_payload_size: mqtt::MAX_PAYLOAD + 1024,
            max_inflight_count: usize::from(mqtt::MAX_INFLIGHT),
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    };
    Config {
        router: RouterConfig {
            max_connections: 100_010,
            max_outgoing_packet_count: 1000,
            max_segment_size: 16 * 1024 * 1024,
            max_segment_count: 4,
            ..RouterConfig::default()
        },
        v4: Some(HashMap::from([("1".to_owned(), server)])),
        ..Config::default()
    }
}
