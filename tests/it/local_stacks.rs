//! `--stack` picks a deployment on the local target as on AWS: one record per stack under the data directory, lakes apart, the old `deployment.json` still read.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::Env;

/// `simulate` of `devices` × `count` readings into `stack`, verified, none malformed; returns the readings it
/// sent and the records (readings packed together) that carried them.
fn simulate(env: &Env, stack: &str, devices: u32, count: u32) -> (u64, u64) {
    let (devices, count) = (devices.to_string(), count.to_string());
    let summary = env.json(&[
        "--stack",
        stack,
        "simulate",
        "--devices",
        &devices,
        "--count",
        &count,
        "--rate",
        "100",
        "--seed",
        "3",
        "--verify",
        "--verify-timeout",
        "30s",
        "--format",
        "json",
        "--quiet",
    ]);
    assert_eq!(summary["verify"]["missing"], 0, "{summary}");
    (summary["sent"].as_u64().unwrap(), summary["records"].as_u64().unwrap())
}

fn status(env: &Env, stack: &str) -> Value {
    env.json(&["--stack", stack, "status", "--format", "json"])
}

/// The report's rows of `stack`: how many, and the devices they came from.
fn report(env: &Env, stack: &str) -> (usize, BTreeSet<String>) {
    let rows: Vec<Value> = serde_json::from_str(&env.ok(&["--stack", stack, "report", "--format", "json"])).unwrap();
    let devices = rows.iter().map(|r| r["device_id"].as_str().unwrap().to_owned()).collect();
    (rows.len(), devices)
}

fn devices(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|d| (*d).to_owned()).collect()
}

#[test]
fn two_stacks_in_one_data_dir_keep_their_own_records_readings_and_lakes() {
    let env = Env::default();
    env.ok(&["deploy"]);
    let other = env.json(&["--stack", "other", "deploy", "--format", "json"]);
    assert_eq!((other["stack"].as_str(), other["change"].as_str()), (Some("other"), Some("created")), "{other}");
    let ours = status(&env, "reaqtions");
    assert_eq!((ours["status"].as_str(), ours["stack"].as_str()), (Some("deployed"), Some("reaqtions")), "{ours}");
    assert_ne!(ours["bucket"], other["bucket"], "each stack has its own lake");
    assert_ne!(ours["log_group"], other["log_group"], "and its own log group");

    let (sent_ours, records_ours) = simulate(&env, "reaqtions", 2, 5);
    let (sent_other, records_other) = simulate(&env, "other", 3, 4);
    assert_eq!((sent_ours, sent_other), (10, 12));
    assert_eq!(report(&env, "reaqtions"), (10, devices(&["aq-0001", "aq-0002"])));
    assert_eq!(report(&env, "other"), (12, devices(&["aq-0001", "aq-0002", "aq-0003"])));
    // Without --stack: the default stack's.
    assert_eq!(env.json(&["status", "--format", "json"])["records_received"], records_ours);
    assert_eq!(status(&env, "other")["records_received"], records_other);
    let processed_ours = status(&env, "reaqtions")["processed_objects"].clone();

    // A stack never takes another's bucket: a teardown with --delete-data would delete both lakes.
    let taken = env.cmd(&["--stack", "third", "deploy", "--bucket", "reaqtions-iot-data-lake-raw"]).output().unwrap();
    let said = String::from_utf8_lossy(&taken.stderr);
    assert_eq!(taken.status.code(), Some(2), "{said}");
    assert!(said.contains("reaqtions-iot-data-lake-raw") && said.contains("local stack reaqtions"), "{said}");
    assert_eq!(status(&env, "third")["status"], "not deployed");

    // Tearing one down, data and all, leaves the other as it was.
    let other_lake = Path::new(other["bucket_path"].as_str().unwrap()).to_owned();
    let other_log = env.data_dir().join("logs/aws.lambda.other-data-transformation.log");
    let our_log = env.data_dir().join("logs/aws.lambda.reaqtions-data-transformation.log");
    assert!(other_lake.is_dir() && other_log.is_file() && our_log.is_file());
    let removed = env.ok(&["--stack", "other", "teardown", "--delete-data", "--yes"]);
    assert!(removed.contains("removed local pipeline other"), "{removed}");
    assert!(!other_lake.exists() && !other_log.exists(), "other's lake and log file are gone");
    let gone = status(&env, "other");
    assert_eq!(gone["status"], "not deployed", "{gone}");
    assert_eq!(gone["deployed_stacks"], serde_json::json!(["reaqtions"]), "which stacks there are: {gone}");
    let ours = status(&env, "reaqtions");
    let received = ours["records_received"].as_u64();
    assert_eq!((ours["status"].as_str(), received), (Some("deployed"), Some(records_ours)), "{ours}");
    assert_eq!(ours["processed_objects"], processed_ours, "{ours}");
    assert!(our_log.is_file(), "the default stack's log file stays");
    assert_eq!(report(&env, "reaqtions").0, 10);
    let again = env.cmd(&["--stack", "other", "teardown", "--yes"]).output().unwrap();
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing to remove: no local deployment of stack other"));
}

#[test]
fn an_old_layout_record_is_read_as_the_stack_it_names_and_moved_on_its_next_deploy() {
    let env = Env::default();
    let data = env.data_dir();
    // The old layout, as the code before stack folders wrote it: the same record, stream totals and minute
    // counters at the data directory's top. Made by a deploy and a run, then put where the old code kept them.
    env.ok(&["--stack", "older", "deploy"]);
    let (sent, records) = simulate(&env, "older", 2, 3);
    assert_eq!(sent, 6);
    let folder = data.join("stacks/older");
    let record = std::fs::read(folder.join("deployment.json")).unwrap();
    for name in ["deployment.json", "stream.json", "metrics.jsonl"] {
        std::fs::rename(folder.join(name), data.join(name)).unwrap();
    }
    std::fs::remove_dir(&folder).unwrap();

    // Read as the record of the stack it names, and of no other.
    let older = status(&env, "older");
    let received = older["records_received"].as_u64();
    assert_eq!((older["status"].as_str(), received), (Some("deployed"), Some(records)), "{older}");
    assert_eq!(report(&env, "older").0, 6);
    let default = env.json(&["status", "--format", "json"]);
    assert_eq!(default["status"], "not deployed", "{default}");
    assert_eq!(default["deployed_stacks"], serde_json::json!(["older"]), "{default}");
    let said = String::from_utf8_lossy(&env.cmd(&["status"]).output().unwrap().stderr).into_owned();
    assert!(said.contains("no local deployment of stack reaqtions") && said.contains("deployed here: older"), "{said}");

    // Another stack's deploy leaves it where it is.
    env.ok(&["deploy"]);
    assert_eq!(std::fs::read(data.join("deployment.json")).unwrap(), record, "the old record is untouched");
    assert_eq!(status(&env, "older")["status"], "deployed");

    // A dry run says it would move, and leaves it.
    let dry = env.cmd(&["--stack", "older", "deploy", "--dry-run"]).output().unwrap();
    let said = String::from_utf8_lossy(&dry.stderr);
    assert!(dry.status.success() && said.contains("its record moving to"), "{said}");
    assert!(data.join("deployment.json").is_file(), "a dry run moves nothing");

    // Its own stack's next deploy moves it, counters and all; nothing changed, so the deployment is up to date.
    let out = env.cmd(&["--stack", "older", "deploy", "--format", "json"]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && said.contains("moved the record of local pipeline older"), "{said}");
    let deployed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(deployed["change"], "up to date", "{deployed}");
    assert!(!data.join("deployment.json").exists() && !data.join("stream.json").exists());
    assert_eq!(std::fs::read(folder.join("deployment.json")).unwrap(), record, "moved whole");
    assert!(folder.join("metrics.jsonl").is_file());
    let older = status(&env, "older");
    assert_eq!(older["records_received"], records, "the totals moved with it: {older}");
    assert_eq!(older["stream_version"], 1, "{older}");
    assert_eq!(status(&env, "reaqtions")["status"], "deployed");
    assert_eq!(env.json(&["status", "--format", "json"])["stack"], "reaqtions");
}

#[test]
fn a_demo_under_another_stack_leaves_the_default_deployment_alone() {
    let env = Env::default();
    env.ok(&["deploy"]);
    let out = env.cmd(&["--stack", "other", "demo", "--devices", "2", "--rate", "10", "--duration", "1s"]).output();
    let out = out.unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("deployed local pipeline other"), "{said}");
    assert!(said.contains(" --stack other"), "the next commands name the stack: {said}");
    assert_eq!(status(&env, "other")["records_received"].as_u64().map(|n| n > 0), Some(true));
    let ours = env.json(&["status", "--format", "json"]);
    assert_eq!((ours["stack"].as_str(), ours["records_received"].as_u64()), (Some("reaqtions"), Some(0)), "{ours}");
}
