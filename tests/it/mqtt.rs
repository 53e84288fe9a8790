//! MQTT ingress on the local target, driven by clients we did not write (Debian's `mosquitto_pub`) and by
//! `simulate --via mqtt`: the topic names the device, payloads arrive unchanged, nothing is lost or doubled.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::Env;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `reaqtions --local broker` in the background, stopped (SIGINT, as Ctrl-C) by [`Broker::stop`] or on drop.
struct Broker {
    child: Option<Child>,
    port: u16,
}

impl Broker {
    fn start(env: &Env) -> Broker {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_reaqtions"))
            .current_dir(env.dir.path())
            .args(["--local", "--data-dir"])
            .arg(env.data_dir())
            .args(["broker", "--listen", &format!("127.0.0.1:{port}"), "--output", "json", "--quiet"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "the broker did not listen on {addr}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Broker { child: Some(child), port }
    }

    /// Ctrl-C: the broker flushes what it received and prints its summary.
    fn stop(mut self) -> Value {
        let child = self.child.take().unwrap();
        let killed = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
        assert!(killed.success());
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "broker exit {}: {}", out.status, String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `mosquitto_pub -l`: each stdin line one QoS 1 message from client `id` on `topic`.
fn mosquitto_pub(port: u16, id: &str, topic: &str, lines: &[String]) {
    let mut child = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-i", id, "-t", topic, "-l"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mosquitto_pub (Debian's mosquitto-clients; .ci/run installs it)");
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
    let failed = reaqtions::failed::parse(errors[0].1.split(|b| *b == b'\n').next().unwrap()).unwrap();
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
        "--output",
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
            "--output",
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
        "--output",
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
