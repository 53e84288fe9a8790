//! The CLI's one HTTP client speaks TLS (rustls on ring, built by `aws::http_client`: no SDK feature brings a
//! client of its own, so nothing else would fail first): a verb against an `https://` endpoint, a TLS front of
//! the test's own to moto whose CA the CLI trusts through `SSL_CERT_FILE` (the platform-roots override
//! rustls-native-certs reads), and refused when that CA is not trusted. The build carries one crypto provider
//! and one HTTP stack.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::AwsEnv;
use crate::health::CborFront;

/// A CA and a certificate it signed for localhost and 127.0.0.1, made with the openssl command line.
fn certificates(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=reaqtions test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-out",
        "server.pem",
        "-extfile",
        "ext.cnf",
    ]);
    (dir.join("ca.pem"), dir.join("server.pem"), dir.join("server.key"))
}

#[test]
fn a_verb_runs_against_an_https_endpoint_whose_ca_is_trusted() {
    let env = AwsEnv::start();
    let zip = env.zip();
    env.ok(&["deploy", "--lambda-zip", zip.to_str().unwrap(), "--no-smoke"]);
    let (ca, certificate, key) = certificates(env.dir.path());
    let front = CborFront::start_tls(&env.moto.url, &certificate, &key);
    assert!(front.url.starts_with("https://"));

    let status_trusting = |ca: &Path| {
        env.cmd(&["status", "--format", "json"])
            .env("AWS_ENDPOINT_URL", &front.url)
            .env("SSL_CERT_FILE", ca)
            .output()
            .unwrap()
    };
    let out = status_trusting(&ca);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["status"], "CREATE_COMPLETE", "{status}");

    // Trusting another CA instead, the same call is refused in the TLS handshake.
    let other = env.dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let (untrusted, _, _) = certificates(&other);
    let out = status_trusting(&untrusted);
    assert!(!out.status.success(), "an untrusted certificate must be refused");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&front.url) || stderr.contains("localhost"), "the error names the endpoint: {stderr}");
}

/// Crates kept out of the default build once they left it: aws-lc (a second crypto provider and a C build),
/// and rumqttd's axum and hyper 0.14 (a web stack beside the SDK's hyper 1, for a loopback MQTT listener).
const KEPT_OUT: [&str; 4] = ["aws-lc-sys", "aws-lc-rs", "axum", "hyper@0.14"];

#[test]
fn the_build_carries_one_crypto_provider_and_one_http_stack() {
    for crate_name in KEPT_OUT {
        let out = Command::new(env!("CARGO"))
            .args(["tree", "--locked", "--offline", "-e", "normal,build", "-i", crate_name])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        let tree = String::from_utf8_lossy(&out.stdout);
        assert!(
            tree.trim().is_empty(),
            "{crate_name} is in the build (an SDK entry with default-https-client?):\n{tree}"
        );
    }
    let out = Command::new(env!("CARGO"))
        .args(["tree", "--locked", "--offline", "-e", "normal,build", "-i", "ring"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("ring v0.17"), "ring is the crypto provider");
}
