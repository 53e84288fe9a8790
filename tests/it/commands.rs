//! deploy's idempotency and every bad input named clearly.

use crate::Env;

#[test]
fn deploy_creates_then_is_up_to_date_then_updates() {
    let env = Env::default();
    let created = env.json(&["deploy", "--output", "json"]);
    assert_eq!(created["change"], "created");
    assert_eq!(created["stream"], "reaqtions-iot-data-stream");
    assert_eq!(created["stream_version"], 1);
    assert_eq!(env.json(&["deploy", "--output", "json"])["change"], "up to date");
    let updated = env.json(&["deploy", "--buffer-size", "2", "--output", "json"]);
    assert_eq!(updated["change"], "updated");
    assert_eq!(updated["stream_version"], 2);
    assert_eq!(updated["buffering"], "2 MiB / 60 s");
    let dry = env.cmd(&["deploy", "--stack", "lab", "--dry-run"]).output().unwrap();
    assert!(String::from_utf8_lossy(&dry.stderr).contains("would update"));
    assert_eq!(env.json(&["status", "--output", "json"])["stack"], "reaqtions", "dry run changed nothing");
}

#[test]
fn settings_file_and_flags() {
    let env = Env::default();
    let config = env.dir.path().join("reaqtions.yaml");
    std::fs::write(&config, "stack: lab\nbuffer_interval_seconds: 0\nlambda_memory_mb: 512\n").unwrap();
    let out = env.json(&["deploy", "--config", config.to_str().unwrap(), "--buffer-size", "3", "--output", "json"]);
    assert_eq!(out["stream"], "lab-iot-data-stream");
    assert_eq!(out["function"], "lab-data-transformation");
    assert_eq!(out["buffering"], "3 MiB / 0 s");
    // ./reaqtions.yaml is read without --config.
    let implicit = env.json(&["deploy", "--output", "json"]);
    assert_eq!(implicit["stream"], "lab-iot-data-stream");
    assert_eq!(implicit["buffering"], "5 MiB / 0 s");
}

#[test]
fn bad_input_is_named() {
    let env = Env::default();
    let fails = |args: &[&str], needle: &str| {
        let out = env.cmd(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr:?} does not mention {needle:?}");
    };
    fails(&["simulate"], "reaqtions deploy --local");
    fails(&["deploy", "--buffer-size", "0"], "buffer size 0 MiB");
    fails(&["deploy", "--stack", "Bad_Name"], "Bad_Name");
    fails(&["deploy", "--config", "missing.yaml"], "missing.yaml");
    std::fs::write(env.dir.path().join("typo.yaml"), "buffer_size: 5\n").unwrap();
    fails(&["deploy", "--config", "typo.yaml"], "typo.yaml");
    env.ok(&["deploy"]);
    fails(&["simulate", "--malformed-ratio", "2"], "--malformed-ratio");
    fails(&["simulate", "--rate", "0"], "--rate");
    fails(&["simulate", "--resend", "nope.ndjson"], "nope.ndjson");
    fails(&["report", "--since", "someday"], "someday");
    fails(&["report", "--since", "1h", "--until", "2h"], "is after --until");
    fails(&["report", "--output", "/nonexistent/dir/out.csv"], "/nonexistent/dir/out.csv");

    // The AWS target without a region: a clear error at once, before any call.
    let aws = assert_cmd::Command::new(env!("CARGO_BIN_EXE_reaqtions"))
        .env_clear()
        .env("HOME", env.dir.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .arg("status")
        .timeout(std::time::Duration::from_secs(20))
        .output()
        .unwrap();
    assert!(!aws.status.success());
    assert!(String::from_utf8_lossy(&aws.stderr).contains("no AWS region: pass --region"), "{aws:?}");
}

#[test]
fn demo_runs_the_main_job() {
    let env = Env::default();
    let out = env.cmd(&["demo", "--devices", "3", "--rate", "20", "--duration", "1s"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("missing") && stdout.contains("aq-0003") && stdout.contains("AQI_category"), "{stdout}");
}
