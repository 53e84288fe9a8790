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
use crate::target::endpoint::{CONNECTS_PER_SECOND_PER_CLIENT, DeviceAuth, Endpoint, Pacer};
use crate::target::{RecordSink, SinkError};

/// Requests a client may queue before its connection takes them.
const CLIENT_QUEUE: usize = 4096;
/// How long a connection may take to be accepted (rumqttc's default is 5 s).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a publish may wait for its PUBACK before it counts as unsent.
const ACK_TIMEOUT: Duration = Duration::from_secs(30);

type Waiter = oneshot::Sender<Result<(), SinkError>>;

/// One device's connection: the client of the current connection, and the publishes it has not acknowledged
/// (queued: handed to the client, no packet id yet; in flight: by packet id).
struct Connection {
    client: AsyncClient,
    queued: VecDeque<Waiter>,
    inflight: HashMap<u16, Waiter>,
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
        let shared =
            Arc::new(Shared(Mutex::new(Connection { client, queued: VecDeque::new(), inflight: HashMap::new() })));
        let context = Context {
            device: device.to_owned(),
            endpoint: self.describe(),
            hint: self.endpoint.hint.clone(),
            pacer: self.pacer.clone(),
        };
        self.runtime.spawn(drive(Arc::clone(&shared), eventloop, options, context));
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
/// fails every unacknowledged publish and starts over with a new client (after a growing pause).
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
            Ok(_) => {}
            Err(ConnectionError::RequestsDone) => return,
            Err(e) => {
                let error = classify(&e, &context);
                tracing::debug!(device = %context.device, "MQTT connection failed: {e}");
                let (client, next) = client(&options);
                let failed: Vec<Waiter> = {
                    let mut connection = shared.lock();
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
    fn drop(&mut self) {
        let connections = std::mem::take(&mut *self.connections.lock().unwrap_or_else(|e| e.into_inner()));
        for shared in connections.values() {
            let _ = shared.lock().client.try_disconnect();
        }
        // Let the DISCONNECTs go out before the runtime stops.
        self.runtime.block_on(async { tokio::time::sleep(Duration::from_millis(20)).await });
    }
}
