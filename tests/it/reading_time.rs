//! `report --since/--until` select readings by when they were measured (`_reading_time`), not when they arrived:
//! a reading measured at 10:59 that arrived at 12:05 belongs to 10:00–11:00, on the local target and against
//! moto's S3, in both layouts. Objects are placed where Firehose files them: by arrival (the arrival hour of their
//! oldest record; the stack pins `--partitioning arrival`), or under the keys of the reading's hour (event mode,
//! the default; moto's Firehose does not partition, so the test places them). In event mode the SQL the Athena
//! engine sends is checked as text: its partition predicate is exactly the window's hours.

use serde_json::Value;

use crate::{AwsEnv, Cli, Env};

const DAY_25: &str = "processed/year=2026/month=11/day=25";

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
            format!("{DAY_25}/hour=12/reaqtions-iot-data-stream-1-2026-11-25-12-05-00-late"),
            [
                line("late-1", "2026-11-25T10:59:30", "2026-11-25T12:05:00.000Z", Some("2026-11-25T10:59:30.000Z")),
                line("now-1", "2026-11-25T12:30:00", "2026-11-25T12:30:05.000Z", Some("2026-11-25T12:30:00.000Z")),
            ]
            .join("\n")
                + "\n",
        ),
        (
            format!("{DAY_25}/hour=10/reaqtions-iot-data-stream-1-2026-11-25-10-15-02-old"),
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

/// The deployment on `cli`'s target, in the layout `partitioning`, with `objects` placed in its lake.
fn laid_out(cli: &dyn Cli, partitioning: &str, objects: Vec<(String, String)>) {
    cli.deploy(&["--partitioning", partitioning]);
    for (key, body) in objects {
        cli.place(&key, body.as_bytes());
    }
}

#[test]
fn a_late_reading_is_reported_in_the_hour_it_was_measured_locally() {
    let env = Env::default();
    laid_out(&env, "arrival", objects());
    windows_read_by_reading_time(&env);
}

#[test]
fn a_late_reading_is_reported_in_the_hour_it_was_measured_on_s3() {
    let env = AwsEnv::start();
    laid_out(&env, "arrival", objects());
    windows_read_by_reading_time(&env);
}

/// (key, lines) of a lake filed by the reading's hour, as Firehose writes it from the transform's keys: the
/// reading measured at 10:59:30 that arrived at 12:05 in hour 10 (an object written at 12:05), one on time beside it,
/// one measured at 11:00:00 that arrived with the late one (hour 11), and one at 12:30 (hour 12).
fn keyed_objects() -> Vec<(String, String)> {
    let line = |device: &str, time: &str, arrival: &str| {
        let reading = format!("{time}.000Z");
        serde_json::json!({"device_id": device, "seq": 1, "TIME": time, "PM2_5": 9.5, "_firehose_arrival": arrival, "_reading_time": reading})
            .to_string()
            + "\n"
    };
    let key = |hour: &str, written: &str, tail: &str| {
        format!("{DAY_25}/hour={hour}/reaqtions-iot-data-stream-1-2026-11-25-{written}-{tail}")
    };
    vec![
        (key("10", "10-15-05", "on-time"), line("on-time-1", "2026-11-25T10:15:00", "2026-11-25T10:15:02.000Z")),
        (key("10", "12-05-00", "late"), line("late-1", "2026-11-25T10:59:30", "2026-11-25T12:05:00.000Z")),
        (key("11", "12-05-00", "edge"), line("edge-1", "2026-11-25T11:00:00", "2026-11-25T12:05:00.000Z")),
        (key("12", "12-30-05", "noon"), line("noon-1", "2026-11-25T12:30:00", "2026-11-25T12:30:05.000Z")),
    ]
}

/// A lake filed by the reading's hour: a window reads exactly its own hours' objects however late their
/// readings arrived, says no lateness caveat, says once that `--late` does not apply, and still says how late
/// the newest arrival it read was.
fn windows_of_a_keyed_lake(cli: &dyn Cli) {
    let ten = ["--since", "2026-11-25T10:00:00Z", "--until", "2026-11-25T11:00:00Z"];
    let (found, stderr) = devices(cli, &ten);
    assert_eq!(found, ["late-1", "on-time-1"], "{}: measured at 10:59, arrived at 12:05", cli.target());
    assert!(stderr.contains("report: 2 rows from 2 objects"), "only hour 10's objects are read: {stderr}");
    assert!(!stderr.contains("are not read") && !stderr.contains("--late"), "no lateness caveat: {stderr}");
    assert!(stderr.contains("the newest reading read arrived 1h 5m after the window's end"), "{stderr}");
    let (found, stderr) = devices(cli, &[&ten[..], &["--late", "0s"]].concat());
    assert_eq!(found, ["late-1", "on-time-1"], "{}: --late does not narrow a keyed lake", cli.target());
    assert_eq!(stderr.matches("--late does not apply here").count(), 1, "said once: {stderr}");
    let twelve = ["--since", "2026-11-25T12:00:00Z", "--until", "2026-11-25T13:00:00Z"];
    let (found, stderr) = devices(cli, &twelve);
    assert_eq!(found, ["noon-1"], "{}: the late reading is not in the hour it arrived", cli.target());
    assert!(stderr.contains("report: 1 row from 1 object"), "only hour 12's object is read: {stderr}");
}

#[test]
fn a_late_reading_is_in_its_measured_hour_of_a_keyed_lake_locally() {
    let env = Env::default();
    laid_out(&env, "event", keyed_objects());
    windows_of_a_keyed_lake(&env);
}

#[test]
fn a_late_reading_is_in_its_measured_hour_of_a_keyed_lake_on_s3() {
    let env = AwsEnv::start();
    laid_out(&env, "event", keyed_objects());
    windows_of_a_keyed_lake(&env);
    athena_reads_exactly_the_windows_hours(&env);
}

/// The SQL the Athena engine sends for an event-mode stack (moto runs none of it, and answers no rows): the
/// partition predicate is exactly the window's hours whatever `--late` says, and rows are filtered on the
/// reading time; run in DuckDB over the same objects ([`crate::duckdb`]), it returns the window's readings.
fn athena_reads_exactly_the_windows_hours(env: &AwsEnv) {
    // What moto's CloudFormation skips: the workgroup, created here as the template does.
    let athena = aws_sdk_athena::Client::new(&env.moto.sdk_config(&env.runtime));
    env.runtime.block_on(athena.create_work_group().name("reaqtions").send()).unwrap();
    for window in [["2026-11-25T10:00:00Z", "2026-11-25T11:00:00Z"], ["2026-11-25T12:00:00Z", "2026-11-25T13:00:00Z"]] {
        for late in ["1h", "all"] {
            let args = ["--since", window[0], "--until", window[1], "--late", late];
            env.ok(&[&["report", "--engine", "athena", "--format", "json"], &args[..]].concat());
        }
    }
    let queries = env.athena_queries(&athena);
    assert_eq!(queries.len(), 4, "{queries:?}");
    let lake = tempfile::tempdir().unwrap();
    for (key, body) in keyed_objects() {
        let path = lake.path().join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
    for (hour, since, until, devices) in
        [(10, "10:00", "11:00", &["on-time-1", "late-1"][..]), (12, "12:00", "13:00", &["noon-1"][..])]
    {
        let predicate =
            format!("WHERE ((year = 2026 AND month = 11 AND day = 25 AND hour BETWEEN {hour} AND {hour}))\n");
        let sent: Vec<&String> = queries.iter().filter(|q| q.contains(&predicate)).collect();
        assert_eq!(sent.len(), 2, "--late 1h and all read exactly hour {hour}: {queries:#?}");
        for q in sent {
            assert!(q.contains("coalesce(try(from_iso8601_timestamp(\"_reading_time\"))"), "{q}");
            assert!(q.contains(&format!(">= from_iso8601_timestamp('2026-11-25T{since}:00.000Z')")), "{q}");
            assert!(q.contains(&format!("< from_iso8601_timestamp('2026-11-25T{until}:00.000Z')")), "{q}");
            let statement = reaqtions::report::sql::Statement { sql: q.clone(), parameters: vec![] };
            let rows = crate::duckdb::duckdb(&statement, lake.path());
            let found: Vec<&str> = rows.iter().map(|r| r["device_id"].as_str().unwrap()).collect();
            assert_eq!(found, devices, "{q}");
        }
    }
}
