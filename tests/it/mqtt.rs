//! MQTT ingress on the local target, driven by clients we did not write (Debian's `mosquitto_pub` and
//! `mosquitto_sub`) and by
//! `simulate --via mqtt`: the topic names the device, payloads arrive unchanged, nothing is lost or doubled.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::Env;

use crate::fixture::{Subscriber, free_port};

/// `reaqtions --local broker` in the background, stopped (SIGINT, as Ctrl-C) by [`Broker::stop`] or on drop.
struct Broker {
    child: crate::fixture::Reaped,
    port: u16,
}

impl Broker {
    fn start(env: &Env) -> Broker {
        let port = free_port();
        let child = crate::fixture::local(env)
            .args(["broker", "--listen", &format!("127.0.0.1:{port}"), "--format", "json", "--quiet"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        crate::fixture::wait_for_port(port, Duration::from_secs(10), "the broker");
        Broker { child: crate::fixture::Reaped::new(child), port }
    }

    /// Ctrl-C: the broker flushes what it received and prints its summary.
    fn stop(mut self) -> Value {
        let child = self.child.take();
        let killed = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
        assert!(killed.success());
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "broker exit {}: {}", out.status, String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// `mosquitto_pub -l`: each stdin line one QoS 1 message from client `id` on `topic`.
fn mosquitto_pub(port: u16, id: &str, topic: &str, lines: &[String]) {
    let mut child = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-i", id, "-t", topic, "-l"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mosquitto_pub (Debian's mosquitto-clients; scripts/check installs it)");
    let mut stdin = child.stdin.take().unwrap();
    for line in lines {
        writeln!(stdin, "{line}").unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "mosquitto_pub: {}", String::from_utf8_lossy(&out.stderr));
}

/// The original fleet's payload: `json.dumps(reading)`, no device id, no newline.
fn original(n: usize) -> String {
    format!(
        r#"{{"TIME": "2026-11-26T07:{n:02}:00.000000", "USER_INPUT": 1, "NO2": 21.5, "CO": 0.62, "PM01": 4.1, "PM2_5": 9.8, "PM10": 15.2, "AQI": 41, "eCO2": 612, "TVOC": 150, "P": 1012.6, "T": 21.3, "RH": 44.0}}"#
    )
}

/// Everything the local broker does beside QoS 1 publishes, with clients we did not write: QoS 0 and QoS 2
/// publishes (each once), IoT Core's Basic Ingest topic, a subscriber that sees what is published (mosquitto_sub),
/// and a client id that connects again taking over from its old connection.
#[test]
fn the_local_broker_speaks_mqtt_3_1_1_to_clients_we_did_not_write() {
    let env = Env::default();
    env.ok(&["deploy"]);
    let broker = Broker::start(&env);
    let port = broker.port.to_string();
    let watcher = Subscriber::start(&[
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-i",
        "watcher",
        "-t",
        "reaqtions/+/readings",
        "-C",
        "3",
        "-W",
        "20",
    ]);
    let publish = |qos: &str, id: &str, topic: &str, message: &str| {
        let out = Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &port, "-q", qos, "-i", id, "-t", topic, "-m", message])
            .output()
            .unwrap();
        assert!(out.status.success(), "mosquitto_pub -q {qos}: {}", String::from_utf8_lossy(&out.stderr));
    };
    publish("0", "aq-q0", "reaqtions/aq-q0/readings", &original(1));
    publish("2", "aq-q2", "reaqtions/aq-q2/readings", &original(2));
    publish("1", "aq-bi", "$aws/rules/reaqtions_readings/reaqtions/aq-bi/readings", &original(3));
    publish("1", "aq-q1", "reaqtions/aq-q1/readings", &original(4));
    let seen = watcher.messages();
    assert_eq!(seen.lines().count(), 3, "the subscriber sees the three messages on its filter: {seen}");
    assert!(seen.contains("07:02:00") && !seen.contains("07:03:00"), "Basic Ingest reaches the rule alone: {seen}");

    // A client id that connects again takes over: the first connection is closed (mosquitto's clients reconnect by
    // themselves, so two raw connections show it).
    let connect = |id: &str| {
        let mut socket = TcpStream::connect(("127.0.0.1", broker.port)).unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut packet = vec![0x10, (12 + id.len()) as u8, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60];
        packet.extend_from_slice(&(id.len() as u16).to_be_bytes());
        packet.extend_from_slice(id.as_bytes());
        socket.write_all(&packet).unwrap();
        let mut connack = [0u8; 4];
        std::io::Read::read_exact(&mut socket, &mut connack).unwrap();
        assert_eq!(connack, [0x20, 2, 0, 0], "CONNACK, accepted");
        socket
    };
    let mut first = connect("twin");
    let _second = connect("twin");
    let mut rest = Vec::new();
    let read = std::io::Read::read_to_end(&mut first, &mut rest);
    assert!(matches!(read, Ok(0)), "the first connection of client id twin is closed: {read:?}");

    let summary = broker.stop();
    assert_eq!(summary["forwarded"], 4, "each message once, QoS 2 included: {summary}");
    let rows: Vec<Value> = serde_json::from_str(&env.ok(&["report", "--format", "json"])).unwrap();
    let mut devices: Vec<&str> = rows.iter().map(|r| r["device_id"].as_str().unwrap()).collect();
    devices.sort();
    assert_eq!(devices, ["aq-bi", "aq-q0", "aq-q1", "aq-q2"]);
}

#[test]
fn any_client_publishes_into_the_lake_with_the_device_of_its_topic() {
    let env = Env::default();
    env.ok(&["deploy"]);
    let broker = Broker::start(&env);
    let devices = ["aq-a", "aq-b", "aq-c"];
    for (d, id) in devices.iter().enumerate() {
        let lines: Vec<String> = (0..4 + d).map(original).collect();
        mosquitto_pub(broker.port, id, &format!("reaqtions/{id}/readings"), &lines);
    }
    // A device that claims another's id is still the device of its topic; garbage goes to error/.
    let claim = r#"{"device_id": "aq-a", "TIME": "2026-11-26T07:30:00.000000", "NO2": 1.0}"#.to_owned();
    mosquitto_pub(broker.port, "aq-d", "reaqtions/aq-d/readings", &[claim, "NO2=??".to_owned()]);
    // Not a readings topic: the rule does not select it.
    mosquitto_pub(broker.port, "aq-e", "reaqtions/aq-e/status", &[original(1)]);
    let summary = broker.stop();
    assert_eq!(summary["forwarded"], 4 + 5 + 6 + 2, "{summary}");
    assert_eq!(summary["devices"], 4, "aq-e's status message is not a reading");

    let out = env.cmd(&["report", "--format", "json"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error records by device: aq-d 1"), "the garbage is aq-d's: {stderr}");
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mut by_device: BTreeMap<String, usize> = BTreeMap::new();
    for row in &rows {
        *by_device.entry(row["device_id"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    assert_eq!(
        by_device,
        BTreeMap::from([("aq-a".into(), 4), ("aq-b".into(), 5), ("aq-c".into(), 6), ("aq-d".into(), 1)])
    );
    // The original payload's fields arrive with their names and values.
    let sent: Value = serde_json::from_str(&original(0)).unwrap();
    let row = rows.iter().find(|r| r["device_id"] == "aq-a" && r["TIME"] == sent["TIME"]).expect("aq-a's first");
    for (field, value) in sent.as_object().unwrap() {
        assert_eq!(&row[field], value, "{field}");
    }
    let errors: Vec<_> = env.objects().into_iter().filter(|(k, _)| k.starts_with("error/")).collect();
    assert_eq!(errors.len(), 1, "the garbage payload's error object");
    // The error record holds what the rule sent, its envelope: it opens to the topic's device and the bytes.
    let failed = reaqtions::failed_records::parse(errors[0].1.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(failed.device_id.as_deref(), Some("aq-d"));
    assert_eq!(failed.payload, b"NO2=??", "kept as it came");
}

#[test]
fn simulate_over_mqtt_delivers_every_reading_once() {
    let env = Env::default();
    env.ok(&["deploy"]);
    let port = free_port().to_string();
    let broker = format!("127.0.0.1:{port}");
    let summary = env.json(&[
        "simulate",
        "--via",
        "mqtt",
        "--broker",
        &broker,
        "--devices",
        "50",
        "--count",
        "100",
        "--rate",
        "100",
        "--malformed-ratio",
        "0.01",
        "--verify",
        "--verify-timeout",
        "60s",
        "--format",
        "json",
        "--quiet",
    ]);
    assert_eq!(summary["sent"], 5000);
    assert_eq!(summary["accepted"], 5000);
    assert_eq!(summary["records"], 5000, "one reading per publish");
    let verify = &summary["verify"];
    assert_eq!((verify["missing"].as_u64(), verify["duplicated"].as_u64()), (Some(0), Some(0)), "{summary}");
    assert_eq!(verify["malformed_in_error"], summary["malformed_sent"]);
    assert!(summary["malformed_sent"].as_u64().unwrap() > 0);
    // The broker this process started is gone with it: the port is free again.
    assert!(TcpListener::bind(&broker).is_ok());
}

#[test]
fn what_a_broker_does_not_acknowledge_is_spooled_then_resent() {
    let env = Env::default();
    env.ok(&["deploy"]);
    // Something that takes connections and drops them: no CONNACK, no PUBACK.
    let rude = TcpListener::bind("127.0.0.1:0").unwrap();
    let rude_addr = rude.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in rude.incoming() {
            drop(stream);
        }
    });
    let started = Instant::now();
    let out = env
        .cmd(&[
            "simulate",
            "--via",
            "mqtt",
            "--broker",
            &rude_addr,
            "--devices",
            "2",
            "--count",
            "3",
            "--rate",
            "50",
            "--max-retries",
            "1",
            "--spool",
            "unsent.ndjson",
            "--format",
            "json",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(started.elapsed() < Duration::from_secs(30));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((summary["accepted"].as_u64(), summary["failed"].as_u64()), (Some(0), Some(6)));
    assert!(summary["errors"]["ConnectionLost"].as_u64().unwrap() >= 1, "{summary}");
    let spool = env.dir.path().join("unsent.ndjson");
    assert_eq!(std::fs::read_to_string(&spool).unwrap().lines().count(), 6);

    // Resent through a running broker: every reading lands once, under its device.
    let broker = Broker::start(&env);
    let resent = env.json(&[
        "simulate",
        "--via",
        "mqtt",
        "--broker",
        &format!("127.0.0.1:{}", broker.port),
        "--resend",
        spool.to_str().unwrap(),
        "--format",
        "json",
        "--quiet",
    ]);
    assert_eq!((resent["accepted"].as_u64(), resent["failed"].as_u64()), (Some(6), Some(0)));
    assert_eq!(broker.stop()["forwarded"], 6);
    let rows: Vec<Value> = serde_json::from_str(&env.ok(&["report", "--format", "json"])).unwrap();
    let mut keys: Vec<(String, u64)> =
        rows.iter().map(|r| (r["device_id"].as_str().unwrap().to_owned(), r["seq"].as_u64().unwrap())).collect();
    keys.sort();
    let expected: Vec<(String, u64)> =
        ["aq-0001", "aq-0002"].iter().flat_map(|d| (1..=3).map(move |s| (d.to_string(), s))).collect();
    assert_eq!(keys, expected);
}

#[test]
fn the_broker_stays_on_loopback_unless_told() {
    let env = Env::default();
    env.ok(&["deploy"]);
    let out = env.cmd(&["broker", "--listen", "0.0.0.0:0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no authentication") && stderr.contains("--allow-remote"), "{stderr}");
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = env.cmd(&["broker", "--listen", &addr]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("cannot listen on {addr}")));
}
