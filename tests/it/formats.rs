//! `--format json` is one JSON document on stdout on every verb that has it, dry runs included.

use serde_json::Value;

use crate::Env;

#[test]
fn format_json_is_json_on_every_verb_that_has_it() {
    let env = Env::default();
    env.ok(&["deploy"]);
    env.ok(&["simulate", "--devices", "2", "--count", "5", "--quiet"]);
    let verbs: [&[&str]; 8] = [
        &["deploy", "--dry-run"],
        &["deploy"],
        &[
            "simulate",
            "--dry-run",
            "--devices",
            "3",
            "--start",
            "2026-12-06T00:00:00Z",
            "--every",
            "1m",
            "--count",
            "60",
        ],
        &["simulate", "--devices", "1", "--count", "3"],
        &["status"],
        &["health", "--since", "1h"],
        &["reprocess", "--dry-run"],
        &["cost", "--devices", "100"],
    ];
    for args in verbs {
        let mut with = args.to_vec();
        with.extend(["--format", "json"]);
        let out = env.ok(&with);
        let parsed: Result<Value, _> = serde_json::from_str(&out);
        assert!(parsed.is_ok(), "reaqtions {with:?} printed something else than one JSON document:\n{out}");
    }
    let dry = env.json(&[
        "simulate",
        "--dry-run",
        "--devices",
        "3",
        "--start",
        "2026-12-06T00:00:00Z",
        "--every",
        "1m",
        "--count",
        "60",
        "--format",
        "json",
    ]);
    assert_eq!(dry["readings"], 180, "{dry}");
    assert_eq!(dry["reading_times"][0], "2026-12-06T00:00:00Z", "{dry}");
    assert_eq!(dry["reading_times"][1], "2026-12-06T01:00:00Z", "{dry}");
}
