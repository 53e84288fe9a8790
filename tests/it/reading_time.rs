//! `report --since/--until` select readings by when they were measured (`_reading_time`), not when they arrived:
//! a reading measured at 10:59 that arrived at 12:05 belongs to 10:00–11:00, on the local target and against
//! moto's S3. Objects are placed where Firehose files them (the arrival hour of their oldest record).

use serde_json::Value;

use crate::{AwsEnv, Cli, Env};

const ARRIVAL_LAYOUT: &str = "processed/year=2026/month=11/day=25";

/// (key, lines): a late reading and an on-time one under hour 12, and a row written before the transform added
/// `_reading_time` under hour 10.
fn objects() -> Vec<(String, String)> {
    let line = |device: &str, time: &str, arrival: &str, reading: Option<&str>| {
        let mut v = serde_json::json!({"device_id": device, "seq": 1, "TIME": time, "PM2_5": 9.5, "_firehose_arrival": arrival});
        if let Some(reading) = reading {
            v["_reading_time"] = reading.into();
        }
        v.to_string()
    };
    vec![
        (
            format!("{ARRIVAL_LAYOUT}/hour=12/reaqtions-iot-data-stream-1-2026-11-25-12-05-00-late"),
            [
                line("late-1", "2026-11-25T10:59:30", "2026-11-25T12:05:00.000Z", Some("2026-11-25T10:59:30.000Z")),
                line("now-1", "2026-11-25T12:30:00", "2026-11-25T12:30:05.000Z", Some("2026-11-25T12:30:00.000Z")),
            ]
            .join("\n")
                + "\n",
        ),
        (
            format!("{ARRIVAL_LAYOUT}/hour=10/reaqtions-iot-data-stream-1-2026-11-25-10-15-02-old"),
            line("old-1", "2026-11-25T10:15:00", "2026-11-25T10:15:02.000Z", None) + "\n",
        ),
    ]
}

/// The devices `report` returns for a window, and its stderr.
fn devices(cli: &dyn Cli, window: &[&str]) -> (Vec<String>, String) {
    let out = cli.cmd(&[&["report", "--format", "json"], window].concat()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{window:?}: {stderr}");
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mut devices: Vec<String> = rows.iter().map(|r| r["device_id"].as_str().unwrap().to_owned()).collect();
    devices.sort();
    (devices, stderr)
}

fn windows_read_by_reading_time(cli: &dyn Cli) {
    let ten = ["--since", "2026-11-25T10:00:00Z", "--until", "2026-11-25T11:00:00Z"];
    let (found, stderr) = devices(cli, &ten);
    assert_eq!(found, ["old-1"], "{} (a row without _reading_time is placed by its TIME)", cli.target());
    assert!(
        stderr.contains(
            "readings measured before 2026-11-25T11:00:00Z that arrived after 2026-11-25T12:00:00Z are not read"
        ),
        "what the default hour of lateness may miss is said: {stderr}"
    );
    for late in ["2h", "all"] {
        let (found, stderr) = devices(cli, &[&ten[..], &["--late", late]].concat());
        assert_eq!(found, ["late-1", "old-1"], "{}: measured at 10:59, arrived at 12:05", cli.target());
        assert!(stderr.contains("the newest reading read arrived 1h 5m after the window's end"), "{stderr}");
    }
    let twelve = ["--since", "2026-11-25T12:00:00Z", "--until", "2026-11-25T13:00:00Z"];
    let (found, _) = devices(cli, &twelve);
    assert_eq!(found, ["now-1"], "{}: the late reading is not in the hour it arrived", cli.target());
    let refused = cli.cmd(&["report", "--late", "soon"]).output().unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("\"soon\" is not a duration or all"));
}

/// The deployment on `cli`'s target with [`objects`] placed in its lake.
fn laid_out(cli: &dyn Cli) {
    cli.deploy(&[]);
    for (key, body) in objects() {
        cli.place(&key, body.as_bytes());
    }
}

#[test]
fn a_late_reading_is_reported_in_the_hour_it_was_measured_locally() {
    let env = Env::default();
    laid_out(&env);
    windows_read_by_reading_time(&env);
}

#[test]
fn a_late_reading_is_reported_in_the_hour_it_was_measured_on_s3() {
    let env = AwsEnv::start();
    laid_out(&env);
    windows_read_by_reading_time(&env);
}
