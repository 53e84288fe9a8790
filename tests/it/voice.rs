//! One voice: the same situation answers the same way on every verb — refusing without a terminal is a usage
//! error (2), a dry run names what it would change and changes nothing, `--format` is the shape and `--output` a
//! file, windows are [since, until), and `demo` takes the stack and settings file every verb takes.

use std::process::Output;

use crate::{AwsEnv, Cli, Env};

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn refusing_without_a_terminal_is_a_usage_error_on_every_verb_that_asks() {
    let env = Env::default();
    env.ok(&["deploy"]);
    // Failed records to send again, so reprocess has something to ask about.
    env.ok(&["simulate", "--devices", "2", "--count", "20", "--malformed-ratio", "0.5", "--quiet"]);
    for args in
        [&["teardown"][..], &["reprocess"], &["simulate", "--devices", "1000", "--rate", "100000", "--count", "100000"]]
    {
        let out = env.cmd(args).output().unwrap();
        assert_eq!(code(&out), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("--yes"), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(env.json(&["status", "--format", "json"])["status"], "deployed", "nothing was removed");
    // A verb of the other target is a usage error too, and says what to run instead.
    for args in [&["devices", "list"][..], &["--stack", "lab", "report", "--engine", "athena"]] {
        let out = env.cmd(args).output().unwrap();
        assert_eq!(code(&out), Some(2), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn a_dry_run_names_what_it_would_change_and_changes_nothing() {
    let env = Env::default();
    env.ok(&["deploy"]);
    let before = env.objects();
    let out = env.ok(&["teardown", "--dry-run"]);
    assert!(out.contains("would remove local pipeline reaqtions"), "{out}");
    let plan = env.ok(&["simulate", "--devices", "3", "--count", "10", "--dry-run"]);
    assert!(plan.contains("3 devices") && plan.contains("30 readings"), "{plan}");
    assert_eq!(env.objects(), before, "nothing was sent");
    assert_eq!(env.json(&["status", "--format", "json"])["status"], "deployed", "nothing was removed");

    let aws = AwsEnv::start();
    aws.deploy(&[]);
    let buckets = aws.buckets();
    let stacks = |env: &AwsEnv| {
        let cfn = aws_sdk_cloudformation::Client::new(&env.moto.sdk_config(&env.runtime));
        let out = env.runtime.block_on(cfn.describe_stacks().send()).unwrap();
        let mut names: Vec<String> = out.stacks().iter().filter_map(|s| s.stack_name().map(str::to_owned)).collect();
        names.sort();
        names
    };
    let before = stacks(&aws);
    let out = aws.ok(&["teardown", "--dry-run", "--delete-data"]);
    assert!(out.contains("would delete stacks reaqtions and reaqtions-artifacts"), "{out}");
    assert!(out.contains("DELETE bucket"), "{out}");
    assert_eq!((stacks(&aws), aws.buckets()), (before, buckets), "the same stacks and buckets after");
}

#[test]
fn format_is_the_shape_and_output_a_file_with_the_old_spelling_warned() {
    let env = Env::default();
    env.ok(&["deploy"]);
    let old = env.cmd(&["status", "--output", "json"]).output().unwrap();
    assert!(old.status.success(), "{}", stderr(&old));
    assert!(stderr(&old).contains("--output json is now --format json"), "{}", stderr(&old));
    let json: serde_json::Value = serde_json::from_slice(&old.stdout).unwrap();
    assert_eq!(json["target"], "local");
    let file = env.dir.path().join("status.json");
    let out = env.cmd(&["status", "--format", "json", "--output", file.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success() && out.stdout.is_empty(), "{}", stderr(&out));
    let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(written["stack"], "reaqtions");
    // A file named like a format is ./json.
    env.ok(&["status", "--format", "json", "--output", "./json"]);
    assert!(env.dir.path().join("json").exists());
    // Only table and json were ever `--output`'s formats: `report --output csv` is a file or the format, and the
    // user says which.
    let report = env.cmd(&["report", "--output", "csv"]).output().unwrap();
    assert_eq!(code(&report), Some(2), "{}", stderr(&report));
    assert!(stderr(&report).contains("--output csv names a file, not the format"), "{}", stderr(&report));
    assert!(!env.dir.path().join("csv").exists(), "no file named csv");
}

#[test]
fn windows_are_since_inclusive_until_exclusive() {
    let env = Env::default();
    env.ok(&["deploy"]);
    env.ok(&["simulate", "--devices", "2", "--count", "5", "--rate", "50", "--quiet"]);
    let all = env.ok(&["report", "--format", "csv", "--since", "1h"]).lines().count();
    assert_eq!(all, 11, "a header and ten readings");
    let none = env.ok(&["report", "--format", "csv", "--since", "1h", "--until", "30m"]).lines().count();
    assert!(none <= 1, "nothing ingested before 30 minutes ago");
    let out =
        env.cmd(&["report", "--since", "2026-01-01T00:00:00Z", "--until", "2026-01-01T00:00:00Z"]).output().unwrap();
    assert_eq!(code(&out), Some(2), "an empty window: {}", stderr(&out));
    let logs = env.ok(&["logs", "--since", "1h", "--until", "30m"]);
    assert!(logs.trim().is_empty(), "{logs}");
    assert!(!env.ok(&["logs", "--since", "1h"]).trim().is_empty());
    let health = env.json(&["health", "--since", "2h", "--until", "1h", "--format", "json"]);
    assert_eq!(health["verdict"], "idle", "{health}");
}

#[test]
fn demo_takes_the_stack_and_the_settings_file() {
    let env = Env::default();
    let config = env.dir.path().join("demo.yaml");
    std::fs::write(&config, "buffer_interval_seconds: 120\n").unwrap();
    let args = ["--stack", "lab", "demo", "--devices", "2", "--duration", "1s", "--config", config.to_str().unwrap()];
    env.ok(&args);
    let status = env.json(&["--stack", "lab", "status", "--format", "json"]);
    assert_eq!(status["stack"], "lab", "{status}");
    assert_eq!(status["settings"]["buffer_interval_seconds"], 120, "{status}");
    // With AWS configured and no --local, demo still runs on this machine: it exists only there.
    let aws = AwsEnv::start();
    let out = aws.cmd(&["demo", "--devices", "1", "--duration", "1s"]).output().unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("deployed local pipeline"), "{}", stderr(&out));
}

#[test]
fn answering_no_at_the_prompt_is_an_error_on_every_verb_that_asks() {
    let env = Env::default();
    env.ok(&["deploy"]);
    env.ok(&["simulate", "--devices", "2", "--count", "20", "--malformed-ratio", "0.5", "--quiet"]);
    // util-linux's `script` gives the command a terminal to ask on; "n" is typed into it.
    let asked = |args: &str| {
        let line =
            format!("{} --local --data-dir {} {args}", env!("CARGO_BIN_EXE_reaqtions"), env.data_dir().display());
        let mut script = std::process::Command::new("script");
        let mut child = crate::fixture::isolated(&mut script, env.dir.path())
            .args(["-qec", &line, "/dev/null"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("script (util-linux)");
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"n\n").unwrap();
        child.wait_with_output().unwrap()
    };
    for (args, said) in [
        ("teardown", "teardown cancelled"),
        ("reprocess", "nothing was sent"),
        ("simulate --devices 1000 --rate 100000 --count 100000", "not started"),
    ] {
        let out = asked(args);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(code(&out), Some(1), "{args}: {text}");
        assert!(text.contains("[y/N]") && text.contains(said), "{args}: {text}");
    }
    assert_eq!(env.json(&["status", "--format", "json"])["status"], "deployed", "nothing was removed");
}
