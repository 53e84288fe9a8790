//! `deploy` checks what it can before it builds the Lambda: region, credentials and permissions first; `--dry-run` never builds.
//!
//! That nothing was built is proven, not timed: `CARGO` (which deploy runs to build) names a script in the test's
//! directory that only leaves a marker file, so any attempt to build, however it ends, leaves the marker behind.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::AwsEnv;
use crate::fixture::reaqtions;

/// A stand-in for cargo that records that it was run (and with what) in `marker`, then fails.
fn cargo_that_leaves_a_marker(dir: &Path) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt as _;
    let marker = dir.join("cargo-was-run");
    let script = dir.join("fake-cargo");
    std::fs::write(&script, format!("#!/bin/sh\necho \"$@\" >> '{}'\nexit 1\n", marker.display())).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, marker)
}

/// The source checkout this binary was built from, where deploy builds the Lambda when no zip is given.
fn checkout() -> &'static str {
    env!("CARGO_MANIFEST_DIR")
}

#[test]
fn without_credentials_deploy_fails_on_them_before_building_anything() {
    let dir = tempfile::tempdir().unwrap();
    let (cargo, marker) = cargo_that_leaves_a_marker(dir.path());
    for args in [&["deploy"][..], &["deploy", "--dry-run", "--format", "json"]] {
        // A region but no credentials; the endpoint is one nothing listens on, so nothing leaves this machine.
        let out = assert_cmd::Command::from_std(reaqtions(dir.path()))
            .args(["--region", "eu-west-1"])
            .args(args)
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
            .env("CARGO", &cargo)
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded without credentials: {stderr}");
        assert!(stderr.contains("AWS credentials") && stderr.contains("aws configure"), "{args:?}: {stderr}");
        assert!(!stderr.contains("building the transformation Lambda"), "{args:?}: {stderr}");
        assert!(
            !marker.exists(),
            "{args:?} ran cargo ({}) before checking the credentials",
            std::fs::read_to_string(&marker).unwrap_or_default().trim()
        );
    }
}

#[test]
fn a_dry_run_without_a_zip_names_the_checkout_and_builds_nothing() {
    let env = AwsEnv::start();
    let (cargo, marker) = cargo_that_leaves_a_marker(env.dir.path());
    let out = env.cmd(&["deploy", "--dry-run", "--format", "json"]).env("CARGO", &cargo).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!marker.exists(), "the dry run ran cargo: {}", std::fs::read_to_string(&marker).unwrap_or_default());
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["would_build"]["checkout"], checkout(), "{plan}");
    assert_eq!(plan["would_build"]["architecture"], "x86_64", "{plan}");
    assert_eq!(plan["code_key"], Value::Null, "no zip, so no key yet: {plan}");
    assert!(plan["pipeline_stack"].as_str().unwrap().contains("would be created"), "{plan}");
    let said = format!("would build the Lambda for x86_64 from {}", checkout());
    assert!(stderr.contains(&said), "{stderr}");
    assert!(env.buckets().is_empty(), "the dry run created nothing");

    // The table names it too, for the other architecture.
    let table = env.cmd(&["deploy", "--dry-run", "--architecture", "arm64"]).env("CARGO", &cargo).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&table.stdout), String::from_utf8_lossy(&table.stderr));
    assert!(table.status.success(), "{stderr}");
    assert!(stdout.contains("would_build.checkout") && stdout.contains(checkout()), "{stdout}");
    assert!(stderr.contains(&format!("would build the Lambda for arm64 from {}", checkout())), "{stderr}");
    assert!(!marker.exists(), "the dry run ran cargo: {}", std::fs::read_to_string(&marker).unwrap_or_default());

    // A real deploy does run it (so the marker proves what it says), naming the checkout first, and a failed
    // build leaves AWS as it was.
    let real = env.cmd(&["deploy", "--no-smoke"]).env("CARGO", &cargo).output().unwrap();
    let stderr = String::from_utf8_lossy(&real.stderr);
    assert!(!real.status.success(), "{stderr}");
    assert!(std::fs::read_to_string(&marker).unwrap().contains("--profile lambda"), "{stderr}");
    let building = format!("building the transformation Lambda for x86_64 from {} (", checkout());
    assert!(stderr.contains(&building) && stderr.contains("permissions:"), "{stderr}");
    assert!(stderr.find("permissions:") < stderr.find(&building), "permissions are checked first: {stderr}");
    assert!(stderr.contains(&format!("building the Lambda for x86_64 in {} failed", checkout())), "{stderr}");
    assert!(env.buckets().is_empty(), "a failed build created nothing");
}

#[test]
fn a_given_zip_for_the_other_architecture_is_refused_before_any_aws_call() {
    let env = AwsEnv::start();
    let arm = env.zip_for("arm64");
    // No credentials: only the user's input can be what is refused.
    let mismatch = assert_cmd::Command::from_std(reaqtions(env.dir.path()))
        .args(["--region", "eu-west-1", "deploy", "--dry-run", "--lambda-zip"])
        .arg(&arm)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&mismatch.stderr);
    assert_eq!(mismatch.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("built for arm64, but the architecture setting is x86_64"), "{stderr}");
    // With credentials, a zip that fits is read and named by its key; nothing is to be built.
    let plan = env.json(&[
        "deploy",
        "--lambda-zip",
        arm.to_str().unwrap(),
        "--architecture",
        "arm64",
        "--dry-run",
        "--format",
        "json",
    ]);
    let zip = reaqtions_lambda::package::read_zip(std::fs::read(&arm).unwrap()).unwrap();
    assert_eq!(plan["code_key"], zip.artifact_key(), "{plan}");
    assert_eq!(plan["would_build"], Value::Null, "{plan}");
}
