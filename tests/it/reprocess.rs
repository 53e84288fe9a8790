//! `reprocess` end to end: error objects written as Firehose (both spellings of `lambdaArn`) and the IoT rule's
//! error action write them, holding readings an earlier transform refused; on the local target and against
//! moto (whose Firehose writes what it is sent straight to S3), including a run the stream refuses mid-way; and a
//! record whose readings span two hours, refused by the local stream in event mode and resent split by hour.

use base64_simd::STANDARD as B64;
use serde_json::{Value, json};

use crate::Env;
use crate::{AwsEnv, RAW};

const ERRORS: &str = "error/processing-failed/year=2026/month=11/day=26/hour=07/";
const FIREHOSE_OBJECT: &str = "reaqtions-iot-data-stream-1-2026-11-26-07-00-00-0f0e0d0c-0b0a-0908-0706-050403020100";
const IOT_OBJECT: &str = "error/iot-rule/aq-0003/1764140400000-5b1c.json";
/// The object deploy writes under the processed prefix's root to record the layout (no readings).
const LAYOUT_MARKER: &str = "_reaqtions_layout";

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
    assert_eq!(run["split_by_hour"], 0, "each record holds one hour's readings");
    assert!(run["note"].as_str().unwrap().contains("the hour they were measured in"), "event mode: {run}");
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

    // The crash window: a run stopped after the stream took an object's records and before the object moved
    // aside leaves it under error/; the next run resends its records. The lake then holds copies, and `report`
    // still counts each reading once.
    let lake_path = |key: &str| lake.join(key);
    let (key, _) = &objects()[0];
    let done = key.replacen("error/", "error/reprocessed/", 1);
    std::fs::copy(lake_path(&done), lake_path(key)).unwrap();
    let crashed = env.json(&["reprocess", "--yes", "--format", "json"]);
    assert_eq!((crashed["resent"].as_u64(), crashed["objects_done"].as_u64()), (Some(2), Some(1)), "{crashed}");
    let all = env.json(&["report", "--format", "json", "--keep-duplicates"]);
    assert_eq!(all.as_array().unwrap().len(), 5, "the lake holds the two resent readings twice: {all:#}");
    let out = env.cmd(&["report", "--format", "json"]).output().unwrap();
    let once: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(once.as_array().unwrap().len(), 3, "each reading counted once: {once:#}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("report: 2 copies of readings dropped"), "{stderr}");
}

#[test]
fn reprocess_against_moto_checks_the_deployed_transform_and_survives_a_refusing_stream() {
    let env = AwsEnv::deployed();
    let s3 = env.s3();
    for (key, bytes) in objects() {
        env.runtime.block_on(s3.put_object().bucket(RAW).key(&key).body(bytes.into()).send()).unwrap();
    }
    // Every object under `prefix` but the layout marker deploy writes under the prefix's root.
    let keys = |prefix: &str| -> Vec<String> {
        let list = env.runtime.block_on(s3.list_objects_v2().bucket(RAW).prefix(prefix).send()).unwrap();
        let keys = list.contents().iter().filter_map(|o| o.key().map(str::to_owned));
        keys.filter(|k| !k.ends_with(LAYOUT_MARKER)).collect()
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

/// One device's readings, one a second from 10:59:00 to 11:00:59 yesterday (UTC), as one newline-delimited pack:
/// (the pack, the hour of 10:00 as `year=…/month=…/day=…/hour=10/`, and 11:00's).
fn pack_over_the_hour() -> (Vec<u8>, String, String) {
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).date_naive();
    let start = yesterday.and_hms_opt(10, 59, 0).unwrap().and_utc();
    let mut pack = Vec::new();
    for seq in 0..120 {
        let time = (start + chrono::Duration::seconds(seq)).format("%Y-%m-%dT%H:%M:%S%.6f");
        let reading = json!({"TIME": time.to_string(), "device_id": "aq-0042", "seq": seq, "NO2": 1.5, "PM2_5": 7});
        pack.extend_from_slice(reading.to_string().as_bytes());
        pack.push(b'\n');
    }
    let hour = |h: u32| yesterday.and_hms_opt(h, 0, 0).unwrap().format("year=%Y/month=%m/day=%d/hour=%H/").to_string();
    (pack, hour(10), hour(11))
}

/// The `seq`s of the readings in the processed objects whose keys contain `partition`.
fn seqs_under(env: &Env, partition: &str) -> Vec<u64> {
    let mut seqs = Vec::new();
    let objects = env.objects().into_iter().filter(|(k, _)| k.starts_with("processed/"));
    for (key, body) in objects.filter(|(k, _)| k.contains(partition)) {
        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let reading: Value = serde_json::from_slice(line).unwrap_or_else(|e| panic!("{key}: {e}"));
            seqs.push(reading["seq"].as_u64().unwrap());
        }
    }
    seqs.sort_unstable();
    seqs
}

#[test]
fn a_record_spanning_two_hours_is_refused_in_event_mode_and_resent_one_record_per_hour() {
    use reaqtions::seams::Pipeline;
    let env = Env::default();
    let deployed = env.json(&["deploy", "--format", "json"]);
    let prefix = deployed["prefix"].as_str().unwrap();
    assert!(prefix.contains("!{partitionKeyFromLambda:hour}"), "new pipelines file readings by their hour: {prefix}");
    let (pack, ten, eleven) = pack_over_the_hour();
    // A producer that packs across the hour (this tool's packer never does): the stream refuses the record whole.
    {
        let pipeline = reaqtions::local::LocalTarget::new(&env.data_dir()).open().unwrap();
        let sink = pipeline.sink().unwrap();
        assert_eq!(sink.put_record_batch(std::slice::from_ref(&pack)).unwrap(), [None]);
        sink.flush().unwrap();
    }
    let errors: Vec<(String, Vec<u8>)> =
        env.objects().into_iter().filter(|(k, _)| k.starts_with("error/processing-failed/")).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let failed = reaqtions::failed_records::parse(errors[0].1.trim_ascii_end()).expect("one error record");
    assert_eq!(failed.payload, pack, "kept whole, as sent");
    assert!(seqs_under(&env, "").is_empty(), "nothing of it was delivered");

    let dry = env.json(&["reprocess", "--dry-run", "--format", "json"]);
    assert_eq!((dry["split_by_hour"].as_u64(), dry["hour_records"].as_u64()), (Some(1), Some(2)), "{dry}");
    let run = env.json(&["reprocess", "--yes", "--format", "json"]);
    assert_eq!((run["records"].as_u64(), run["resent"].as_u64()), (Some(1), Some(120)), "{run}");
    assert_eq!((run["split_by_hour"].as_u64(), run["hour_records"].as_u64()), (Some(1), Some(2)), "{run}");
    assert_eq!((run["unsent"].as_u64(), run["objects_done"].as_u64()), (Some(0), Some(1)), "{run}");
    assert_eq!(run["still_failing"], json!({}));

    // Each hour's partition holds that hour's readings: every one once, none lost.
    assert_eq!(seqs_under(&env, &ten), (0..60).collect::<Vec<u64>>(), "10:59:00-10:59:59 under {ten}");
    assert_eq!(seqs_under(&env, &eleven), (60..120).collect::<Vec<u64>>(), "11:00:00-11:00:59 under {eleven}");
    assert_eq!(seqs_under(&env, "").len(), 120, "nothing anywhere else");
    let left: Vec<String> = env.objects().into_iter().map(|(k, _)| k).filter(|k| k.starts_with("error/")).collect();
    assert!(left.iter().all(|k| k.starts_with("error/reprocessed/")), "the error object moved aside: {left:?}");

    let again = env.json(&["reprocess", "--yes", "--format", "json"]);
    assert_eq!((again["objects"].as_u64(), again["resent"].as_u64()), (Some(0), Some(0)), "{again}");
    assert_eq!(seqs_under(&env, "").len(), 120, "a second run sends nothing");
}
