//! Readings published over MQTT, the way devices send them: one connection per device (its id as the client
//! id and, on AWS, its own certificate), each reading a QoS 1 publish to the device's topic, accepted when its
//! PUBACK arrives. A connection that fails is replaced by a new one and every publish it had not acknowledged
//! is reported back unsent, so the sender resends it (after the reconnect) or spools it — never the client
//! library behind the sender's back, which would duplicate it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context as _, Result};
use rumqttc::{AsyncClient, ConnectReturnCode, ConnectionError, Event, EventLoop, MqttOptions, Packet, QoS};
use tokio::sync::oneshot;

use crate::limits::SinkLimits;
use crate::limits::{IOT_INFLIGHT, IOT_PAYLOAD_BYTES};
use crate::seams::endpoint::{CONNECTS_PER_SECOND_PER_CLIENT, DeviceAuth, Endpoint, Pacer};
use crate::seams::{RecordSink, SinkError};

/// Requests a client may queue before its connection takes them.
const CLIENT_QUEUE: usize = 4096;
/// How long a connection may take to be accepted (rumqttc's default is 5 s).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a publish may wait for its PUBACK before it counts as unsent.
const ACK_TIMEOUT: Duration = Duration::from_secs(30);
/// How long closing the sink waits for its connections to send their DISCONNECTs: a connection still connecting
/// (or stuck on a broker that stopped reading) is then dropped with the runtime.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(2);

type Waiter = oneshot::Sender<Result<(), SinkError>>;

/// One device's connection: the client of the current connection, and the publishes it has not acknowledged
/// (queued: handed to the client, no packet id yet; in flight: by packet id); `closing` once the sink asked it
/// to disconnect, so that a failure then ends it instead of reconnecting.
struct Connection {
    client: AsyncClient,
    queued: VecDeque<Waiter>,
    inflight: HashMap<u16, Waiter>,
    closing: bool,
}

struct Shared(Mutex<Connection>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Publishes readings over MQTT for any number of devices.
pub struct MqttSink {
    runtime: tokio::runtime::Runtime,
    endpoint: Endpoint,
    /// Shared by every connection when the endpoint limits connects per second.
    pacer: Option<Arc<Pacer>>,
    connections: Mutex<HashMap<String, Arc<Shared>>>,
    /// Each connection's task, which ends once its DISCONNECT is sent.
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    acknowledged: AtomicU64,
}

impl MqttSink {
    pub fn new(endpoint: Endpoint) -> Result<MqttSink> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("mqtt")
            .enable_all()
            .build()
            .context("cannot start the MQTT client runtime")?;
        let pacer = endpoint.connects_per_second.map(|rate| Arc::new(Pacer::new(rate)));
        Ok(MqttSink {
            runtime,
            endpoint,
            pacer,
            connections: Mutex::new(HashMap::new()),
            tasks: Mutex::new(Vec::new()),
            acknowledged: AtomicU64::new(0),
        })
    }

    /// Publishes acknowledged so far.
    pub(crate) fn acknowledged(&self) -> u64 {
        self.acknowledged.load(Relaxed)
    }

    fn options(&self, device: &str) -> Result<MqttOptions, SinkError> {
        let mut options = MqttOptions::new(device, &self.endpoint.host, self.endpoint.port);
        options
            .set_keep_alive(Duration::from_secs(60))
            .set_clean_session(true)
            .set_inflight(IOT_INFLIGHT)
            .set_max_packet_size(IOT_PAYLOAD_BYTES + 1024, IOT_PAYLOAD_BYTES + 1024);
        if let DeviceAuth::Certificates { dir, roots } = &self.endpoint.identity {
            let config = super::identity::tls_config(dir, device, Arc::clone(roots))
                .map_err(|e| SinkError::permanent("DeviceIdentity", format!("{e:#}")))?;
            options.set_transport(rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(config)));
        }
        Ok(options)
    }

    /// The device's connection, opened on first use.
    fn connection(&self, device: &str) -> Result<Arc<Shared>, SinkError> {
        let mut connections = self.connections.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(shared) = connections.get(device) {
            return Ok(Arc::clone(shared));
        }
        let options = self.options(device)?;
        let (client, eventloop) = client(&options);
        let connection = Connection { client, queued: VecDeque::new(), inflight: HashMap::new(), closing: false };
        let shared = Arc::new(Shared(Mutex::new(connection)));
        let context = Context {
            device: device.to_owned(),
            endpoint: self.describe(),
            hint: self.endpoint.hint.clone(),
            pacer: self.pacer.clone(),
        };
        let task = self.runtime.spawn(drive(Arc::clone(&shared), eventloop, options, context));
        self.tasks.lock().unwrap_or_else(|e| e.into_inner()).push(task);
        connections.insert(device.to_owned(), Arc::clone(&shared));
        Ok(shared)
    }

    fn describe(&self) -> String {
        format!("{}:{}", self.endpoint.host, self.endpoint.port)
    }
}

/// A client and its connection, which waits [`CONNECT_TIMEOUT`] to be accepted. A connect storm (every device
/// at once) must not time out on a busy machine: a timed-out CONNECT can still complete at the broker and then
/// evict the retry's connection with its unacknowledged publishes, which would be sent twice.
fn client(options: &MqttOptions) -> (AsyncClient, EventLoop) {
    let (client, mut eventloop) = AsyncClient::new(options.clone(), CLIENT_QUEUE);
    let mut network = eventloop.network_options();
    network.set_connection_timeout(CONNECT_TIMEOUT.as_secs());
    eventloop.set_network_options(network);
    (client, eventloop)
}

struct Context {
    device: String,
    endpoint: String,
    hint: String,
    pacer: Option<Arc<Pacer>>,
}

impl Context {
    /// Waits until this device may open a connection: its turn in the fleet's pace, and (IoT Core allows one
    /// connect per second per client id) a second after its previous attempt.
    async fn may_connect(&self, previous: Option<tokio::time::Instant>) {
        let Some(pacer) = &self.pacer else { return };
        if let Some(previous) = previous {
            tokio::time::sleep_until(previous + Duration::from_secs_f64(1.0 / CONNECTS_PER_SECOND_PER_CLIENT)).await;
        }
        pacer.turn().await;
    }
}

/// Runs one device's connection: matches packet ids to publishes, completes them on PUBACK, and on a failure
/// fails every unacknowledged publish and starts over with a new client (after a growing pause). Ends once its
/// DISCONNECT is on the wire, or at a failure after the sink began closing.
async fn drive(shared: Arc<Shared>, mut eventloop: EventLoop, options: MqttOptions, context: Context) {
    let mut failures = 0u32;
    // The eventloop connects on the poll after a new client: that poll waits its turn.
    let (mut connecting, mut attempted) = (true, None);
    loop {
        if connecting {
            context.may_connect(attempted).await;
            attempted = Some(tokio::time::Instant::now());
            connecting = false;
        }
        match eventloop.poll().await {
            Ok(Event::Outgoing(rumqttc::Outgoing::Publish(pkid))) => {
                let mut connection = shared.lock();
                if let Some(waiter) = connection.queued.pop_front() {
                    connection.inflight.insert(pkid, waiter);
                }
            }
            Ok(Event::Incoming(Packet::PubAck(ack))) => {
                if let Some(waiter) = shared.lock().inflight.remove(&ack.pkid) {
                    let _ = waiter.send(Ok(()));
                }
            }
            Ok(Event::Incoming(Packet::ConnAck(_))) => failures = 0,
            // rumqttc reports the DISCONNECT once it has written and flushed it.
            Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return,
            Ok(_) => {}
            Err(ConnectionError::RequestsDone) => return,
            Err(e) => {
                let error = classify(&e, &context);
                tracing::debug!(device = %context.device, "MQTT connection failed: {e}");
                let (client, next) = client(&options);
                let failed: Vec<Waiter> = {
                    let mut connection = shared.lock();
                    if connection.closing {
                        // Nobody waits on a closing sink's publishes, and its DISCONNECT went to this client.
                        return;
                    }
                    connection.client = client;
                    let queued = std::mem::take(&mut connection.queued);
                    queued.into_iter().chain(connection.inflight.drain().map(|(_, w)| w)).collect()
                };
                for waiter in failed {
                    let _ = waiter.send(Err(error.clone()));
                }
                eventloop = next;
                connecting = true;
                failures = failures.saturating_add(1);
                tokio::time::sleep(Duration::from_millis(50u64 << failures.min(6))).await;
            }
        }
    }
}

/// What a connection failure means for the publishes it carried.
fn classify(error: &ConnectionError, context: &Context) -> SinkError {
    let Context { device, endpoint, hint, .. } = context;
    match error {
        ConnectionError::ConnectionRefused(
            code @ (ConnectReturnCode::NotAuthorized | ConnectReturnCode::BadUserNamePassword),
        ) => SinkError::permanent("NotAuthorized", format!("{endpoint} refused device {device} ({code:?}): {hint}")),
        ConnectionError::ConnectionRefused(code) => {
            SinkError::retryable("ConnectionRefused", format!("{endpoint} refused device {device} ({code:?})"))
        }
        ConnectionError::Tls(e) => SinkError::permanent(
            "TlsError",
            format!("device {device} could not set up TLS with {endpoint}: {e}: {hint}"),
        ),
        ConnectionError::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => SinkError::retryable(
            "ConnectionRefused",
            format!("nothing accepts MQTT connections at {endpoint} (device {device}): {hint}"),
        ),
        other => SinkError::retryable(
            "ConnectionLost",
            format!("device {device} lost its connection to {endpoint}: {other}"),
        ),
    }
}

impl RecordSink for MqttSink {
    /// A batch is any number of publishes (each device's go on its own connection); one reading per publish,
    /// within IoT Core's payload limit.
    fn limits(&self) -> SinkLimits {
        crate::limits::MQTT
    }

    fn put_record_batch(&self, records: &[Vec<u8>]) -> Result<Vec<Option<SinkError>>, SinkError> {
        let mut results: Vec<Option<SinkError>> = vec![None; records.len()];
        let mut waiting = Vec::with_capacity(records.len());
        for (i, record) in records.iter().enumerate() {
            let Some(device) = crate::device::id_in(record) else {
                results[i] = Some(SinkError::permanent(
                    "NoDeviceId",
                    format!("record {i} names no device_id: over MQTT a reading is published on its device's topic"),
                ));
                continue;
            };
            let shared = match self.connection(device) {
                Ok(shared) => shared,
                Err(e) => {
                    results[i] = Some(e);
                    continue;
                }
            };
            let payload = record.strip_suffix(b"\n").unwrap_or(record).to_vec();
            let (tx, rx) = oneshot::channel();
            let mut connection = shared.lock();
            let topic = super::topic(&self.endpoint.stack, device);
            match connection.client.try_publish(topic, QoS::AtLeastOnce, false, payload) {
                Ok(()) => {
                    connection.queued.push_back(tx);
                    waiting.push((i, rx));
                }
                Err(e) => results[i] = Some(SinkError::retryable("ClientBusy", format!("device {device}: {e}"))),
            }
        }
        let outcomes = self.runtime.block_on(async {
            let deadline = tokio::time::Instant::now() + ACK_TIMEOUT;
            let mut outcomes = Vec::with_capacity(waiting.len());
            for (i, rx) in waiting {
                let outcome = match tokio::time::timeout_at(deadline, rx).await {
                    Ok(Ok(result)) => result,
                    Ok(Err(_)) => Err(SinkError::retryable("ConnectionLost", "the connection closed")),
                    Err(_) => Err(SinkError::retryable(
                        "PubAckTimeout",
                        format!("no PUBACK within {}s", ACK_TIMEOUT.as_secs()),
                    )),
                };
                outcomes.push((i, outcome));
            }
            outcomes
        });
        for (i, outcome) in outcomes {
            match outcome {
                Ok(()) => {
                    self.acknowledged.fetch_add(1, Relaxed);
                }
                Err(e) => results[i] = Some(e),
            }
        }
        Ok(results)
    }

    /// Everything acknowledged is handed on: an in-process broker settles into its delivery stream; a broker
    /// elsewhere (IoT Core, `reaqtions broker`) owns what it acknowledged.
    fn flush(&self) -> Result<()> {
        match &self.endpoint.broker {
            Some(broker) => broker.settle(self.acknowledged()),
            None => Ok(()),
        }
    }
}

impl Drop for MqttSink {
    /// Each connection says DISCONNECT (a broker then drops no session as lost): waits until every connection's
    /// task has sent its own and ended, at most [`DISCONNECT_TIMEOUT`], before the runtime stops.
    fn drop(&mut self) {
        let connections = std::mem::take(&mut *self.connections.lock().unwrap_or_else(|e| e.into_inner()));
        for shared in connections.values() {
            let mut connection = shared.lock();
            connection.closing = true;
            let _ = connection.client.try_disconnect();
        }
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        let ended = self.runtime.block_on(async {
            let all = async {
                for task in tasks {
                    let _ = task.await;
                }
            };
            tokio::time::timeout(DISCONNECT_TIMEOUT, all).await
        });
        if ended.is_err() {
            tracing::debug!("MQTT connections not closed within {DISCONNECT_TIMEOUT:?}: dropped");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::net::TcpListener;

    use super::*;
    use crate::seams::endpoint::DeviceAuth;

    /// One MQTT 3.1.1 packet off the socket: its first byte and its body; `None` at the end of the stream.
    fn packet(socket: &mut std::net::TcpStream) -> Option<(u8, Vec<u8>)> {
        let mut first = [0u8; 1];
        socket.read_exact(&mut first).ok()?;
        let (mut length, mut shift) = (0usize, 0);
        loop {
            let mut byte = [0u8; 1];
            socket.read_exact(&mut byte).ok()?;
            length |= usize::from(byte[0] & 0x7f) << shift;
            shift += 7;
            if byte[0] & 0x80 == 0 {
                break;
            }
        }
        let mut body = vec![0u8; length];
        socket.read_exact(&mut body).ok()?;
        Some((first[0], body))
    }

    /// A broker for `connections` connections: accepts each, acknowledges each QoS 1 publish, and returns for
    /// each the kinds of packet it received after CONNECT (the high nibble) until the client closed the socket.
    fn broker(listener: TcpListener, connections: usize) -> Vec<Vec<u8>> {
        let serve = |mut socket: std::net::TcpStream| {
            socket.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let (connect, _) = packet(&mut socket).expect("CONNECT");
            assert_eq!(connect >> 4, 1, "CONNECT first");
            socket.write_all(&[0x20, 2, 0, 0]).unwrap();
            let mut kinds = Vec::new();
            while let Some((first, body)) = packet(&mut socket) {
                kinds.push(first >> 4);
                if first >> 4 == 3 {
                    let topic = usize::from(u16::from_be_bytes([body[0], body[1]]));
                    socket.write_all(&[0x40, 2, body[2 + topic], body[3 + topic]]).unwrap();
                }
            }
            kinds
        };
        let sockets = (0..connections).map(|_| listener.accept().unwrap().0);
        let served: Vec<_> = sockets.map(|socket| std::thread::spawn(move || serve(socket))).collect();
        served.into_iter().map(|s| s.join().unwrap()).collect()
    }

    #[test]
    fn dropping_the_sink_sends_each_connection_s_disconnect_first() {
        const DEVICES: usize = 20;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let broker = std::thread::spawn(move || broker(listener, DEVICES));
        let endpoint = Endpoint {
            host: "127.0.0.1".into(),
            port,
            stack: "reaqtions".into(),
            identity: DeviceAuth::None,
            hint: String::new(),
            broker: None,
            connects_per_second: None,
        };
        let sink = MqttSink::new(endpoint).unwrap();
        let records: Vec<Vec<u8>> =
            (0..DEVICES).map(|n| format!("{{\"device_id\":\"aq-{n}\",\"NO2\":1}}").into_bytes()).collect();
        let results = sink.put_record_batch(&records).unwrap();
        assert!(results.iter().all(Option::is_none), "{results:?}");
        drop(sink);
        // Each socket closed when the sink's runtime stopped: a DISCONNECT not written by then is never read.
        for kinds in broker.join().unwrap() {
            let kinds: Vec<u8> = kinds.into_iter().filter(|k| *k != 12).collect();
            assert_eq!(kinds, [3, 14], "PUBLISH, then DISCONNECT before the socket closed (PINGREQs aside)");
        }
    }
}
