//! Sending against moto when the stream misbehaves: partial failures and 503s through the fault proxy, readings
//! spooled after the retries and resent, a missing stream and a denied put that stop sending at once, and packed
//! records through partial failures — none lost, none made just to be spooled.

use serde_json::Value;

use crate::{AwsEnv, RAW, create_stream, keys_in_bucket};

#[test]
fn partial_failures_and_503s_lose_nothing() {
    let env = AwsEnv::deployed();
    let proxy = crate::fault_proxy::FaultProxy::start(&env.moto.url, 0.20, 0.05, 11);
    let out = env
        .cmd(&[
            "simulate",
            "--devices",
            "10",
            "--rate",
            "10",
            "--count",
            "50",
            "--max-retries",
            "12",
            "--no-pack",
            "--format",
            "json",
            "--quiet",
        ])
        .env("AWS_ENDPOINT_URL", &proxy.url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let failed_entries = proxy.stats.failed_entries.load(std::sync::atomic::Ordering::Relaxed);
    assert!(failed_entries > 50, "the proxy failed {failed_entries} entries");
    assert!(proxy.stats.failed_calls.load(std::sync::atomic::Ordering::Relaxed) > 0);
    assert_eq!(summary["accepted"], 500);
    assert_eq!(summary["failed"], 0);
    let entries = summary["errors"]["ServiceUnavailableException"].as_u64().unwrap();
    assert!(entries >= failed_entries, "every refused entry counted by code: {summary}");
    assert!(summary["retried"].as_u64().unwrap() >= failed_entries, "{summary}");
    let keys = keys_in_bucket(&env, RAW);
    let mut unique = keys.clone();
    unique.dedup();
    assert_eq!(unique.len(), 500, "0 readings lost");
    assert!(keys.len() - unique.len() <= summary["retried"].as_u64().unwrap() as usize, "duplicates ≤ resends");
}

#[test]
fn readings_left_after_retries_are_spooled_and_resent() {
    let env = AwsEnv::deployed();
    let spool = env.dir.path().join("unsent.ndjson");
    {
        let proxy = crate::fault_proxy::FaultProxy::start(&env.moto.url, 0.5, 0.0, 5);
        let out = env
            .cmd(&["simulate", "--devices", "4", "--count", "25", "--rate", "100", "--max-retries", "1", "--spool"])
            .arg(&spool)
            .args(["--format", "json", "--quiet"])
            .env("AWS_ENDPOINT_URL", &proxy.url)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(4), "exit code says readings were spooled");
        let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
        let failed = summary["failed"].as_u64().unwrap();
        assert!(failed > 0);
        assert_eq!(summary["accepted"].as_u64().unwrap() + failed, 100);
        assert_eq!(std::fs::read_to_string(&spool).unwrap().lines().count() as u64, failed);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let hint = format!("`reaqtions simulate --resend {}`", spool.display());
        assert!(stderr.contains(&hint), "the command as typed on AWS, no --local: {stderr}");
    }
    let resent = env.json(&["simulate", "--resend", spool.to_str().unwrap(), "--format", "json", "--quiet"]);
    assert_eq!(resent["failed"], 0);
    let mut keys = keys_in_bucket(&env, RAW);
    keys.dedup();
    assert_eq!(keys.len(), 100, "everything arrived once the spool was resent");
}

/// A stream that does not exist: no retry can help, so sending stops at once with the reason; the spool holds
/// what was made for `--resend` once the stream exists, and the rest of the run is never made.
#[test]
fn a_missing_stream_stops_sending_at_once_and_says_why() {
    let env = AwsEnv::start();
    let bucket = "lake-for-missing";
    env.runtime.block_on(env.s3().create_bucket().bucket(bucket).send()).unwrap();
    let spool = env.dir.path().join("unsent.ndjson");
    let started = std::time::Instant::now();
    let out = env
        .cmd(&["simulate", "--devices", "5", "--count", "10", "--rate", "1", "--stream", "nope", "--bucket", bucket])
        .args(["--format", "json", "--quiet", "--spool"])
        .arg(&spool)
        .output()
        .unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(took < std::time::Duration::from_secs(3), "stopped at once, took {took:?}");
    assert!(stderr.contains("delivery stream nope does not exist in us-east-1"), "{stderr}");
    assert!(stderr.contains("reaqtions status") && stderr.contains("--resend"), "{stderr}");
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Batches already in flight when the first answer came back fail the same way (4 at once by default, and a
    // loaded machine may have sent a second before moto answered the first); none is retried.
    let calls = summary["calls"].as_u64().unwrap();
    assert!((1..=4).contains(&calls), "at most the batches in flight: {summary}");
    assert_eq!(summary["errors"]["ResourceNotFoundException"].as_u64(), Some(calls), "{summary}");
    assert_eq!(summary["retried"], 0, "no retries: {summary}");
    let (spooled, not_made) = (summary["failed"].as_u64().unwrap(), summary["not_made"].as_u64().unwrap());
    assert!(not_made > 0, "nothing is made just to be spooled: {summary}");
    assert_eq!(spooled + not_made, 50, "{summary}");
    assert_eq!(std::fs::read_to_string(&spool).unwrap().lines().count() as u64, spooled, "what was made");

    // A spool with no room left: what it cannot keep is counted and said, never silently dropped.
    let capped = env.dir.path().join("capped.ndjson");
    let out = env
        .cmd(&["simulate", "--devices", "5", "--count", "10", "--rate", "1", "--stream", "nope", "--bucket", bucket])
        .args(["--format", "json", "--quiet", "--spool-limit-mib", "0", "--spool"])
        .arg(&capped)
        .output()
        .unwrap();
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(summary["spool_left_out"].as_u64().unwrap() > 0, "{summary}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("could not be kept and are lost"));

    create_stream(&env, "nope", bucket);
    let resent = env.json(
        &["simulate", "--resend", spool.to_str().unwrap(), "--stream", "nope", "--bucket", bucket]
            .iter()
            .chain(&["--format", "json", "--quiet"])
            .copied()
            .collect::<Vec<_>>(),
    );
    assert_eq!((resent["accepted"].as_u64(), resent["failed"].as_u64()), (Some(spooled), Some(0)), "{resent}");
    assert_eq!(keys_in_bucket(&env, bucket).len() as u64, spooled);
}

/// A principal without firehose:PutRecordBatch: stopped at once, the action named, the producer policy named.
#[test]
fn a_denied_put_stops_sending_at_once_and_names_the_action() {
    let env = AwsEnv::start();
    let bucket = "lake-for-denied";
    env.runtime.block_on(env.s3().create_bucket().bucket(bucket).send()).unwrap();
    create_stream(&env, "reaqtions-iot-data-stream", bucket);
    let proxy = crate::fault_proxy::FaultProxy::denying(&env.moto.url);
    let spool = env.dir.path().join("denied.ndjson");
    let started = std::time::Instant::now();
    let out = env
        .cmd(&["simulate", "--devices", "4", "--count", "5", "--rate", "2", "--stream", "reaqtions-iot-data-stream"])
        .args(["--bucket", bucket, "--quiet", "--spool"])
        .arg(&spool)
        .env("AWS_ENDPOINT_URL", &proxy.url)
        .output()
        .unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(took < std::time::Duration::from_secs(3), "stopped at once, took {took:?}");
    assert!(stderr.contains("firehose:PutRecordBatch") && stderr.contains("examples/iam/producer.json"), "{stderr}");
    // The table on stdout: what was made is spooled, the rest of the run never made.
    let spooled = std::fs::read_to_string(&spool).unwrap().lines().count();
    assert!((1..20).contains(&spooled), "{spooled} spooled: only what was made");
    // No retries: at most the batches already in flight when the first denial came back (4 by default).
    let denied = proxy.stats.failed_calls.load(std::sync::atomic::Ordering::Relaxed);
    assert!((1..=4).contains(&denied), "{denied} calls: no retries");
}

/// Packed readings through a proxy that counts records and fails a fifth of them: 5,000 readings land in at
/// most 500 records, none lost or duplicated.
#[test]
fn packed_records_through_partial_failures_lose_nothing() {
    let env = AwsEnv::start();
    let bucket = "lake-for-packing";
    env.runtime.block_on(env.s3().create_bucket().bucket(bucket).send()).unwrap();
    create_stream(&env, "reaqtions-iot-data-stream", bucket);
    let proxy = crate::fault_proxy::FaultProxy::start(&env.moto.url, 0.20, 0.0, 13);
    let out = env
        .cmd(&["simulate", "--devices", "50", "--count", "100", "--rate", "100", "--max-retries", "12"])
        .args(["--stream", "reaqtions-iot-data-stream", "--bucket", bucket, "--format", "json", "--quiet"])
        .env("AWS_ENDPOINT_URL", &proxy.url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let forwarded = proxy.stats.forwarded_entries.load(std::sync::atomic::Ordering::Relaxed);
    assert!(proxy.stats.failed_entries.load(std::sync::atomic::Ordering::Relaxed) > 0);
    assert!(forwarded <= 500, "{forwarded} records reached Firehose");
    assert_eq!(summary["records"].as_u64(), Some(forwarded), "{summary}");
    let keys = keys_in_bucket(&env, bucket);
    let mut unique = keys.clone();
    unique.dedup();
    assert_eq!((keys.len(), unique.len()), (5000, 5000), "none lost, none duplicated");
}
