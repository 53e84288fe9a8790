//! deploy → simulate (with malformed readings) → verify → report → logs → teardown, checked against the files.

use std::collections::{BTreeSet, HashMap};

use base64_simd::STANDARD as B64;
use serde_json::Value;

use crate::{Env, fixture};

const KEY_PATTERN: &str = r"^(processed|error/processing-failed)/year=\d{4}/month=\d{2}/day=\d{2}/hour=\d{2}/reaqtions-iot-data-stream-1-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[0-9a-f-]{36}(\.gz)?$";

fn matches_key_layout(key: &str) -> bool {
    // A small hand-rolled check of KEY_PATTERN (no regex dependency for one test).
    let (kind, rest) = if let Some(r) = key.strip_prefix("processed/") {
        ("p", r)
    } else if let Some(r) = key.strip_prefix("error/processing-failed/") {
        ("e", r)
    } else {
        return false;
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let digits = |s: &str, prefix: &str, n: usize| {
        s.strip_prefix(prefix).is_some_and(|d| d.len() == n && d.bytes().all(|b| b.is_ascii_digit()))
    };
    let name_ok = parts.len() == 5 && {
        // GZIP objects (the default) end in .gz, as Firehose names them.
        let name = parts[4].strip_suffix(".gz").unwrap_or(parts[4]);
        let stamp_and_uuid = name.strip_prefix("reaqtions-iot-data-stream-1-").unwrap_or("");
        stamp_and_uuid.len() == 20 + 36
            && stamp_and_uuid[..19]
                .bytes()
                .enumerate()
                .all(|(i, b)| if i % 3 == 1 && i > 3 { b == b'-' } else { b.is_ascii_digit() || b == b'-' })
            && uuid_like(&stamp_and_uuid[20..])
    };
    !kind.is_empty()
        && name_ok
        && digits(parts[0], "year=", 4)
        && digits(parts[1], "month=", 2)
        && digits(parts[2], "day=", 2)
        && digits(parts[3], "hour=", 2)
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36
        && s.bytes()
            .enumerate()
            .all(|(i, b)| if [8, 13, 18, 23].contains(&i) { b == b'-' } else { b.is_ascii_hexdigit() })
}

/// (device_id, seq) of a payload, from its JSON when it parses, else by text search.
fn key_of(bytes: &[u8]) -> (String, u64) {
    let text = String::from_utf8_lossy(bytes);
    let find = |name: &str| {
        let at = text.find(name).unwrap_or_else(|| panic!("{name} in {text}")) + name.len();
        text[at..]
            .trim_start_matches(['"', ':', '='])
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect::<String>()
    };
    (find("device_id"), find("seq").parse().unwrap())
}

#[test]
fn simulate_verify_report_logs_teardown() {
    let env = Env::default();
    env.ok(&["deploy"]);
    let summary = env.json(&[
        "simulate",
        "--devices",
        "4",
        "--rate",
        "400",
        "--count",
        "60",
        "--malformed-ratio",
        "0.1",
        "--seed",
        "7",
        "--verify",
        "--verify-timeout",
        "30s",
        "--format",
        "json",
        "--quiet",
    ]);
    assert_eq!(summary["sent"], 240);
    assert_eq!(summary["accepted"], 240);
    assert_eq!(summary["failed"], 0);
    let malformed = summary["malformed_sent"].as_u64().unwrap();
    assert!(malformed > 5, "{summary}");
    let verify = &summary["verify"];
    assert_eq!(verify["missing"], 0);
    assert_eq!(verify["duplicated"], 0);
    assert_eq!(verify["malformed_in_error"], malformed);
    assert_eq!(verify["in_error"], malformed);
    assert_eq!(verify["delivered"].as_u64().unwrap() + malformed, 240);
    assert!(verify["latency_ms_p99"].as_i64().is_some());

    // The files themselves: every (device_id, seq) exactly once, processed or error.
    let mut seen: HashMap<(String, u64), &str> = HashMap::new();
    let lake = env.lake();
    let marker = std::fs::read(lake.dir.join("processed/_reaqtions_layout")).unwrap();
    assert_eq!(marker, b"event", "deploy records the layout under the prefix, outside every hour");
    let objects = lake.objects();
    assert!(
        objects.iter().any(|(k, _)| k.starts_with("processed/"))
            && objects.iter().any(|(k, _)| k.starts_with("error/"))
    );
    for (key, bytes) in &objects {
        assert!(matches_key_layout(key), "{key} does not match {KEY_PATTERN}");
        for line in String::from_utf8_lossy(bytes).lines() {
            let (where_, payload) = if key.starts_with("error/") {
                let record: Value = serde_json::from_str(line).unwrap();
                assert_eq!(record["errorCode"], "Lambda.ProcessingFailedStatus");
                assert!(
                    record["lambdaArn"].as_str().unwrap().ends_with(":function:reaqtions-data-transformation:$LATEST")
                );
                let raw = B64.decode_to_vec(record["rawData"].as_str().unwrap()).unwrap();
                // The original bytes: the transform rejects them again.
                assert!(
                    reaqtions_lambda::transform_record(
                        &raw,
                        0,
                        reaqtions_lambda::Partitioning::Arrival,
                        &mut Vec::new()
                    )
                    .is_err()
                );
                ("error", raw)
            } else {
                let reading: Value = serde_json::from_str(line).unwrap();
                assert!(reading["_firehose_arrival"].is_string());
                assert!(reading["_reading_time"].is_string());
                ("processed", line.as_bytes().to_vec())
            };
            let key = key_of(&payload);
            assert!(seen.insert(key.clone(), where_).is_none(), "{key:?} delivered twice");
        }
    }
    let expected: BTreeSet<(String, u64)> =
        (1..=4).flat_map(|d| (1..=60).map(move |s| (format!("aq-{d:04}"), s))).collect();
    assert_eq!(seen.keys().cloned().collect::<BTreeSet<_>>(), expected);
    assert_eq!(seen.values().filter(|w| **w == "error").count() as u64, malformed);

    // report: CSV with the documented columns, one row per delivered reading.
    let csv = env.ok(&["report", "--format", "csv"]);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(
        &header[..14],
        [
            "device_id",
            "TIME",
            "USER_INPUT",
            "NO2",
            "CO",
            "PM01",
            "PM2_5",
            "PM10",
            "AQI",
            "eCO2",
            "TVOC",
            "P",
            "T",
            "RH"
        ]
    );
    assert_eq!(&header[14..], ["seq", "sim_run", "_firehose_arrival", "_reading_time"]);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len() as u64, 240 - malformed);
    let json: Vec<Value> = serde_json::from_str(&env.ok(&["report", "--format", "json"])).unwrap();
    assert_eq!(json.len(), rows.len());
    let one = env.ok(&["report", "--format", "ndjson", "--device", "aq-0001"]);
    assert!(one.lines().all(|l| l.contains("\"device_id\":\"aq-0001\"")) && one.lines().count() > 40);
    assert_eq!(env.ok(&["report", "--format", "ndjson", "--since", "1h"]).lines().count(), rows.len());
    assert_eq!(env.ok(&["report", "--format", "ndjson", "--until", "2000-01-01T00:00:00Z"]).lines().count(), 0);
    let file = env.dir.path().join("out.csv");
    env.ok(&["report", "--format", "csv", "--output", file.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), csv);
    let summary: Vec<Value> = serde_json::from_str(&env.ok(&["report", "--summary", "--format", "json"])).unwrap();
    assert_eq!(summary.len(), 4);
    assert_eq!(summary.iter().map(|d| d["readings"].as_u64().unwrap()).sum::<u64>(), 240 - malformed);
    assert!(summary.iter().all(|d| d["AQI_category"].is_string()));
    let stderr = env.cmd(&["report", "--format", "csv"]).output().unwrap().stderr;
    assert!(String::from_utf8_lossy(&stderr).contains(&format!("{malformed} Lambda.ProcessingFailedStatus")));

    // logs: one line per failed record, with the reason, never the payload.
    let failed = env.ok(&["logs", "--filter", "record failed"]);
    assert_eq!(failed.lines().count() as u64, malformed, "{failed}");
    assert!(!failed.contains("n/a") && !failed.contains("25/11/2026"), "payload in logs:\n{failed}");
    assert!(env.ok(&["logs"]).contains("batch transformed"));

    let status = env.json(&["status", "--format", "json"]);
    assert!(status["processed_objects"].as_u64().unwrap() >= 1);
    assert!(status["error_objects"].as_u64().unwrap() >= 1);

    // teardown: refuses without a terminal, keeps the data, says so the second time.
    let refused = env.cmd(&["teardown"]).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--yes"));
    assert!(env.ok(&["teardown", "--yes"]).contains("kept bucket reaqtions-iot-data-lake-raw"));
    assert_eq!(lake.objects().len(), objects.len(), "data outlives the pipeline");
    let again = env.cmd(&["teardown", "--yes"]).output().unwrap();
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing to remove"));
    let gone = env.cmd(&["report"]).output().unwrap();
    assert!(String::from_utf8_lossy(&gone.stderr).contains("reaqtions deploy --local"));
}

#[test]
fn original_fleet_payload_flows_through_unchanged() {
    let env = Env::default();
    env.ok(&["deploy"]);
    let spool = fixture("original_fleet.ndjson");
    let summary = env.json(&["simulate", "--resend", spool.to_str().unwrap(), "--format", "json", "--quiet"]);
    assert_eq!(summary["accepted"], 3, "three records");
    let rows: Vec<Value> = serde_json::from_str(&env.ok(&["report", "--format", "json"])).unwrap();
    assert_eq!(rows.len(), 6, "six readings, concatenated without delimiters");
    let sent: Vec<Value> = std::fs::read_to_string(&spool)
        .unwrap()
        .lines()
        .flat_map(|l| {
            serde_json::Deserializer::from_str(l).into_iter::<Value>().map(Result::unwrap).collect::<Vec<_>>()
        })
        .collect();
    for (row, sent) in rows.iter().zip(&sent) {
        for (field, value) in sent.as_object().unwrap() {
            assert_eq!(&row[field], value, "{field} kept with its name and value");
        }
        assert!(row.get("device_id").is_none());
    }
    let csv = env.ok(&["report", "--format", "csv"]);
    assert!(
        csv.lines()
            .nth(1)
            .unwrap()
            .starts_with(",2026-11-25T21:00:00.000000,1,21.5,0.62,4.1,9.8,15.2,41,612,150,1012.6,21.3,44.0,"),
        "{csv}"
    );
    let summary: Vec<Value> = serde_json::from_str(&env.ok(&["report", "--summary", "--format", "json"])).unwrap();
    assert_eq!(summary[0]["device_id"], "(no device_id)");
    assert_eq!(summary[0]["readings"], 6);
}

#[test]
fn delete_data_leaves_nothing() {
    let env = Env::default();
    env.ok(&["deploy"]);
    env.ok(&["simulate", "--devices", "2", "--count", "5", "--rate", "100", "--quiet"]);
    let lake = env.lake();
    assert!(!lake.objects().is_empty());
    let out = env.ok(&["teardown", "--yes", "--delete-data"]);
    assert!(out.contains("deleted bucket"));
    assert!(!lake.dir.exists(), "{} is deleted", lake.dir.display());
    assert!(!env.data_dir().join("logs").exists());
}

#[test]
fn ctrl_c_flushes_what_was_accepted() {
    let env = Env::default();
    env.ok(&["deploy"]);
    let mut child = crate::fixture::local(&env)
        .args(["simulate", "--devices", "3", "--rate", "50", "--duration", "60s", "--format", "json", "--quiet"])
        // The sender says (at info) when the sink first accepts readings: Ctrl-C then lands mid-run.
        .env("REAQTIONS_LOG", "reaqtions::simulate::sender=info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    while !said.contains("first readings accepted") {
        let read = std::io::BufRead::read_line(&mut stderr, &mut said).unwrap();
        assert!(read > 0, "simulate ended before it said it was sending:\n{said}");
    }
    let killed = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    std::io::Read::read_to_string(&mut stderr, &mut said).unwrap();
    assert!(out.status.success(), "exit {}: {said}", out.status);
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["interrupted"], true);
    let accepted = summary["accepted"].as_u64().unwrap();
    assert!(accepted > 0 && accepted < 9000, "{summary}");
    let rows = env.ok(&["report", "--format", "ndjson"]).lines().count() as u64;
    assert_eq!(rows, accepted, "every accepted reading was flushed to the lake");
}

/// The CSV report and the lake's NDJSON objects load with pandas as they are (examples/pandas_report.py).
#[test]
fn pandas_loads_the_report_and_the_lake() {
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/py/bin/python");
    assert!(python.exists(), "{} is missing: run scripts/check, which installs pandas there", python.display());
    let env = Env::default();
    env.ok(&["deploy"]);
    env.ok(&["simulate", "--devices", "3", "--count", "20", "--rate", "100", "--quiet"]);
    let csv = env.dir.path().join("readings.csv");
    env.ok(&["report", "--format", "csv", "--output", csv.to_str().unwrap()]);
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/pandas_report.py");
    let lake = env.data_dir().join("lake/reaqtions-iot-data-lake-raw/processed");
    for source in [csv.as_path(), lake.as_path()] {
        let out = std::process::Command::new(&python).arg(&script).arg(source).output().unwrap();
        assert!(out.status.success(), "{}: {}", source.display(), String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("aq-0001") && text.contains("aq-0003") && text.contains("PM2_5"), "{text}");
    }
    let check = "import pandas as pd, sys; df = pd.read_csv(sys.argv[1]); assert len(df) == 60, len(df); \
                 assert list(df.columns[:3]) == ['device_id', 'TIME', 'USER_INPUT']; \
                 assert df['PM2_5'].dtype.kind == 'f' and df['seq'].dtype.kind == 'i'";
    let out = std::process::Command::new(&python).args(["-c", check]).arg(&csv).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // A lake of gzip (the default) and plain objects loads as one.
    env.ok(&["deploy", "--compression", "none"]);
    env.ok(&["simulate", "--devices", "3", "--count", "20", "--rate", "100", "--quiet"]);
    let examples = script.parent().unwrap();
    let mixed = "import sys; sys.path.insert(0, sys.argv[1]); from pandas_report import load; \
                 df = load(sys.argv[2]); assert len(df) == 120, len(df)";
    let out = std::process::Command::new(&python).args(["-c", mixed]).arg(examples).arg(&lake).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn logs_follow_prints_new_events_as_they_come() {
    use std::io::BufRead as _;
    let env = Env::default();
    env.ok(&["deploy"]);
    let mut follow = crate::fixture::local(&env)
        .args(["logs", "--follow", "--filter", "record failed"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = follow.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // Readings that fail arrive after the follower started.
    let spool = env.dir.path().join("bad.ndjson");
    std::fs::write(&spool, "{\"device_id\":\"aq-9\",\"NO2\":\"x\"}\n[1]\n{\"ok\":1}\n").unwrap();
    env.ok(&["simulate", "--resend", spool.to_str().unwrap(), "--quiet"]);
    let mut lines = Vec::new();
    while lines.len() < 2 {
        match rx.recv_timeout(std::time::Duration::from_secs(10)) {
            Ok(line) => lines.push(line),
            Err(_) => break,
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines.iter().all(|l| l.contains("record failed")));
    assert!(
        lines.iter().any(|l| l.contains("error_code=not_a_number"))
            && lines.iter().any(|l| l.contains("not_an_object"))
    );
}

/// What real sensors send (null and NaN measures, a byte-order mark, a key twice) is kept on the local target
/// exactly as the Lambda keeps it: the same transform code.
#[test]
fn the_local_target_keeps_what_real_sensors_send() {
    let env = Env::default();
    env.ok(&["deploy"]);
    let spool = env.dir.path().join("edge.ndjson");
    let mut lines = Vec::new();
    lines.extend_from_slice(br#"{"device_id":"aq-1","seq":1,"PM2_5":null,"NO2":2.5}"#);
    lines.push(b'\n');
    lines.extend_from_slice(br#"{"device_id":"aq-1","seq":2,"PM2_5": NaN,"CO": -Infinity}"#);
    lines.push(b'\n');
    lines.extend_from_slice(b"\xEF\xBB\xBF{\"device_id\":\"aq-1\",\"seq\":3,\"NO2\":1}\n");
    lines.extend_from_slice(br#"{"device_id":"aq-1","seq":4,"PM2_5":1,"PM2_5":2}"#);
    lines.push(b'\n');
    std::fs::write(&spool, lines).unwrap();
    // One reading per record, as a device would send it (packed, the BOM would be dropped before sending).
    env.ok(&["simulate", "--resend", spool.to_str().unwrap(), "--no-pack", "--quiet"]);
    let report = env.ok(&["report", "--format", "ndjson"]);
    let rows: Vec<serde_json::Value> = report.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 4, "{report}");
    let by_seq = |seq: u64| rows.iter().find(|r| r["seq"] == seq).unwrap_or_else(|| panic!("seq {seq} in {report}"));
    assert!(by_seq(1)["PM2_5"].is_null() && by_seq(1)["NO2"] == 2.5);
    assert!(by_seq(2)["PM2_5"].is_null() && by_seq(2)["CO"].is_null());
    assert_eq!(by_seq(3)["NO2"], 1);
    assert_eq!(by_seq(4)["PM2_5"], 2);
    let log =
        std::fs::read_to_string(env.data_dir().join("logs/aws.lambda.reaqtions-data-transformation.log")).unwrap();
    assert!(log.contains("\"duplicate_keys\":1"), "{log}");
}

/// Packed: 50 devices × 100 readings land as 5,000 readings in at most 500 records, none lost or duplicated,
/// and the summary and `status` show what Firehose would bill; unpacked, every reading is a 5 KB bill.
#[test]
fn readings_are_packed_into_records_and_billed_per_record() {
    let env = Env::default();
    env.ok(&["deploy"]);
    let run = |extra: &[&str]| {
        let mut args = vec!["simulate", "--devices", "50", "--count", "100", "--rate", "100", "--verify"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--verify-timeout", "60s", "--format", "json", "--quiet"]);
        env.json(&args)
    };
    let packed = run(&[]);
    assert_eq!((packed["sent"].as_u64(), packed["accepted"].as_u64()), (Some(5000), Some(5000)), "{packed}");
    assert_eq!((packed["verify"]["missing"].as_u64(), packed["verify"]["duplicated"].as_u64()), (Some(0), Some(0)));
    let records = packed["records"].as_u64().unwrap();
    assert!(records <= 500, "{records} records");
    assert!(packed["record_bytes"].as_u64().unwrap() <= records * 5120, "no record over 5 KB: {packed}");
    assert_eq!(packed["billed_bytes"].as_u64(), Some(records * 5120), "each record billed as one 5 KB unit");

    let unpacked = run(&["--no-pack"]);
    assert_eq!(unpacked["records"], 5000);
    assert_eq!(unpacked["billed_bytes"].as_u64(), Some(5000 * 5120));
    assert_eq!(unpacked["verify"]["missing"], 0);
    let saving = unpacked["billed_bytes"].as_f64().unwrap() / packed["billed_bytes"].as_f64().unwrap();
    assert!(saving >= 10.0, "packing bills {saving:.1}x less");

    let status = env.json(&["status", "--format", "json"]);
    assert_eq!(status["records_received"].as_u64(), Some(records + 5000), "{status}");
    assert_eq!(status["billed_bytes_received"].as_u64(), Some((records + 5000) * 5120));
}
