//! `simulate --via mqtt` on the AWS target speaks to IoT Core as a device does: MQTT over TLS with its own
//! certificate and client id, QoS 1, to `<stack>/<device>/readings`. IoT Core is out of reach here, so a broker
//! we did not write stands in: Debian's mosquitto, requiring client certificates and, like the device policy,
//! letting each certificate publish only to its own topic (an ACL on the certificate's name). moto serves the
//! stack.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::AwsEnv;
use crate::fixture::Subscriber;

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A test CA, and certificates signed by it: the broker's for localhost, and a client's for each name.
fn issue(dir: &Path, name: &str, extensions: &str) {
    let key = dir.join(format!("{name}.key"));
    let csr = dir.join(format!("{name}.csr"));
    run(Command::new("openssl")
        .args(["req", "-newkey", "rsa:2048", "-nodes", "-subj", &format!("/CN={name}")])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&csr));
    let ext = dir.join(format!("{name}.ext"));
    std::fs::write(&ext, extensions).unwrap();
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
        .arg("-in")
        .arg(&csr)
        .arg("-CA")
        .arg(dir.join("ca.pem"))
        .arg("-CAkey")
        .arg(dir.join("ca.key"))
        .arg("-out")
        .arg(dir.join(format!("{name}.pem")))
        .arg("-extfile")
        .arg(&ext));
}

#[test]
fn devices_publish_over_tls_with_their_own_certificates() {
    let env = AwsEnv::start();
    env.ok(&["deploy", "--lambda-zip", env.zip().to_str().unwrap(), "--no-smoke"]);
    let pki = env.dir.path().join("pki");
    std::fs::create_dir(&pki).unwrap();
    run(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=reaqtions test CA"])
        .arg("-keyout")
        .arg(pki.join("ca.key"))
        .arg("-out")
        .arg(pki.join("ca.pem")));
    issue(&pki, "server", "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n");
    for client in ["aq-0001", "aq-0002", "monitor"] {
        issue(&pki, client, "extendedKeyUsage=clientAuth\n");
    }

    // The device directory `devices add` would have written, pointing at the stand-in broker.
    let port = crate::fixture::free_port();
    let devices = env.dir.path().join(".reaqtions/devices/reaqtions");
    std::fs::create_dir_all(&devices).unwrap();
    let mut records = Vec::new();
    for id in ["aq-0001", "aq-0002"] {
        std::fs::copy(pki.join(format!("{id}.pem")), devices.join(format!("{id}.cert.pem"))).unwrap();
        std::fs::copy(pki.join(format!("{id}.key")), devices.join(format!("{id}.private.key"))).unwrap();
        records.push(serde_json::json!({"id": id, "certificate_id": id, "certificate_arn": format!("arn:aws:iot:us-east-1:123456789012:cert/{id}")}));
    }
    let registry = serde_json::json!({"stack": "reaqtions", "region": "us-east-1", "endpoint": "localhost", "port": port, "devices": records});
    std::fs::write(devices.join("devices.json"), registry.to_string()).unwrap();

    std::fs::write(pki.join("acl"), "user monitor\ntopic read #\npattern write reaqtions/%u/readings\n").unwrap();
    let p = |f: &str| pki.join(f).display().to_string();
    let conf = format!(
        "user root\nlistener {port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\n\
         use_identity_as_username true\nacl_file {}\n",
        p("ca.pem"),
        p("server.pem"),
        p("server.key"),
        p("acl")
    );
    std::fs::write(pki.join("mosquitto.conf"), conf).unwrap();
    let _broker = crate::fixture::Reaped::new(
        // Debian puts the broker in /usr/sbin, which a CI user's PATH may lack.
        Command::new(if Path::new("/usr/sbin/mosquitto").exists() { "/usr/sbin/mosquitto" } else { "mosquitto" })
            .arg("-c")
            .arg(pki.join("mosquitto.conf"))
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto (Debian's mosquitto; scripts/check installs it)"),
    );
    crate::fixture::wait_for_port(port, Duration::from_secs(10), "mosquitto");
    let (port_text, ca, cert, key) = (port.to_string(), p("ca.pem"), p("monitor.pem"), p("monitor.key"));
    let monitor = Subscriber::start(&[
        "-h",
        "localhost",
        "-p",
        &port_text,
        "-t",
        "#",
        "-v",
        "-C",
        "6",
        "-W",
        "20",
        "--cafile",
        &ca,
        "--cert",
        &cert,
        "--key",
        &key,
    ]);

    // Two devices, three readings each, over MQTT with their certificates.
    let simulate = |extra: &[&str]| {
        let args = ["simulate", "--via", "mqtt", "--devices", "2", "--count", "3", "--rate", "50", "--format", "json"];
        env.cmd(&[&args[..], extra].concat()).output().unwrap()
    };
    let out = simulate(&["--ca-file", &p("ca.pem")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("PRIVATE KEY"));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((summary["accepted"].as_u64(), summary["failed"].as_u64()), (Some(6), Some(0)), "{summary}");

    let seen = monitor.messages();
    let mut topics: Vec<&str> = seen.lines().map(|l| l.split(' ').next().unwrap()).collect();
    topics.sort_unstable();
    assert_eq!(topics, [["reaqtions/aq-0001/readings"; 3], ["reaqtions/aq-0002/readings"; 3]].concat(), "{seen}");
    assert!(seen.lines().all(|l| l.contains(&format!("\"device_id\":\"{}\"", &l[10..17]))), "{seen}");

    // Without the stand-in's CA the server is not trusted: sending stops at once, and nothing is lost.
    let out = simulate(&["--spool", "unsent.ndjson"]);
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(summary["errors"]["TlsError"].as_u64().unwrap() >= 1, "{summary}");
    assert!(summary["stopped_by"].as_str().unwrap().contains("could not set up TLS with localhost"), "{summary}");
    assert_eq!(std::fs::read_to_string(env.dir.path().join("unsent.ndjson")).unwrap().lines().count(), 6);
}
