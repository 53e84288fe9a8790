//! `--format json` is one JSON document on stdout on every verb that has it, dry runs included.

use serde_json::Value;

use crate::Env;

#[test]
fn format_json_is_json_on_every_verb_that_has_it() {
    let env = Env::default();
    env.ok(&["deploy"]);
    env.ok(&["simulate", "--devices", "2", "--count", "5", "--quiet"]);
    // A dry run of a past hour: JSON that says the readings' time span.
    const DRY_RUN: [&str; 10] = [
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
    ];
    let verbs: [&[&str]; 8] = [
        &["deploy", "--dry-run"],
        &["deploy"],
        &DRY_RUN,
        &["simulate", "--devices", "1", "--count", "3"],
        &["status"],
        &["health", "--since", "1h"],
        &["reprocess", "--dry-run"],
        &["cost", "--devices", "100"],
    ];
    let json = |args: &[&str]| {
        let out = env.ok(&[args, &["--format", "json"]].concat());
        serde_json::from_str::<Value>(&out).unwrap_or_else(|e| {
            panic!("reaqtions {args:?} printed something else than one JSON document ({e}):\n{out}")
        })
    };
    for args in verbs {
        json(args);
    }
    let dry = json(&DRY_RUN);
    assert_eq!(dry["readings"], 180, "{dry}");
    assert_eq!(dry["reading_times"][0], "2026-12-06T00:00:00Z", "{dry}");
    assert_eq!(dry["reading_times"][1], "2026-12-06T01:00:00Z", "{dry}");
}
