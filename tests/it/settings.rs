//! Every setting reaches the deployment and reads back from it: `status` shows what the pipeline runs with, by
//! the settings file's keys, from the stack's parameters on AWS and from the deployment record locally.

use serde_json::{Value, json};

use crate::{Cli, on_both};

/// Every setting away from its default. A setting the declaration gains fails this test until it is added.
fn all_changed() -> Value {
    json!({
        "stack": "lab",
        "bucket": "lab-lake",
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
    let out = env.cmd(&["deploy", "--buffer-size", "2", "--alarms", "false", "--format", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("warning: --buffer-size is now --buffer-size-mib"), "{said}");
    assert!(said.contains("warning: --alarms false is now --alarms or --no-alarms"), "{said}");
    let settings = &env.json(&["status", "--format", "json"])["settings"];
    assert_eq!((settings["buffer_size_mib"].as_u64(), settings["alarms"].as_bool()), (Some(2), Some(false)));
}
