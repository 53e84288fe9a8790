//! Every setting reaches the deployment and reads back from it: `status` shows what the pipeline runs with, by
//! the settings file's keys, from the stack's parameters on AWS and from the deployment record locally.

use serde_json::{Value, json};

use crate::{Cli, on_both};

/// Every setting away from its default. A setting the declaration gains fails this test until it is added.
fn all_changed() -> Value {
    json!({
        "stack": "lab",
        "bucket": "lab-lake",
        "partitioning": "arrival",
        "prefix": "readings/!{timestamp:yyyy/MM/dd/HH}/",
        "error_prefix": "failed/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/",
        "buffer_size_mib": 7,
        "buffer_interval_seconds": 120,
        "processor_buffer_size_mb": 0.5,
        "processor_buffer_interval_seconds": 10,
        "lambda_memory_mb": 512,
        "lambda_timeout_seconds": 30,
        "log_retention_days": 30,
        "noncurrent_version_days": 7,
        "athena_scan_limit_gb": 3,
        "architecture": "arm64",
        "alarms": true,
        "dashboard": false,
        "alarm_email": "ops@example.com",
        "compression": "none",
        "cold_after_days": 30,
        "cold_storage_class": "GLACIER_IR",
        "expire_processed_after_days": 400,
        "expire_errors_after_days": 120,
    })
}

#[test]
fn every_setting_is_deployed_and_read_back_on_both_targets() {
    let file = all_changed();
    let mut keys: Vec<&str> = file.as_object().unwrap().keys().map(String::as_str).collect();
    let mut declared: Vec<&str> = reaqtions::settings::DECLARED.iter().map(|d| d.key).chain(["stack"]).collect();
    keys.sort_unstable();
    declared.sort_unstable();
    assert_eq!(keys, declared, "the test names every declared setting");
    // Away from the declared default under its layout (arrival); alarms stay on, as an alarm email needs them.
    for d in reaqtions::settings::DECLARED.iter().filter(|d| d.key != "alarms") {
        let text = match &file[d.key] {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        let default = (d.default_given)(reaqtions::settings::Partitioning::Arrival);
        assert_ne!(Some(text), default, "{} is left at its declared default", d.key);
    }
    on_both(|target: &dyn Cli| {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("lab.yaml");
        std::fs::write(&config, serde_norway::to_string(&file).unwrap()).unwrap();
        let deployed = target.deploy(&["--config", config.to_str().unwrap(), "--architecture", "arm64"]);
        assert_eq!(deployed["stack"], "lab", "{deployed}");
        let status = target.json(&["--stack", "lab", "status", "--format", "json"]);
        assert_eq!(status["settings"], file, "{} status: {status}", target.target());
    });
}

#[test]
fn an_old_flag_spelling_still_works_and_says_the_new_one() {
    let env = crate::Env::default();
    // A 2 MiB buffer is an arrival-time pipeline's (partitioning: event needs 64 MiB or more).
    let old = ["deploy", "--partitioning", "arrival", "--buffer-size", "2", "--alarms", "false", "--format", "json"];
    let out = env.cmd(&old).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("warning: --buffer-size is now --buffer-size-mib"), "{said}");
    assert!(said.contains("warning: --alarms false is now --alarms or --no-alarms"), "{said}");
    let settings = &env.json(&["status", "--format", "json"])["settings"];
    assert_eq!((settings["buffer_size_mib"].as_u64(), settings["alarms"].as_bool()), (Some(2), Some(false)));
}

#[test]
fn a_local_pipeline_keeps_its_layout_and_refuses_the_other_saying_what_to_do() {
    let env = crate::Env::default();
    let created = env.json(&["deploy", "--format", "json"]);
    assert_eq!((created["change"].as_str(), created["partitioning"].as_str()), (Some("created"), Some("event")));
    let settings = &env.json(&["status", "--format", "json"])["settings"];
    assert_eq!(settings["partitioning"], "event", "status shows the layout: {settings}");
    let keyed = settings["prefix"].as_str().unwrap().to_owned();
    assert!(keyed.contains("!{partitionKeyFromLambda:hour}"), "{keyed}");

    let out = env.cmd(&["deploy", "--partitioning", "arrival"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "refused as a usage error");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("pipeline reaqtions files") && said.contains("partitioning: event"),
        "names the stack: {said}"
    );
    assert!(
        said.contains("Deploy without --partitioning") && said.contains("--stack <new-name>"),
        "what to do: {said}"
    );
    assert!(!said.contains("teardown"), "teardown revokes every device's certificate: {said}");

    let again = env.json(&["deploy", "--format", "json"]);
    assert_eq!((again["change"].as_str(), again["partitioning"].as_str()), (Some("up to date"), Some("event")));
    let settings = &env.json(&["status", "--format", "json"])["settings"];
    assert_eq!((settings["partitioning"].as_str(), settings["prefix"].as_str()), (Some("event"), Some(keyed.as_str())));
}

#[test]
fn a_local_deployment_recorded_before_the_setting_is_by_arrival_and_stays_so() {
    let env = crate::Env::default();
    env.ok(&["deploy", "--partitioning", "arrival"]);
    // The stack's own folder holds its record (`<data-dir>/stacks/<stack>/`).
    let record = env.data_dir().join("stacks/reaqtions/deployment.json");
    let mut recorded: Value = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    assert_eq!(recorded["settings"]["partitioning"], "arrival");
    recorded["settings"].as_object_mut().unwrap().remove("partitioning");
    std::fs::write(&record, serde_json::to_vec_pretty(&recorded).unwrap()).unwrap();

    let settings = &env.json(&["status", "--format", "json"])["settings"];
    assert_eq!(settings["partitioning"], "arrival", "{settings}");
    let again = env.json(&["deploy", "--format", "json"]);
    assert_eq!((again["change"].as_str(), again["partitioning"].as_str()), (Some("up to date"), Some("arrival")));
    let out = env.cmd(&["deploy", "--partitioning", "event"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("partitioning: arrival") && !said.contains("teardown"), "{said}");
}
