//! `simulate --start/--every`: readings stamped on a timeline, not by the wall clock — each device's `TIME`s
//! exactly `--every` apart from `--start`, sent at the pace of `--rate`, verified, the same under one `--seed`,
//! stated in the plan; bad values refused naming the flag.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::Env;

const START: &str = "2026-11-30T22:30:00Z";

/// The lake's objects (`Env::objects` leaves out deploy's layout marker).
fn sent(env: &Env) -> Vec<(String, Vec<u8>)> {
    env.objects()
}

/// The processed readings in the lake, by device then seq, without what differs from run to run.
fn readings(env: &Env) -> BTreeMap<(String, u64), Value> {
    let mut out = BTreeMap::new();
    for (key, bytes) in sent(env) {
        assert!(key.starts_with("processed/"), "{key}: nothing refused");
        for line in String::from_utf8(bytes).unwrap().lines() {
            let mut reading: Value = serde_json::from_str(line).unwrap();
            // partitioning: event (the default): filed under the hour it was measured, however late it was sent.
            let measured: DateTime<Utc> = reading["_reading_time"].as_str().unwrap().parse().unwrap();
            let hour = measured.format("processed/year=%Y/month=%m/day=%d/hour=%H/").to_string();
            assert!(key.starts_with(&hour), "{key} is not under its reading's hour {hour}");
            let fields = reading.as_object_mut().unwrap();
            fields.retain(|k, _| k != "sim_run" && !k.starts_with('_'));
            let device = fields["device_id"].as_str().unwrap().to_owned();
            let seq = fields["seq"].as_u64().unwrap();
            assert!(out.insert((device, seq), reading).is_none(), "delivered twice");
        }
    }
    out
}

fn time(reading: &Value) -> DateTime<Utc> {
    let text = reading["TIME"].as_str().unwrap();
    assert_eq!(text.len(), "2026-11-30T22:30:00.000000Z".len(), "the TIME format devices send: {text}");
    assert!(text.ends_with('Z'));
    text.parse().unwrap()
}

#[test]
fn hours_of_one_a_minute_readings_from_the_past_go_in_a_moment_and_verify() {
    let env = Env::default();
    env.ok(&["deploy"]);
    // Three hours (over midnight) of one-a-minute readings from 12 devices: 2,160 readings at 1,000/s each.
    let args = ["simulate", "--devices", "12", "--start", START, "--every", "1m", "--count", "180", "--rate", "1000"];
    let summary = env.json(&[&args[..], &["--seed", "7", "--verify", "--format", "json", "--quiet"]].concat());
    assert_eq!((summary["sent"].as_u64(), summary["accepted"].as_u64()), (Some(2160), Some(2160)), "{summary}");
    assert!(summary["elapsed_seconds"].as_f64().unwrap() < 60.0, "{summary}");
    let verify = &summary["verify"];
    assert_eq!((verify["delivered"].as_u64(), verify["missing"].as_u64()), (Some(2160), Some(0)), "{summary}");

    let readings = readings(&env);
    assert_eq!(readings.len(), 2160);
    let start: DateTime<Utc> = START.parse().unwrap();
    let every = chrono::Duration::minutes(1);
    for device in 0..12 {
        let id = format!("aq-{:04}", device + 1);
        let times: Vec<DateTime<Utc>> = (1..=180).map(|seq| time(&readings[&(id.clone(), seq)])).collect();
        // Devices are staggered within one step (12 devices, a minute: 5 s apart), then exactly --every apart.
        assert_eq!(times[0], start + chrono::Duration::seconds(5 * device), "{id}'s first reading");
        assert!(times.windows(2).all(|w| w[1] - w[0] == every), "{id}'s readings step by --every");
    }
    let all: Vec<DateTime<Utc>> = readings.values().map(time).collect();
    assert_eq!(all.iter().min(), Some(&start), "the first reading's TIME is --start");
    assert_eq!(all.iter().max(), Some(&"2026-12-01T01:29:55Z".parse().unwrap()), "three hours, over midnight");
}

#[test]
fn the_same_seed_gives_the_same_times_and_values() {
    let run = |seed: &str| {
        let env = Env::default();
        env.ok(&["deploy"]);
        let args = ["simulate", "--devices", "3", "--start", START, "--every", "10s", "--count", "40", "--rate", "500"];
        env.ok(&[&args[..], &["--seed", seed, "--quiet"]].concat());
        readings(&env)
    };
    let (first, again, other) = (run("11"), run("11"), run("12"));
    assert_eq!(first.len(), 120);
    assert_eq!(first, again, "same TIMEs and values under one seed");
    assert_ne!(first, other, "another seed, other values");
    let times = |r: &BTreeMap<(String, u64), Value>| r.values().map(time).collect::<Vec<_>>();
    assert_eq!(times(&first), times(&other), "the TIMEs come from --start and --every alone");
}

#[test]
fn the_plan_states_the_span_and_bad_times_are_refused() {
    let env = Env::default();
    env.ok(&["deploy"]);
    // A whole day at one a minute from 12 devices, 17,280 readings sent in under two seconds: stated, not sent.
    let day = ["--devices", "12", "--start", "2026-12-06T00:00:00Z", "--every", "1m", "--count", "1440"];
    let plan = env.ok(&[&["simulate"][..], &day, &["--rate", "1000", "--dry-run"]].concat());
    assert!(plan.starts_with("simulate: 12 devices × 1000/s = 12,000/s for 2s: 17,280 readings"), "{plan}");
    assert!(
        plan.contains(
            "; readings' TIME from 2026-12-06T00:00:00Z to 2026-12-07T00:00:00Z (1day, one per device every 1m)"
        ),
        "{plan}"
    );
    // --start alone: readings spaced by the sending pace, one over --rate.
    let plan = env.ok(&["simulate", "--devices", "2", "--start", "2026-12-06T00:00:00Z", "--count", "10", "--dry-run"]);
    assert!(
        plan.contains("from 2026-12-06T00:00:00Z to 2026-12-06T00:00:10Z (10s, one per device every 1s)"),
        "{plan}"
    );
    assert!(sent(&env).is_empty(), "a dry run sends nothing");

    let refused = |args: &[&str], needle: &str| {
        let out = env.cmd(&[&["simulate", "--count", "60"][..], args].concat()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} is a usage error: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr:?} does not mention {needle:?}");
    };
    refused(&["--start", "2999-01-01T00:00:00Z"], "--start 2999-01-01T00:00:00Z is in the future");
    refused(
        &["--start", "yesterday"],
        "--start must be an RFC 3339 time such as 2026-12-06T00:00:00Z, or a span back from now such as 2h (got \"yesterday\")",
    );
    refused(&["--every", "0s"], "--every must be more than 0 (got 0s)");
    refused(&["--every", "soon"], "--every");
    // An hour of one-a-minute readings from ten minutes ago would be stamped ahead of the clock.
    refused(&["--start", "10m", "--every", "1m", "--rate", "100"], "would be ahead of when they are sent");
    assert!(sent(&env).is_empty(), "nothing refused was sent");
}
