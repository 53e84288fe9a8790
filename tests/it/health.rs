//! `health` on both targets: the local stream's per-minute counters after a real run, and CloudWatch series
//! of known values in moto, read by aws-sdk-cloudwatch through `cbor_moto.py` (moto 5.2 does not speak the
//! RPCv2 CBOR protocol the SDK uses). moto computes no percentiles (it fails on a `p90` over datapoints), so no
//! Duration datapoints are stored here; the p90 finding is tested on the judging code itself.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StateValue};
use chrono::Utc;
use serde_json::Value;

use crate::AwsEnv;
use crate::Env;

/// `cbor_moto.py` in front of a moto server, stopped (by PID) when dropped.
pub(crate) struct CborFront {
    _child: crate::fixture::Reaped,
    pub(crate) url: String,
}

impl CborFront {
    pub(crate) fn start(moto_url: &str) -> CborFront {
        Self::serve(moto_url, None)
    }

    /// The same front over HTTPS with `certificate` and its `key` (PEM files), at `https://localhost:PORT`.
    pub(crate) fn start_tls(moto_url: &str, certificate: &Path, key: &Path) -> CborFront {
        Self::serve(moto_url, Some((certificate, key)))
    }

    fn serve(moto_url: &str, tls: Option<(&Path, &Path)>) -> CborFront {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let python = root.join("target/py/bin/python");
        assert!(python.exists(), "{} is missing: run scripts/check once (it installs cbor2 there)", python.display());
        let mut command = Command::new(python);
        command.arg(root.join("tests/it/cbor_moto.py")).arg(moto_url);
        if let Some((certificate, key)) = tls {
            command.arg(certificate).arg(key);
        }
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
        let mut port = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut port).unwrap();
        assert!(!port.trim().is_empty(), "cbor_moto.py did not start (pip install cbor2 into target/py)");
        let url = match tls {
            None => format!("http://127.0.0.1:{}", port.trim()),
            Some(_) => format!("https://localhost:{}", port.trim()),
        };
        CborFront { _child: crate::fixture::Reaped::new(child), url }
    }
}

fn health(env: &AwsEnv, front: &CborFront, since: &str) -> (i32, Value) {
    let out = env
        .cmd(&["health", "--since", since, "--format", "json"])
        .env("AWS_ENDPOINT_URL", &front.url)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), json)
}

fn datum(name: &str, dims: &[(&str, &str)], value: f64, minutes_ago: i64) -> MetricDatum {
    let t = Utc::now() - chrono::Duration::minutes(minutes_ago);
    let mut d = MetricDatum::builder()
        .metric_name(name)
        .value(value)
        .timestamp(aws_smithy_types::DateTime::from_secs(t.timestamp()));
    for (k, v) in dims {
        d = d.dimensions(Dimension::builder().name(*k).value(*v).build());
    }
    d.build()
}

#[test]
fn health_against_moto_through_the_cbor_front() {
    let env = AwsEnv::start();
    let front = CborFront::start(&env.moto.url);
    let zip = env.zip();
    env.ok(&["deploy", "--lambda-zip", zip.to_str().unwrap(), "--no-smoke"]);

    // Nothing published: idle, counts 0, durations null, exit 0.
    let (code, idle) = health(&env, &front, "1h");
    assert_eq!((code, idle["verdict"].as_str()), (0, Some("idle")), "{idle}");
    assert_eq!(idle["window_seconds"].as_i64().map(|s| (3600..=3720).contains(&s)), Some(true), "{idle}");
    let m = &idle["metrics"];
    assert_eq!((m["incoming_records"].as_u64(), m["failed_records"].as_u64()), (Some(0), Some(0)));
    assert_eq!((m["lambda_errors"].as_u64(), m["iot_rule_failures"].as_u64()), (Some(0), Some(0)));
    assert!(m["freshness_seconds_max"].is_null() && m["lambda_duration_p90_ms"].is_null(), "{m}");

    // Known series, written through the front with the SDK the CLI uses.
    let config =
        aws_sdk_cloudwatch::config::Builder::from(&env.moto.sdk_config(&env.runtime)).endpoint_url(&front.url).build();
    let cw = aws_sdk_cloudwatch::Client::from_conf(config);
    let stream = [("DeliveryStreamName", "reaqtions-iot-data-stream")];
    let put = |namespace: &str, data: Vec<MetricDatum>| {
        env.runtime.block_on(cw.put_metric_data().namespace(namespace).set_metric_data(Some(data)).send()).unwrap();
    };
    put(
        "AWS/Firehose",
        vec![
            datum("IncomingRecords", &stream, 100.0, 40),
            datum("IncomingBytes", &stream, 50_000.0, 40),
            datum("SucceedProcessing.Records", &stream, 90.0, 39),
            datum("DeliveryToS3.DataFreshness", &stream, 70.0, 38),
            datum("DeliveryToS3.Success", &stream, 1.0, 38),
        ],
    );
    put("AWS/Lambda", vec![datum("Errors", &[("FunctionName", "reaqtions-data-transformation")], 0.0, 39)]);
    // Alarms are on by default: failed records come from the function's metric (moto runs no metric filters).
    put("reaqtions/reaqtions", vec![datum("FailedRecords", &[], 10.0, 39)]);
    // The rule's action and error-action failures under whatever ActionType, read by Metrics Insights; another
    // rule's failures in the same account count for nothing.
    let rule = [("RuleName", "reaqtions_readings"), ("ActionType", "Firehose")];
    let error_action = [("RuleName", "reaqtions_readings"), ("ActionType", "S3")];
    let other_rule = [("RuleName", "reaqtions_dev_readings"), ("ActionType", "Firehose")];
    put(
        "AWS/IoT",
        vec![
            datum("Failure", &rule, 2.0, 35),
            datum("ErrorActionFailure", &error_action, 1.0, 34),
            datum("Failure", &other_rule, 5.0, 35),
        ],
    );

    // status on AWS says what the local one says: received totals (from CloudWatch) and the stream's own buffering.
    crate::create_stream(&env, "reaqtions-iot-data-stream", crate::RAW);
    let out = env.cmd(&["status", "--format", "json"]).env("AWS_ENDPOINT_URL", &front.url).output().unwrap();
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((status["records_received"].as_u64(), status["bytes_received"].as_u64()), (Some(100), Some(50_000)));
    assert_eq!(status["billed_bytes_received"].as_u64(), Some(100 * 5120), "each 500-byte record billed as 5 KB");
    assert_eq!(status["buffering"], serde_json::json!({"size_mib": 5, "interval_seconds": 60}), "{status}");
    assert_eq!(status["stream_version"], 1);

    let (code, busy) = health(&env, &front, "1h");
    assert_eq!((code, busy["verdict"].as_str()), (5, Some("degraded")), "{busy}");
    let m = &busy["metrics"];
    assert_eq!(m["incoming_records"].as_u64(), Some(100));
    assert_eq!(m["incoming_bytes"].as_u64(), Some(50_000));
    assert_eq!(m["failed_records"].as_u64(), Some(10), "the FailedRecords metric: {m}");
    assert_eq!(m["failed_records_source"], "metric");
    assert_eq!(m["freshness_seconds_max"].as_f64(), Some(70.0));
    assert_eq!(m["delivery_success"].as_f64(), Some(1.0));
    assert_eq!(m["iot_rule_failures"].as_u64(), Some(3), "this rule's Failure and ErrorActionFailure only: {m}");
    assert!(m["iot_rule_failures_since"].is_null(), "an hour is within Metrics Insights' reach");
    let findings: Vec<&str> =
        busy["findings"].as_array().unwrap().iter().map(|f| f["metric"].as_str().unwrap()).collect();
    assert_eq!(findings, ["failed_records", "iot_rule_failures"], "{busy}");
    assert_eq!(busy["findings"][0]["value"].as_f64(), Some(10.0));

    // A stalled delivery: the oldest record waits an hour, nothing new arrives in the last 10 minutes. The
    // threshold is 1.5 × the S3 interval (Firehose's documented delay with partitioning by reading time: 90 s),
    // the processor's 5 s and the 300 s margin.
    put("AWS/Firehose", vec![datum("DeliveryToS3.DataFreshness", &stream, 3600.0, 3)]);
    let (code, stalled) = health(&env, &front, "10m");
    assert_eq!(code, 5, "{stalled}");
    assert_eq!(stalled["metrics"]["incoming_records"].as_u64(), Some(0));
    let f = &stalled["findings"][0];
    assert_eq!(
        (f["metric"].as_str(), f["value"].as_f64(), f["threshold"].as_f64()),
        (Some("freshness_seconds_max"), Some(3600.0), Some(395.0))
    );

    // An alarm of the stack in ALARM is a finding of its own; another stack's, whose name starts with this
    // stack's, is not.
    let firing = |name: &str, reason: &str| {
        let alarm = cw
            .put_metric_alarm()
            .alarm_name(name)
            .namespace("AWS/Firehose")
            .metric_name("DeliveryToS3.DataFreshness")
            .statistic(aws_sdk_cloudwatch::types::Statistic::Maximum)
            .period(300)
            .evaluation_periods(1)
            .threshold(420.0)
            .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
            .send();
        env.runtime.block_on(alarm).unwrap();
        let set = cw.set_alarm_state().alarm_name(name).state_value(StateValue::Alarm).state_reason(reason).send();
        env.runtime.block_on(set).unwrap();
    };
    firing(
        "reaqtions-delivery-freshness",
        "Threshold Crossed: 1 datapoint [3600.0] was greater than the threshold (420.0)",
    );
    firing("reaqtions-dev-delivery-freshness", "another stack's");
    let (_, alarmed) = health(&env, &front, "10m");
    let names: Vec<&str> =
        alarmed["findings"].as_array().unwrap().iter().filter_map(|f| f["metric"].as_str()).collect();
    assert!(!names.contains(&"alarm:reaqtions-dev-delivery-freshness"), "{alarmed}");
    let last = alarmed["findings"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["metric"], "alarm:reaqtions-delivery-freshness", "{alarmed}");
    assert!(last["message"].as_str().unwrap().contains("Threshold Crossed"));

    // A window longer than Metrics Insights reaches: IoT failures say they cover the last 14 days only.
    let (_, long) = health(&env, &front, "20d");
    let m = &long["metrics"];
    assert_eq!(m["iot_rule_failures"].as_u64(), Some(3), "{m}");
    let since = chrono::DateTime::parse_from_rfc3339(m["iot_rule_failures_since"].as_str().unwrap()).unwrap();
    let reach = Utc::now() - chrono::Duration::days(14);
    assert!((since.timestamp() - reach.timestamp()).abs() < 86_400, "{since} is about 14 days ago");
    let out = env.cmd(&["health", "--since", "20d"]).env("AWS_ENDPOINT_URL", &front.url).output().unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("iot rule failures (last 14 days)") && table.contains("reaches back 14 days"), "{table}");

    // The table for people: every series with its sparkline, and the verdict.
    let out = env.cmd(&["health"]).env("AWS_ENDPOINT_URL", &front.url).output().unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(5));
    assert!(table.contains("failed records") && table.trim_end().ends_with("verdict: DEGRADED"), "{table}");
}

/// An hour of 1,000 records a minute with 1% refused: 600 from the function's metric (alarms on), and from
/// Firehose's series (alarms off) within the unsettled periods of it — where the old derivation said 0.
#[test]
fn failed_records_of_a_steady_stream_with_one_percent_refused() {
    let env = AwsEnv::start();
    let front = CborFront::start(&env.moto.url);
    let zip = env.zip();
    env.ok(&["deploy", "--lambda-zip", zip.to_str().unwrap(), "--no-smoke"]);
    let config =
        aws_sdk_cloudwatch::config::Builder::from(&env.moto.sdk_config(&env.runtime)).endpoint_url(&front.url).build();
    let cw = aws_sdk_cloudwatch::Client::from_conf(config);
    let put = |namespace: &str, data: Vec<MetricDatum>| {
        env.runtime.block_on(cw.put_metric_data().namespace(namespace).set_metric_data(Some(data)).send()).unwrap();
    };
    let stream = [("DeliveryStreamName", "reaqtions-iot-data-stream")];
    let minutes = 1..=59;
    put("AWS/Firehose", minutes.clone().map(|ago| datum("IncomingRecords", &stream, 1000.0, ago)).collect());
    put("AWS/Firehose", minutes.clone().map(|ago| datum("SucceedProcessing.Records", &stream, 990.0, ago)).collect());
    put("reaqtions/reaqtions", minutes.clone().map(|ago| datum("FailedRecords", &[], 10.0, ago)).collect());

    let (code, from_metric) = health(&env, &front, "1h");
    let m = &from_metric["metrics"];
    assert_eq!((m["failed_records"].as_u64(), m["failed_records_source"].as_str()), (Some(590), Some("metric")), "{m}");
    assert_eq!(code, 5, "failed records are a finding");

    env.ok(&["deploy", "--lambda-zip", zip.to_str().unwrap(), "--no-smoke", "--no-alarms"]);
    let (code, from_series) = health(&env, &front, "1h");
    let m = &from_series["metrics"];
    assert_eq!(m["failed_records_source"], "series", "{m}");
    let failed = m["failed_records"].as_u64().unwrap();
    eprintln!("failed records of 59 minutes × 1,000 with 1% refused: 590 from the metric, {failed} from the series");
    // The processor's 60 s and a minute are not settled: at most the last two minutes' 10 are left out.
    assert!((570..=590).contains(&failed), "within the unsettled periods of 590: {failed}");
    assert_eq!(code, 5);
}

#[test]
fn health_on_the_local_target_counts_what_the_stream_did() {
    let env = Env::default();
    env.ok(&["deploy"]);
    let (code, idle) = local_health(&env);
    assert_eq!((code, idle["verdict"].as_str()), (0, Some("idle")), "{idle}");
    assert!(idle["metrics"]["lambda_throttles"].is_null(), "not applicable locally: {idle}");

    let summary = env.json(&[
        "simulate",
        "--devices",
        "4",
        "--count",
        "25",
        "--rate",
        "100",
        "--malformed-ratio",
        "0.2",
        "--seed",
        "7",
        "--no-pack",
        "--format",
        "json",
    ]);
    let (code, run) = local_health(&env);
    let m = &run["metrics"];
    assert_eq!(m["incoming_records"].as_u64(), summary["records"].as_u64(), "{run}\n{summary}");
    assert!(m["incoming_bytes"].as_u64().unwrap() > 0);
    let failed = m["failed_records"].as_u64().unwrap();
    assert!(failed > 0, "malformed readings fail as records: {run}");
    assert_eq!(m["delivery_success"].as_f64(), Some(1.0));
    assert!(m["lambda_duration_p90_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(m["lambda_errors"].as_u64(), Some(0));
    assert_eq!((code, run["verdict"].as_str()), (5, Some("degraded")), "failed records are a finding");
    assert_eq!(run["findings"][0]["metric"], "failed_records");
    assert_eq!(run["findings"][0]["value"].as_f64(), Some(failed as f64));
    // The next commands are typed for the local target they were printed on.
    let hint = run["findings"][0]["message"].as_str().unwrap();
    assert!(hint.contains("`reaqtions logs --local") && hint.contains("`reaqtions reprocess --local"), "{hint}");
}

fn local_health(env: &Env) -> (i32, Value) {
    let out = env.cmd(&["health", "--format", "json"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), json)
}

/// A record whose readings fall in two hours cannot be filed under one (partitioning: event): the transform
/// refuses it into the error prefix, yet it is good data, so `health` finds no failed records.
#[test]
fn a_record_spanning_two_hours_is_no_failed_record_for_health() {
    let env = Env::default();
    env.ok(&["deploy"]);
    let hour = Utc::now() - chrono::Duration::hours(3);
    let at = |minute: u32, second: u32| hour.format(&format!("%Y-%m-%dT%H:{minute:02}:{second:02}Z")).to_string();
    let next = (hour + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:00:01Z").to_string();
    // One line, two readings without a delimiter (as the original devices send): one record, two hours.
    let spanning = format!(
        "{{\"device_id\":\"aq-0001\",\"seq\":1,\"TIME\":\"{}\",\"NO2\":1}}{{\"device_id\":\"aq-0001\",\"seq\":2,\"TIME\":\"{next}\",\"NO2\":2}}\n",
        at(59, 59)
    );
    let spool = env.dir.path().join("spanning.ndjson");
    std::fs::write(&spool, spanning + &format!("{{\"device_id\":\"aq-0002\",\"TIME\":\"{}\",\"NO2\":3}}\n", at(10, 0)))
        .unwrap();
    env.ok(&["simulate", "--resend", spool.to_str().unwrap(), "--no-pack", "--quiet"]);
    let errors: Vec<String> =
        env.objects().into_iter().map(|(key, _)| key).filter(|k| k.starts_with("error/processing-failed/")).collect();
    assert_eq!(errors.len(), 1, "kept whole in the error prefix: {errors:?}");
    let spans = env.ok(&["logs", "--filter", "record spans hours"]);
    assert_eq!(spans.lines().count(), 1, "{spans}");

    let (code, run) = local_health(&env);
    let m = &run["metrics"];
    assert_eq!((m["incoming_records"].as_u64(), m["failed_records"].as_u64()), (Some(2), Some(0)), "{run}");
    assert!(!run["findings"].as_array().unwrap().iter().any(|f| f["metric"] == "failed_records"), "{run}");
    assert_eq!((code, run["verdict"].as_str()), (0, Some("healthy")), "{run}");
}
