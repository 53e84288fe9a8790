//! The real `bootstrap` binary against a local stand-in of the Lambda Runtime API (`/2018-06-01/runtime/...`).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reaqtions_lambda::{FirehoseEvent, FirehoseResponse, Partitioning, transform_event};
use serde_json::Value;
use tiny_http::{Header, Method, Response, Server};

const FUNCTION_ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:reaqtions-data-transformation";

/// What one run of the binary under the stand-in produced.
pub(crate) struct Run {
    responses: Vec<(String, Value)>,
    errors: Vec<String>,
    init: Duration,
    peak_rss_kb: u64,
    pub(crate) stdout: String,
}

/// Kills the child when the test ends, whatever happens.
struct Reaper(Child);
impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).unwrap()
}

/// The process's peak resident memory (VmHWM), read from Linux's /proc while the process still runs.
fn peak_rss_kb(pid: u32) -> u64 {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path} (peak RSS needs Linux): {e}"));
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:"));
    line.and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{path} has no VmHWM line in kB: {line:?}"))
}

/// Serves `events` one per `invocation/next` to this crate's `bootstrap`, collects each response, then stops it.
pub(crate) fn run_bootstrap(events: &[String], extra_env: &[(&str, &str)]) -> Run {
    run_program(Command::new(env!("CARGO_BIN_EXE_bootstrap")), events, extra_env)
}

/// The same for any program speaking the Runtime API (the arm64 bootstrap under qemu).
fn run_program(mut cmd: Command, events: &[String], extra_env: &[(&str, &str)]) -> Run {
    let server = Server::http("127.0.0.1:0").expect("bind loopback");
    let addr = server.server_addr().to_ip().unwrap();
    let started = Instant::now();
    cmd.env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "reaqtions-data-transformation")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/reaqtions-data-transformation")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/25/[$LATEST]0123456789abcdef")
        .env("AWS_REGION", "eu-west-1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = Reaper(cmd.spawn().expect("spawn bootstrap"));
    let pid = child.0.id();
    let mut run =
        Run { responses: vec![], errors: vec![], init: Duration::ZERO, peak_rss_kb: 0, stdout: String::new() };
    let mut next = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline, "bootstrap did not finish in time");
        let Some(mut request) = server.recv_timeout(Duration::from_millis(200)).expect("accept") else {
            if let Ok(Some(status)) = child.0.try_wait() {
                panic!("bootstrap exited early with {status}");
            }
            continue;
        };
        let url = request.url().to_owned();
        let mut body = String::new();
        request.as_reader().read_to_string(&mut body).unwrap();
        match (request.method(), url.as_str()) {
            (Method::Get, "/2018-06-01/runtime/invocation/next") => {
                if next == 0 {
                    run.init = started.elapsed();
                }
                if next == events.len() {
                    // Every event answered: the runtime now long-polls for more. Measure, then stop it.
                    run.peak_rss_kb = peak_rss_kb(pid);
                    drop(request);
                    break;
                }
                let deadline_ms = (std::time::SystemTime::now() + Duration::from_secs(300))
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis();
                let response = Response::from_string(events[next].clone())
                    .with_header(header("Content-Type", "application/json"))
                    .with_header(header("Lambda-Runtime-Aws-Request-Id", &format!("req-{next}")))
                    .with_header(header("Lambda-Runtime-Deadline-Ms", &deadline_ms.to_string()))
                    .with_header(header("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN))
                    .with_header(header("Lambda-Runtime-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793"));
                next += 1;
                request.respond(response).unwrap();
            }
            (Method::Post, path) if path.ends_with("/response") => {
                let id = path.trim_start_matches("/2018-06-01/runtime/invocation/").trim_end_matches("/response");
                run.responses.push((id.to_owned(), serde_json::from_str(&body).expect("response is JSON")));
                request.respond(Response::empty(202)).unwrap();
            }
            (Method::Post, path) => {
                run.errors.push(format!("{path}: {body}"));
                request.respond(Response::empty(202)).unwrap();
            }
            (method, path) => panic!("unexpected {method} {path}"),
        }
    }
    let _ = child.0.kill();
    let output = std::mem::replace(&mut child.0, Command::new("true").spawn().unwrap()).wait_with_output().unwrap();
    run.stdout = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    run
}

#[test]
fn bootstrap_answers_each_fixture_like_the_library() {
    let names = ["seed_payload.json", "mixed_results.json"];
    let events: Vec<String> = names.iter().map(|n| crate::fixture(n)).collect();
    let run = run_bootstrap(&events, &[("AWS_LAMBDA_LOG_FORMAT", "JSON")]);
    assert!(run.errors.is_empty(), "runtime errors: {:?}", run.errors);
    assert_eq!(run.responses.len(), events.len());
    for (i, (event, (request_id, response))) in events.iter().zip(&run.responses).enumerate() {
        assert_eq!(request_id, &format!("req-{i}"));
        let parsed: FirehoseEvent = serde_json::from_str(event).unwrap();
        let (expected, _) = transform_event(&parsed, Partitioning::Arrival);
        let got: FirehoseResponse = serde_json::from_value(response.clone()).expect("contract shape");
        // The arrival field is derived from the event, so the whole response is deterministic.
        assert_eq!(got, expected, "{}", names[i]);
    }
    let seed = &run.responses[0].1["records"];
    assert_eq!(seed[0]["result"], "Ok");
    assert_eq!(seed[1]["result"], "Ok");
    let mixed: Vec<&str> =
        run.responses[1].1["records"].as_array().unwrap().iter().map(|r| r["result"].as_str().unwrap()).collect();
    assert_eq!(
        mixed,
        [
            "Ok",
            "Dropped",
            "ProcessingFailed",
            "ProcessingFailed",
            "ProcessingFailed",
            "ProcessingFailed",
            "ProcessingFailed",
            "Ok"
        ]
    );

    // Structured JSON logs: one summary per invocation, one line per failed record, never the payload.
    let lines: Vec<Value> = run.stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let summaries: Vec<&Value> = lines.iter().filter(|l| l.to_string().contains("batch transformed")).collect();
    assert_eq!(summaries.len(), 2, "logs:\n{}", run.stdout);
    assert!(summaries[1].to_string().contains("\"failed\":5"), "{}", summaries[1]);
    // The pipeline template's metric filter counts failed records from these two fields (its pattern is
    // evaluated against these lines in metric_filter.rs).
    assert_eq!(summaries[1]["fields"]["message"], "batch transformed", "{}", summaries[1]);
    assert_eq!(summaries[1]["fields"]["failed"], 5, "{}", summaries[1]);
    let failed = lines.iter().filter(|l| l.to_string().contains("record failed")).count();
    assert_eq!(failed, 5);
    assert!(!run.stdout.contains("high"), "payload leaked into logs");
    assert!(!run.stdout.contains("yesterday"), "payload leaked into logs");
    eprintln!("bootstrap (test profile): init {:?}, peak RSS {} kB", run.init, run.peak_rss_kb);
    // A loose ceiling, far above the few MB docs/contributing.md quotes and far below the 128 MB a Lambda can have
    // at least: it catches a buffer kept per batch or a payload read twice, not noise. Timings stay in benchmarks.
    assert!(run.peak_rss_kb < 64 * 1024, "bootstrap peaked at {} kB, over the 64 MB ceiling", run.peak_rss_kb);
}

#[test]
fn bootstrap_partitions_by_reading_time_when_told_and_refuses_an_unknown_mode() {
    let event = crate::event_of(&[br#"{"TIME":"2026-11-25T20:59:58.123456","NO2":1}"#.as_slice()]);
    let body = serde_json::to_string(&event).unwrap();
    let run = run_bootstrap(&[body], &[("REAQTIONS_PARTITIONING", "event"), ("AWS_LAMBDA_LOG_FORMAT", "JSON")]);
    let record = &run.responses[0].1["records"][0];
    assert_eq!(record["result"], "Ok");
    let keys = serde_json::json!({"partitionKeys": {"year": "2026", "month": "11", "day": "25", "hour": "20"}});
    assert_eq!(record["metadata"], keys, "{record}");
    let (expected, _) = transform_event(&event, Partitioning::Event);
    assert_eq!(serde_json::from_value::<FirehoseResponse>(run.responses[0].1.clone()).unwrap(), expected);
    assert!(run.stdout.contains(r#""partitioning":"event""#), "the mode is logged at start-up:\n{}", run.stdout);

    // Anything but `event`, `arrival` or unset stops the function before its first invocation.
    let output = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .env("REAQTIONS_PARTITIONING", "hourly")
        .output()
        .expect("run bootstrap");
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    assert!(text.contains("REAQTIONS_PARTITIONING is `hourly`"), "{text}");
}

#[test]
fn bootstrap_logs_plain_text_by_default() {
    let run = run_bootstrap(&[crate::fixture("mixed_results.json")], &[]);
    assert_eq!(run.responses.len(), 1);
    assert!(run.stdout.contains("batch transformed"), "{}", run.stdout);
    assert!(run.stdout.lines().all(|l| serde_json::from_str::<Value>(l).is_err()), "plain text expected");
}

#[test]
fn bootstrap_transforms_a_4mb_event_of_10k_readings() {
    let (event, bytes) = reaqtions_lambda::sample::benchmark_event(10_000);
    let body = serde_json::to_string(&event).unwrap();
    let run = run_bootstrap(&[body], &[("AWS_LAMBDA_LOG_FORMAT", "JSON")]);
    let records = run.responses[0].1["records"].as_array().unwrap();
    assert_eq!(records.len(), event.records.len());
    assert!(records.iter().all(|r| r["result"] == "Ok"));
    let lines: usize = records
        .iter()
        .map(|r| String::from_utf8(crate::decode(r["data"].as_str().unwrap())).unwrap().lines().count())
        .sum();
    assert_eq!(lines, 10_000);
    eprintln!("bootstrap: {:.1} MB event, init {:?}, peak RSS {} kB", bytes as f64 / 1e6, run.init, run.peak_rss_kb);
    assert!(run.peak_rss_kb < 64 * 1024, "bootstrap peaked at {} kB on a 4 MB event, over 64 MB", run.peak_rss_kb);
}

/// provided.al2023 ships glibc 2.34: the binary must not need a newer symbol version.
#[test]
fn bootstrap_needs_no_glibc_newer_than_2_34() {
    let output = Command::new("objdump").arg("-T").arg(env!("CARGO_BIN_EXE_bootstrap")).output();
    let output = output.expect("objdump (binutils) is needed to check the Lambda binary's glibc symbols");
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    let mut versions: Vec<(u32, u32)> = text
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter_map(|w| w.strip_prefix("GLIBC_"))
        .filter_map(|v| {
            let mut parts = v.split('.').map(|p| p.parse::<u32>());
            Some((parts.next()?.ok()?, parts.next()?.ok()?))
        })
        .collect();
    versions.sort_unstable();
    let newest = versions.last().copied().expect("a dynamically linked glibc binary");
    assert!(newest <= (2, 34), "bootstrap needs GLIBC_{}.{} (AL2023 has 2.34)", newest.0, newest.1);
}

/// The bootstrap cross-compiled for arm64 (Graviton) with `cargo zigbuild` against glibc 2.34, built once into its
/// own target directory (the workspace's is locked by the running `cargo test`).
fn arm64_bootstrap() -> std::path::PathBuf {
    static BUILT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            let target_dir = root.join("target/it-arm64");
            let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args(["zigbuild", "--profile", "lambda", "-p", "reaqtions-lambda", "--bin", "bootstrap"])
                .args(["--target", "aarch64-unknown-linux-gnu.2.34", "--manifest-path"])
                .arg(root.join("Cargo.toml"))
                .env("CARGO_TARGET_DIR", &target_dir)
                .env("RUSTUP_AUTO_INSTALL", "0")
                .status()
                .expect("cargo");
            assert!(
                status.success(),
                "the arm64 build needs `pip install ziglang cargo-zigbuild` and `rustup target add \
                 aarch64-unknown-linux-gnu` (scripts/check installs them)"
            );
            target_dir.join("aarch64-unknown-linux-gnu/lambda/bootstrap")
        })
        .clone()
}

/// The arm64 binary under qemu-aarch64 (Debian's qemu-user, with libc6-arm64-cross for its glibc).
fn under_qemu(binary: &std::path::Path) -> Command {
    let mut cmd = Command::new("qemu-aarch64");
    cmd.args(["-L", "/usr/aarch64-linux-gnu"]).arg(binary);
    cmd
}

/// The newest glibc symbol version an ELF binary of any architecture needs (readelf reads them all).
fn newest_glibc(binary: &std::path::Path) -> (u32, u32) {
    let output = Command::new("readelf").arg("-V").arg(binary).output().expect("readelf (binutils)");
    let text = String::from_utf8_lossy(&output.stdout);
    text.split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter_map(|w| w.strip_prefix("GLIBC_"))
        .filter_map(|v| {
            let mut parts = v.split('.').map(|p| p.parse::<u32>());
            Some((parts.next()?.ok()?, parts.next()?.ok()?))
        })
        .max()
        .expect("a dynamically linked glibc binary")
}

/// Graviton: the same contract, the same answers, as x86_64 — the arm64 binary run under qemu against the
/// Runtime API stand-in on the fixture events (qemu's timings are not Graviton's: functional proof only).
#[test]
fn the_arm64_bootstrap_keeps_the_contract_under_qemu() {
    let binary = arm64_bootstrap();
    let header = std::fs::read(&binary).unwrap();
    assert_eq!(u16::from_le_bytes([header[18], header[19]]), 0xB7, "an AArch64 ELF executable");
    assert!(newest_glibc(&binary) <= (2, 34), "arm64 bootstrap needs GLIBC {:?}", newest_glibc(&binary));
    let names = ["seed_payload.json", "mixed_results.json"];
    let events: Vec<String> = names.iter().map(|n| crate::fixture(n)).collect();
    let run = run_program(under_qemu(&binary), &events, &[("AWS_LAMBDA_LOG_FORMAT", "JSON")]);
    assert!(run.errors.is_empty(), "runtime errors: {:?}", run.errors);
    assert_eq!(run.responses.len(), events.len());
    for (i, (event, (request_id, response))) in events.iter().zip(&run.responses).enumerate() {
        assert_eq!(request_id, &format!("req-{i}"));
        let (expected, _) =
            transform_event(&serde_json::from_str::<FirehoseEvent>(event).unwrap(), Partitioning::Arrival);
        let got: FirehoseResponse = serde_json::from_value(response.clone()).expect("contract shape");
        assert_eq!(got, expected, "{} on arm64", names[i]);
    }
    let lines: Vec<Value> = run.stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert_eq!(lines.iter().filter(|l| l.to_string().contains("record failed")).count(), 5);
    // A record of every kind, in both partitionings: the fast path, the full scanner and the response alike.
    let event = crate::decoded::every_kind_of_record();
    for partitioning in [Partitioning::Arrival, Partitioning::Event] {
        let mode = [("REAQTIONS_PARTITIONING", partitioning.name())];
        let run = run_program(under_qemu(&binary), &[serde_json::to_string(&event).unwrap()], &mode);
        let got: FirehoseResponse = serde_json::from_value(run.responses[0].1.clone()).expect("contract shape");
        assert_eq!(got, transform_event(&event, partitioning).0, "every kind of record on arm64 ({partitioning:?})");
    }
    // The 10,000-reading event too: every reading, one response per record.
    let (event, _) = reaqtions_lambda::sample::benchmark_event(10_000);
    let run = run_program(under_qemu(&binary), &[serde_json::to_string(&event).unwrap()], &[]);
    let records = run.responses[0].1["records"].as_array().unwrap();
    assert_eq!(records.len(), event.records.len());
    assert!(records.iter().all(|r| r["result"] == "Ok"));
    eprintln!("arm64 bootstrap under qemu: init {:?}, peak RSS {} kB", run.init, run.peak_rss_kb);
}

#[test]
fn the_bootstrap_carries_and_logs_the_transform_it_runs() {
    let binary = std::fs::read(env!("CARGO_BIN_EXE_bootstrap")).unwrap();
    let id = reaqtions_lambda::transform_id_of(&binary);
    assert_eq!(id.as_deref(), Some(reaqtions_lambda::TRANSFORM_ID), "what deploy records for reprocess");
    let run = run_bootstrap(&[crate::fixture("seed_payload.json")], &[]);
    assert!(run.stdout.contains(reaqtions_lambda::TRANSFORM_MARK), "{}", run.stdout);
    assert_eq!(reaqtions_lambda::transform_id_of(b"reaqtions-transform-id:xyz"), None);
}

#[test]
fn the_x86_64_bootstrap_needs_no_glibc_newer_than_2_34_by_readelf() {
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_bootstrap"));
    assert!(newest_glibc(binary) <= (2, 34), "needs GLIBC {:?}", newest_glibc(binary));
}
