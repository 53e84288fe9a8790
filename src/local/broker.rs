//! The local target's MQTT broker: an MQTT 3.1.1 server on loopback (plain, no authentication) on rumqttc's
//! packet codec, and the topic rule applied as IoT Core applies it — `<stack>/+/readings` selected, `device_id`
//! taken from the topic, the payload otherwise unchanged, Basic Ingest's `$aws/rules/<rule>/…` too — into the
//! local delivery stream, in batches within Firehose's limits. Every client may publish (QoS 0, 1 and 2) and subscribe (delivered at QoS 0); a message is
//! acknowledged once the rule holds it, and a client id that connects again takes over from its old connection.

use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use rumqttc::mqttbytes::v4::{ConnAck, ConnectReturnCode, Packet, PubAck, PubComp, PubRec, SubAck, UnsubAck};
use rumqttc::mqttbytes::{self, QoS, v4};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::{Notify, mpsc};

use super::stream::{LocalStream, StreamStats};
use crate::limits::FIREHOSE as LIMITS;
use crate::mqtt;
use crate::seams::RecordSink as _;
use crate::seams::batch::{Batcher, Outgoing};
use crate::seams::endpoint::Settle;

/// How long a partly filled batch waits for more messages.
const LINGER: Duration = Duration::from_millis(20);
/// The largest packet accepted: IoT Core's payload limit and room for the topic.
const MAX_PACKET: usize = crate::limits::IOT_PAYLOAD_BYTES + 1024;
/// How long a new connection may take to send its CONNECT.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages held for the rule before publishers wait (each at most `MAX_PACKET`).
const RULE_QUEUE: usize = 4096;

/// What the broker did.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Messages the rule selected and the delivery stream accepted.
    pub(crate) forwarded: AtomicU64,
    /// Messages the delivery stream refused (logged; the stream only fails when its disk does).
    pub(crate) failed: AtomicU64,
    /// The devices heard from, for the summary.
    pub(crate) devices: Mutex<HashSet<String>>,
}

/// A running local broker; [`stop`](Self::stop) closes every connection, hands on what it received and closes
/// the stream.
pub(crate) struct LocalBroker {
    pub(crate) addr: SocketAddr,
    pub(crate) counters: Arc<Counters>,
    stream: Option<Arc<LocalStream>>,
    stopping: Arc<AtomicBool>,
    shutdown: Arc<Notify>,
    server: Option<JoinHandle<()>>,
    consumer: Option<JoinHandle<()>>,
}

/// Whether an MQTT server already accepts connections at `addr`.
pub(crate) fn listening(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

impl LocalBroker {
    /// Starts a broker on `addr` feeding `stream` with the readings published to `stack`'s topics.
    pub(crate) fn start(addr: SocketAddr, stack: &str, stream: LocalStream) -> Result<LocalBroker> {
        let listener = TcpListener::bind(addr)
            .map_err(|e| anyhow!("cannot listen on {addr}: {e} (is another broker running? pass another --listen)"))?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("mqtt-broker")
            .enable_io()
            .enable_time()
            .build()
            .context("cannot start the broker's runtime")?;
        let (rule_tx, rule_rx) = std::sync::mpsc::sync_channel(RULE_QUEUE);
        let shutdown = Arc::new(Notify::new());
        let server = {
            let shutdown = Arc::clone(&shutdown);
            std::thread::Builder::new()
                .name("mqtt-broker".into())
                .spawn(move || {
                    runtime.block_on(async move {
                        let listener = match tokio::net::TcpListener::from_std(listener) {
                            Ok(listener) => listener,
                            Err(e) => {
                                return crate::output::error(format_args!("the local MQTT broker cannot listen: {e}"));
                            }
                        };
                        let shared = Arc::new(Shared {
                            rule: rule_tx,
                            next_connection: AtomicU64::new(0),
                            subscriptions: Mutex::default(),
                            clients: Mutex::default(),
                        });
                        tokio::select! {
                            () = accept(listener, shared) => {}
                            () = shutdown.notified() => {}
                        }
                    });
                    // Dropping the runtime ends every connection's task: their sockets close.
                })
                .context("cannot start the broker thread")?
        };
        let stream = Arc::new(stream);
        let counters = Arc::new(Counters::default());
        let stopping = Arc::new(AtomicBool::new(false));
        let consumer = {
            let rule = Rule {
                stack: stack.to_owned(),
                basic_ingest: format!("$aws/rules/{}/", mqtt::rule_name(stack)),
                stream: Arc::clone(&stream),
                counters: Arc::clone(&counters),
                batcher: Batcher::new(LIMITS),
                since: None,
            };
            let stopping = Arc::clone(&stopping);
            std::thread::Builder::new()
                .name("mqtt-rule".into())
                .spawn(move || rule.run(&rule_rx, &stopping))
                .context("cannot start the rule thread")?
        };
        Ok(LocalBroker {
            addr,
            counters,
            stream: Some(stream),
            stopping,
            shutdown,
            server: Some(server),
            consumer: Some(consumer),
        })
    }

    /// Closes every connection, hands on everything received, then flushes and closes the delivery stream.
    pub(crate) fn stop(mut self) -> Result<StreamStats> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<StreamStats> {
        self.shutdown.notify_one();
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
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
            crate::output::error(format_args!("the local broker could not hand on what it received: {e:#}"));
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

/// What the connections share: the rule's queue, the subscriptions, and the connection of each client id.
struct Shared {
    rule: SyncSender<(String, bytes::Bytes)>,
    next_connection: AtomicU64,
    /// (filter, connection, where its messages go).
    subscriptions: Mutex<Vec<(String, u64, mpsc::UnboundedSender<v4::Publish>)>>,
    /// client id → (connection, how to end it).
    clients: Mutex<HashMap<String, (u64, Arc<Notify>)>>,
}

impl Shared {
    /// Hands a message to the rule (waiting while its queue is full) and to every matching subscription.
    fn publish(&self, publish: &v4::Publish) {
        let message = (publish.topic.clone(), publish.payload.clone());
        if let Err(TrySendError::Full(message)) = self.rule.try_send(message) {
            // The rule is behind: this connection waits (and so stops reading) until it has room.
            let _ = tokio::task::block_in_place(|| self.rule.send(message));
        }
        let subscriptions = self.subscriptions.lock().unwrap_or_else(|e| e.into_inner());
        for (filter, _, to) in subscriptions.iter() {
            if mqttbytes::matches(&publish.topic, filter) {
                let _ = to.send(v4::Publish::new(publish.topic.clone(), QoS::AtMostOnce, publish.payload.to_vec()));
            }
        }
    }
}

async fn accept(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((socket, _)) => {
                let _ = socket.set_nodelay(true);
                let shared = Arc::clone(&shared);
                tokio::spawn(async move {
                    if let Err(e) = connection(socket, &shared).await {
                        tracing::debug!("an MQTT connection ended: {e}");
                    }
                });
            }
            Err(e) => {
                crate::warning!("the local MQTT broker could not accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// The next whole packet from `reader` (None when the client closed the connection).
async fn next_packet(
    reader: &mut tokio::net::tcp::OwnedReadHalf,
    buf: &mut bytes::BytesMut,
) -> Result<Option<Packet>, String> {
    loop {
        match Packet::read(buf, MAX_PACKET) {
            Ok(packet) => return Ok(Some(packet)),
            Err(mqttbytes::Error::InsufficientBytes(_)) => {
                if reader.read_buf(buf).await.map_err(|e| e.to_string())? == 0 {
                    return Ok(None);
                }
            }
            Err(e) => return Err(format!("malformed packet: {e:?}")),
        }
    }
}

async fn send(writer: &mut tokio::net::tcp::OwnedWriteHalf, packet: Packet) -> Result<(), String> {
    let mut out = bytes::BytesMut::with_capacity(packet.size());
    packet.write(&mut out, MAX_PACKET).map_err(|e| format!("{e:?}"))?;
    writer.write_all(&out).await.map_err(|e| e.to_string())
}

/// One client's connection: CONNECT first, then its publishes, subscriptions and pings until it disconnects,
/// goes quiet for one and a half keep-alive intervals, or the same client id connects again.
async fn connection(socket: tokio::net::TcpStream, shared: &Shared) -> Result<(), String> {
    let (mut reader, mut writer) = socket.into_split();
    let mut buf = bytes::BytesMut::with_capacity(4096);
    let connect = match tokio::time::timeout(CONNECT_TIMEOUT, next_packet(&mut reader, &mut buf)).await {
        Ok(Ok(Some(Packet::Connect(connect)))) => connect,
        Ok(Ok(Some(other))) => return Err(format!("the first packet was not CONNECT: {other:?}")),
        Ok(Ok(None)) => return Ok(()),
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err("no CONNECT within 10 s".into()),
    };
    let id = shared.next_connection.fetch_add(1, Relaxed);
    let taken_over = Arc::new(Notify::new());
    let previous = (shared.clients.lock().unwrap_or_else(|e| e.into_inner()))
        .insert(connect.client_id.clone(), (id, Arc::clone(&taken_over)));
    if let Some((_, old)) = previous {
        old.notify_one();
    }
    send(&mut writer, Packet::ConnAck(ConnAck::new(ConnectReturnCode::Success, false))).await?;
    let (deliver_tx, deliveries) = mpsc::unbounded_channel();
    let idle = (connect.keep_alive > 0).then(|| Duration::from_millis(u64::from(connect.keep_alive) * 1500));
    let mut session = Session { id, deliver_tx, deliveries, idle, taken_over };
    let result = serve(&mut reader, &mut writer, &mut buf, shared, &mut session).await;
    shared.subscriptions.lock().unwrap_or_else(|e| e.into_inner()).retain(|(_, conn, _)| *conn != id);
    let mut clients = shared.clients.lock().unwrap_or_else(|e| e.into_inner());
    if clients.get(&connect.client_id).is_some_and(|(conn, _)| *conn == id) {
        clients.remove(&connect.client_id);
    }
    result
}

/// One connection's state after CONNECT.
struct Session {
    id: u64,
    /// Where messages for its subscriptions are queued, and read from to be written.
    deliver_tx: mpsc::UnboundedSender<v4::Publish>,
    deliveries: mpsc::UnboundedReceiver<v4::Publish>,
    /// How long it may stay quiet: one and a half keep-alive intervals (none with keep-alive 0).
    idle: Option<Duration>,
    /// Notified when the same client id connects again.
    taken_over: Arc<Notify>,
}

async fn serve(
    reader: &mut tokio::net::tcp::OwnedReadHalf,
    writer: &mut tokio::net::tcp::OwnedWriteHalf,
    buf: &mut bytes::BytesMut,
    shared: &Shared,
    session: &mut Session,
) -> Result<(), String> {
    // QoS 2 messages handed on and waiting for their PUBREL: a resent PUBLISH of one is not handed on again.
    let mut exactly_once: HashSet<u16> = HashSet::new();
    loop {
        let packet = tokio::select! {
            packet = async {
                match session.idle {
                    Some(idle) => tokio::time::timeout(idle, next_packet(reader, buf))
                        .await
                        .map_err(|_| "keep-alive expired".to_owned())?,
                    None => next_packet(reader, buf).await,
                }
            } => packet?,
            Some(publish) = session.deliveries.recv() => {
                send(writer, Packet::Publish(publish)).await?;
                continue;
            }
            () = session.taken_over.notified() => return Err("the same client id connected again".into()),
        };
        let Some(packet) = packet else { return Ok(()) };
        let answer = match packet {
            Packet::Publish(publish) => match publish.qos {
                QoS::AtMostOnce => {
                    shared.publish(&publish);
                    None
                }
                QoS::AtLeastOnce => {
                    shared.publish(&publish);
                    Some(Packet::PubAck(PubAck::new(publish.pkid)))
                }
                QoS::ExactlyOnce => {
                    if exactly_once.insert(publish.pkid) {
                        shared.publish(&publish);
                    }
                    Some(Packet::PubRec(PubRec::new(publish.pkid)))
                }
            },
            Packet::PubRel(release) => {
                exactly_once.remove(&release.pkid);
                Some(Packet::PubComp(PubComp::new(release.pkid)))
            }
            Packet::Subscribe(subscribe) => {
                let mut codes = Vec::new();
                let mut subscriptions = shared.subscriptions.lock().unwrap_or_else(|e| e.into_inner());
                for filter in subscribe.filters {
                    if mqttbytes::valid_filter(&filter.path) {
                        subscriptions.push((filter.path, session.id, session.deliver_tx.clone()));
                        codes.push(v4::SubscribeReasonCode::Success(QoS::AtMostOnce));
                    } else {
                        codes.push(v4::SubscribeReasonCode::Failure);
                    }
                }
                Some(Packet::SubAck(SubAck::new(subscribe.pkid, codes)))
            }
            Packet::Unsubscribe(unsubscribe) => {
                let mut subscriptions = shared.subscriptions.lock().unwrap_or_else(|e| e.into_inner());
                subscriptions.retain(|(filter, conn, _)| *conn != session.id || !unsubscribe.topics.contains(filter));
                Some(Packet::UnsubAck(UnsubAck::new(unsubscribe.pkid)))
            }
            Packet::PingReq => Some(Packet::PingResp),
            Packet::Disconnect => return Ok(()),
            Packet::PubAck(_) | Packet::PubComp(_) | Packet::PubRec(_) => None,
            other => return Err(format!("unexpected packet from a client: {other:?}")),
        };
        if let Some(answer) = answer {
            send(writer, answer).await?;
        }
    }
}

/// The topic rule, batching its records for the delivery stream.
struct Rule {
    stack: String,
    /// IoT Core's Basic Ingest prefix of the rule, `$aws/rules/<rule>/`: a message published under it reaches
    /// the rule alone.
    basic_ingest: String,
    stream: Arc<LocalStream>,
    counters: Arc<Counters>,
    batcher: Batcher<()>,
    since: Option<Instant>,
}

impl Rule {
    /// Applies the rule to every message the connections hand on until the broker stops and its queue is empty.
    fn run(mut self, messages: &Receiver<(String, bytes::Bytes)>, stopping: &AtomicBool) {
        loop {
            match messages.recv_timeout(LINGER) {
                Ok((topic, payload)) => self.apply(&topic, &payload),
                Err(RecvTimeoutError::Timeout) => {
                    self.send_all();
                    if stopping.load(Relaxed) {
                        return;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.send_all();
                    return;
                }
            }
            self.send_lingering();
        }
    }

    fn apply(&mut self, topic: &str, payload: &[u8]) {
        // Only the rule's topics: `<stack>/<device>/readings`, directly or through Basic Ingest.
        let topic = topic.strip_prefix(self.basic_ingest.as_str()).unwrap_or(topic);
        let Some(device) = mqtt::device_of(&self.stack, topic) else { return };
        {
            // Checked before inserting, so a known device costs no allocation per message.
            let mut seen = self.counters.devices.lock().unwrap_or_else(|e| e.into_inner());
            if !seen.contains(device) {
                seen.insert(device.to_owned());
            }
        }
        let mut bytes = Vec::new();
        mqtt::record(device, payload, &mut bytes);
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
                crate::output::error(format_args!("the local delivery stream refused {n} messages: {e}"));
                self.stream.note_rule_failures(n);
                self.counters.failed.fetch_add(n, Relaxed)
            }
        };
    }
}
