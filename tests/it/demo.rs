//! `demo` as a first screen: one verdict line, a per-device table of this run alone that fits 80 columns, every
//! counter under `--format json`, and the next commands as typed for this target.

use serde_json::Value;

use crate::Env;

#[test]
fn demo_says_one_verdict_and_summarises_this_run_only() {
    let env = Env::default();
    let args = ["demo", "--devices", "3", "--rate", "10", "--duration", "1s"];
    let run = |args: &[&str]| {
        let out = env.cmd(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        (String::from_utf8(out.stdout).unwrap(), stderr)
    };
    run(&args);
    // A second demo in the same folder: its table counts its own readings, not the lake's.
    let (table, said) = run(&args);
    let verdict = said.lines().find(|l| l.contains(" sent → ")).unwrap_or_else(|| panic!("no verdict: {said}"));
    let numbers: Vec<u64> = verdict.split_whitespace().filter_map(|w| w.trim_end_matches(',').parse().ok()).collect();
    let [sent, delivered, malformed, missing] = numbers[..] else { panic!("{verdict}") };
    assert_eq!((sent, missing), (30, 0), "{verdict}");
    assert_eq!(delivered + malformed, sent, "{verdict}");
    assert!(malformed >= 1, "the demo always shows error handling: {verdict}");
    let widest = table.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    assert!(widest <= 80, "{widest} columns:\n{table}");
    let readings: u64 = table
        .lines()
        .filter(|l| l.contains("aq-"))
        .map(|l| l.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(readings, delivered, "this run's readings only:\n{table}");
    assert!(!table.contains("2026-") && table.contains("aq-0003"), "clock times, the date said once:\n{table}");
    // As typed for this target: --local, and this data directory (the test's is not the default).
    let local = format!("--local --data-dir {}", env.data_dir().display());
    for verb in ["report", "health", "logs", "teardown"] {
        assert!(said.contains(&format!("reaqtions {verb} {local}")), "next commands as typed here: {said}");
    }
    assert!(said.contains("says degraded now"), "why health says degraded after a demo: {said}");

    // Every counter, for scripts.
    let out = env.cmd(&["demo", "--devices", "2", "--rate", "10", "--duration", "1s", "--format", "json"]).output();
    let out = out.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).expect("demo --format json is one JSON document");
    assert_eq!(json["simulate"]["sent"], 20, "{json}");
    assert_eq!(json["verify"]["missing"], 0, "{json}");
    assert_eq!(json["pipeline"]["target"], "local", "{json}");
    let devices = json["devices"].as_array().unwrap();
    let kept: u64 = devices.iter().map(|d| d["readings"].as_u64().unwrap()).sum();
    assert_eq!(kept, json["verify"]["delivered"].as_u64().unwrap(), "{json}");
}
