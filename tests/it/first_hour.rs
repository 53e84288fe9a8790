//! What a newcomer meets first: `demo` without `--local`, `REAQTIONS_LOCAL=1`, an AWS verb pointing at the local
//! deployment when AWS is not set up, and the stated share of malformed readings sent exactly.

use serde_json::Value;

use crate::Env;
use crate::fixture::reaqtions;

#[test]
fn demo_and_broker_run_on_this_machine_without_local() {
    let env = Env::default();
    let out = reaqtions(env.dir.path())
        .args(["--data-dir"])
        .arg(env.data_dir())
        .args(["demo", "--devices", "2", "--rate", "10", "--duration", "1s"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo without --local: {stderr}");
    assert!(!stderr.contains("region"), "no AWS configuration is built for a local verb: {stderr}");
    let out = reaqtions(env.dir.path()).args(["broker", "--help"]).output().unwrap();
    assert!(out.status.success());
}

#[test]
fn reaqtions_local_takes_the_usual_spellings_of_yes_and_no() {
    let env = Env::default();
    for yes in ["1", "true", "yes", "on"] {
        let out = reaqtions(env.dir.path())
            .env("REAQTIONS_LOCAL", yes)
            .arg("--data-dir")
            .arg(env.data_dir())
            .args(["deploy", "--format", "json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "REAQTIONS_LOCAL={yes}: {}", String::from_utf8_lossy(&out.stderr));
        let deployed: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(deployed["target"], "local", "REAQTIONS_LOCAL={yes}: {deployed}");
    }
    for no in ["0", "false", "no", "off"] {
        let out = reaqtions(env.dir.path()).env("REAQTIONS_LOCAL", no).arg("status").output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains("no AWS region"), "REAQTIONS_LOCAL={no} is AWS: {stderr}");
    }
}

#[test]
fn an_aws_verb_without_a_region_points_at_the_local_deployment() {
    let env = Env::default();
    env.ok(&["deploy"]);
    // The default data directory, as a newcomer has it after `reaqtions --local demo`.
    std::fs::rename(env.data_dir(), env.dir.path().join(".reaqtions")).unwrap();
    let out = reaqtions(env.dir.path()).args(["status"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("a local deployment exists under .reaqtions: add --local"), "{stderr}");
    assert!(stderr.contains("no AWS region"), "the AWS problem is still named: {stderr}");
    // Without a local deployment, only the AWS problem.
    let empty = Env::default();
    let out = reaqtions(empty.dir.path()).args(["status"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("--local"));
}

#[test]
fn the_malformed_share_is_sent_exactly() {
    let env = Env::default();
    env.ok(&["deploy"]);
    for (seed, ratio, readings, want) in [("1", "0.05", 50, 3), ("2", "0.05", 50, 3), ("3", "0.01", 20, 1)] {
        let per_device = (readings / 5).to_string();
        let summary = env.json(&[
            "simulate",
            "--devices",
            "5",
            "--count",
            &per_device,
            "--rate",
            "1000",
            "--malformed-ratio",
            ratio,
            "--seed",
            seed,
            "--format",
            "json",
            "--quiet",
        ]);
        assert_eq!(summary["malformed_sent"], want, "{ratio} of {readings} with seed {seed}: {summary}");
    }
}
