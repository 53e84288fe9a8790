//! `reprocess` end to end: error objects written as Firehose (both spellings of `lambdaArn`) and the IoT rule's
//! error action write them, holding readings an earlier transform refused; on the local target and against
//! moto (whose Firehose writes what it is sent straight to S3), including a run the stream refuses mid-way.

use base64_simd::STANDARD as B64;
use serde_json::{Value, json};

use crate::Env;
use crate::{AwsEnv, RAW, create_stream};

const ERRORS: &str = "error/processing-failed/year=2026/month=11/day=26/hour=07/";
const FIREHOSE_OBJECT: &str = "reaqtions-iot-data-stream-1-2026-11-26-07-00-00-0f0e0d0c-0b0a-0908-0706-050403020100";
const IOT_OBJECT: &str = "error/iot-rule/aq-0003/1764140400000-5b1c.json";

fn reading(device: Option<&str>, no2: f64) -> Vec<u8> {
    let mut r = json!({"TIME": "2026-11-26T07:00:00.000000", "NO2": no2, "PM2_5": 7, "T": 21.5});
    if let Some(d) = device {
        r["device_id"] = d.into();
    }
    r.to_string().into_bytes()
}

fn firehose_line(raw: &[u8], arn_key: &str) -> String {
    let mut line = json!({
        "attemptsMade": 4, "arrivalTimestamp": 1764140400000i64, "errorCode": "Lambda.ProcessingFailedStatus",
        "errorMessage": "ProcessingFailed status set for record", "attemptEndingTimestamp": 1764140401000i64,
        "rawData": B64.encode_to_string(raw),
    });
    line[arn_key] = "arn:aws:lambda:us-east-1:123456789012:function:reaqtions-data-transformation:$LATEST".into();
    line.to_string()
}

/// The two objects: four Firehose records (a plain reading, an enveloped one, one still refused, a blank one)
/// and an IoT rule error document.
pub(crate) fn objects() -> Vec<(String, Vec<u8>)> {
    let enveloped = reaqtions_lambda::envelope::seal("aq-0002", &reading(None, 2.5));
    let lines = [
        firehose_line(&reading(Some("aq-0001"), 1.5), "lambdaArn"),
        firehose_line(&enveloped, "lambdaARN"),
        firehose_line(b"NO2=??", "lambdaArn"),
        firehose_line(b"   ", "lambdaArn"),
    ];
    let iot = json!({
        "ruleName": "reaqtions_readings", "topic": "reaqtions/aq-0003/readings", "cloudwatchTraceId": "t-1",
        "clientId": "aq-0003", "base64OriginalPayload": B64.encode_to_string(reading(None, 3.5)),
        "failures": [{"failedAction": "FirehoseAction", "failedResource": "reaqtions-iot-data-stream",
                      "errorMessage": "Failed to send message to Firehose"}],
    });
    vec![
        (format!("{ERRORS}{FIREHOSE_OBJECT}"), (lines.join("\n") + "\n").into_bytes()),
        (IOT_OBJECT.to_owned(), iot.to_string().into_bytes()),
    ]
}

fn summary(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    })
}

#[test]
fn reprocess_on_the_local_target_resends_once_and_keeps_what_still_fails() {
    let env = Env::default();
    env.ok(&["deploy"]);
    let lake = env.data_dir().join("lake/reaqtions-iot-data-lake-raw");
    for (key, bytes) in objects() {
        let path = lake.join(&key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    let before = env.objects();

    let dry = env.json(&["reprocess", "--dry-run", "--format", "json"]);
    assert_eq!((dry["objects"].as_u64(), dry["records"].as_u64()), (Some(2), Some(5)), "{dry}");
    assert_eq!((dry["readings_found"].as_u64(), dry["resent"].as_u64()), (Some(3), Some(3)));
    assert_eq!(dry["still_failing"], json!({"invalid_json": 1}));
    assert_eq!(dry["objects_done"], 0);
    assert_eq!(env.objects(), before, "--dry-run changes nothing");

    let refused = env.cmd(&["reprocess"]).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--yes"), "no terminal to ask on: needs --yes");

    let run = env.json(&["reprocess", "--yes", "--format", "json"]);
    assert_eq!((run["resent"].as_u64(), run["objects_done"].as_u64()), (Some(3), Some(2)), "{run}");
    assert_eq!(run["still_failing"], json!({"invalid_json": 1}));
    assert!(run["note"].as_str().unwrap().contains("new arrival time"));
    let rows = env.json(&["report", "--format", "json"]);
    let mut devices: Vec<&str> = rows.as_array().unwrap().iter().map(|r| r["device_id"].as_str().unwrap()).collect();
    devices.sort_unstable();
    assert_eq!(devices, ["aq-0001", "aq-0002", "aq-0003"], "each reading once, under its device");

    let keys: Vec<String> = env.objects().into_iter().map(|(k, _)| k).collect();
    let moved = |key: &str| keys.iter().any(|k| k.ends_with(&key.replacen("error/", "error/reprocessed/", 1)));
    for (key, _) in objects() {
        assert!(!keys.iter().any(|k| k.ends_with(&key)), "{key} moved out: {keys:?}");
        assert!(moved(&key), "{key} kept under error/reprocessed/: {keys:?}");
    }
    let (_, remaining) =
        env.objects().into_iter().find(|(k, _)| k.contains(&format!("{FIREHOSE_OBJECT}-remaining-"))).unwrap();
    let remaining = String::from_utf8(remaining).unwrap();
    assert_eq!(remaining, firehose_line(b"NO2=??", "lambdaArn") + "\n", "the refused record, as Firehose wrote it");

    let again = env.json(&["reprocess", "--yes", "--format", "json"]);
    assert_eq!((again["resent"].as_u64(), again["objects_done"].as_u64()), (Some(0), Some(0)), "{again}");
    assert_eq!(again["still_failing"], json!({"invalid_json": 1}));
    assert_eq!(env.json(&["report", "--format", "json"]).as_array().unwrap().len(), 3, "nothing sent twice");
}

#[test]
fn reprocess_against_moto_checks_the_deployed_transform_and_survives_a_refusing_stream() {
    let env = AwsEnv::start();
    let zip = env.zip();
    env.ok(&["deploy", "--lambda-zip", zip.to_str().unwrap(), "--no-smoke"]);
    create_stream(&env, "reaqtions-iot-data-stream", RAW);
    let s3 = env.s3();
    for (key, bytes) in objects() {
        env.runtime.block_on(s3.put_object().bucket(RAW).key(&key).body(bytes.into()).send()).unwrap();
    }
    let keys = |prefix: &str| -> Vec<String> {
        let list = env.runtime.block_on(s3.list_objects_v2().bucket(RAW).prefix(prefix).send()).unwrap();
        list.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect()
    };

    // The test zip's bootstrap does not say which transform it carries: resending could loop.
    let out = env.cmd(&["reprocess", "--yes"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("reaqtions-data-transformation") && err.contains("--force"), "{err}");

    // The stream refuses everything mid-way: nothing is lost, nothing moves, and the run says so (exit 3).
    let denying = crate::fault_proxy::FaultProxy::denying(&env.moto.url);
    let out = env
        .cmd(&["reprocess", "--yes", "--force", "--format", "json"])
        .env("AWS_ENDPOINT_URL", &denying.url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let refused = summary(&out);
    assert_eq!((refused["resent"].as_u64(), refused["unsent"].as_u64()), (Some(0), Some(3)), "{refused}");
    assert_eq!(refused["objects_done"], 0);
    assert_eq!(keys("error/").len(), 2, "both objects stay for the next run");
    assert!(keys("processed/").is_empty());

    // Run again against the stream itself: every accepted reading once.
    let out = env.cmd(&["reprocess", "--yes", "--force", "--format", "json"]).output().unwrap();
    let run = summary(&out);
    assert!(out.status.success(), "{run}");
    assert_eq!((run["resent"].as_u64(), run["objects_done"].as_u64()), (Some(3), Some(2)), "{run}");
    let records = || -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for key in keys("processed/") {
            let body = env.runtime.block_on(s3.get_object().bucket(RAW).key(&key).send()).unwrap();
            let bytes = env.runtime.block_on(body.body.collect()).unwrap().into_bytes();
            out.extend(bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec));
        }
        out
    };
    let mut devices = Vec::new();
    for record in records() {
        // moto stores records as sent (no Lambda): each an envelope counting one resend, its device kept.
        let opened = reaqtions_lambda::envelope::open(&record).unwrap().expect("a sealed record");
        assert_eq!(opened.reprocessed, 1);
        devices.push(opened.device_id.unwrap_or_else(|| "(in the reading)".into()));
    }
    devices.sort_unstable();
    assert_eq!(devices, ["(in the reading)", "aq-0002", "aq-0003"]);
    let reprocessed = keys("error/reprocessed/");
    assert_eq!(reprocessed.len(), 2, "{reprocessed:?}");
    let again = summary(&env.cmd(&["reprocess", "--yes", "--force", "--format", "json"]).output().unwrap());
    assert_eq!((again["resent"].as_u64(), again["objects"].as_u64()), (Some(0), Some(1)), "{again}");
    assert_eq!(records().len(), 3, "a second run sends nothing");
}
