//! The SQL the Athena engine sends, run where it can be without an account: DuckDB (PyPI `duckdb`, installed into
//! `target/py` by scripts/check) executes it over a lake this test writes with the transform itself, in both
//! layouts (filed by the reading's hour from the keys the transform returns, or by arrival), and its rows must be
//! exactly the window's, and the scan engine's (`--keep-duplicates`: the SQL counts what the lake holds).
//!
//! Only what Trino and DuckDB disagree on is rewritten ([`for_duckdb`]), nothing of the query's logic:
//! 1. the table: `FROM "readings"` reads the objects under the table's `year=/month=/day=/hour=` folders with
//!    DuckDB's `read_json`, with the Glue table's columns and types (read from templates/pipeline.yaml) under the
//!    readings' own key names: Hive's JSON SerDe matches `PM2_5` to `pm2_5`, DuckDB's reader matches keys
//!    exactly, and DuckDB's identifiers then find `"pm2_5"` case-insensitively;
//! 2. `from_iso8601_timestamp` (Trino's, absent from DuckDB) is a macro: a cast to `TIMESTAMPTZ` in a UTC session,
//!    as Athena's is;
//! 3. each `?` is its execution parameter, the SQL literal Athena puts there.

use std::path::{Path, PathBuf};

use base64_simd::STANDARD as B64;
use chrono::{DateTime, Utc};
use reaqtions::prefix::Prefix;
use reaqtions::report::Query;
use reaqtions::report::sql::{FIELDS, Statement, readings, summary};
use reaqtions_lambda::{FirehoseEvent, FirehoseRecord, Partitioning, TransformResult, transform_event};
use serde_json::Value;

use crate::{Cli, Env};

/// The lake table's name (the stack's `ReadingsTable` output).
const TABLE: &str = "readings";

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// Firehose batches, each `(arrival, [(device, seq, TIME)])`: aq-1's on-time reading and aq-2's a millisecond
/// before the window; aq-4's without a `TIME` (its reading time is its arrival); aq-5's measured 10:40, arrived
/// 11:10; at 12:05 aq-3's reading measured at 10:59:30 (late), one at 11:00 (the window's end, excluded) and aq-1's
/// at 12:04; at 12:05:03 a retry delivers aq-3's late reading again (a copy).
const BATCHES: [(&str, &[(&str, u64, Option<&str>)]); 5] = [
    ("2026-11-25T10:15:02Z", &[("aq-1", 1, Some("2026-11-25T10:15:00")), ("aq-2", 1, Some("2026-11-25T09:59:59.999"))]),
    ("2026-11-25T10:30:00Z", &[("aq-4", 1, None)]),
    ("2026-11-25T11:10:00Z", &[("aq-5", 1, Some("2026-11-25T10:40:00"))]),
    (
        "2026-11-25T12:05:00Z",
        &[
            ("aq-3", 1, Some("2026-11-25T10:59:30")),
            ("aq-3", 2, Some("2026-11-25T11:00:00")),
            ("aq-1", 2, Some("2026-11-25T12:04:00")),
        ],
    ),
    ("2026-11-25T12:05:03Z", &[("aq-3", 1, Some("2026-11-25T10:59:30"))]),
];

/// Rows written before the transform appended `_reading_time`, filed under hour 10 as they arrived (both layouts
/// read them by the same rule: `TIME`, unless before 2024 or more than an hour after the arrival): old-1 at its
/// `TIME`, old-2 (2023) and old-3 (three hours ahead) at their arrival, old-4 at its `TIME`, 11:15.
const BEFORE_READING_TIME: [(&str, &str, &str); 4] = [
    ("old-1", "2026-11-25T10:45:00", "2026-11-25T10:45:02.000Z"),
    ("old-2", "2023-05-01T00:00:00", "2026-11-25T10:50:00.000Z"),
    ("old-3", "2026-11-25T13:30:00", "2026-11-25T10:20:00.000Z"),
    ("old-4", "2026-11-25T11:15:00", "2026-11-25T10:20:00.000Z"),
];

fn folder(t: DateTime<Utc>) -> String {
    t.format("processed/year=%Y/month=%m/day=%d/hour=%H/").to_string()
}

/// The lake's objects `(key, bytes)` as Firehose writes them: each batch through the transform, then one object per
/// partition of the batch: the keys the transform returns (event), or the batch's arrival hour (arrival).
fn lake(partitioning: Partitioning) -> Vec<(String, Vec<u8>)> {
    let mut objects = Vec::new();
    for (n, (arrival, readings)) in BATCHES.iter().enumerate() {
        let arrived = at(arrival);
        let records = readings
            .iter()
            .enumerate()
            .map(|(i, (device, seq, time))| {
                let mut reading = serde_json::json!({"device_id": device, "seq": seq, "PM2_5": 9.5});
                if let Some(time) = time {
                    reading["TIME"] = (*time).into();
                }
                FirehoseRecord {
                    record_id: format!("{n}-{i}"),
                    approximate_arrival_timestamp: arrived.timestamp_millis() as f64,
                    data: B64.encode_to_string(reading.to_string()),
                }
            })
            .collect();
        let (response, _) = transform_event(&FirehoseEvent { records, ..FirehoseEvent::default() }, partitioning);
        let mut by_folder: std::collections::BTreeMap<String, Vec<u8>> = Default::default();
        for record in response.records {
            assert_eq!(record.result, TransformResult::Ok, "{}", record.record_id);
            let folder = match (&record.metadata, partitioning) {
                (Some(m), Partitioning::Event) => {
                    let k = &m.partition_keys;
                    format!("processed/year={}/month={}/day={}/hour={}/", k.year, k.month, k.day, k.hour)
                }
                (None, Partitioning::Arrival) => folder(arrived),
                (metadata, _) => panic!("{partitioning:?} returned metadata {metadata:?}"),
            };
            by_folder.entry(folder).or_default().extend(B64.decode_to_vec(&record.data).unwrap());
        }
        let written = arrived.format("%Y-%m-%d-%H-%M-%S");
        objects.extend(
            by_folder.into_iter().map(|(f, body)| (format!("{f}reaqtions-iot-data-stream-1-{written}-b{n}"), body)),
        );
    }
    let old: String = BEFORE_READING_TIME
        .iter()
        .map(|(device, time, arrival)| {
            let line = serde_json::json!({"device_id": device, "seq": 1, "TIME": time, "_firehose_arrival": arrival});
            format!("{line}\n")
        })
        .collect();
    let hour_10 = folder(at("2026-11-25T10:00:00Z"));
    objects.push((format!("{hour_10}reaqtions-iot-data-stream-1-2026-11-25-10-20-05-old"), old.into_bytes()));
    if partitioning == Partitioning::Event {
        // What no transform files there: a reading of the window under hours 9 and 11, read only if the
        // partition predicate reached past the window's hours.
        let line = r#"{"device_id":"misfiled","seq":1,"_reading_time":"2026-11-25T10:40:00.000Z"}"#.to_owned() + "\n";
        for hour in ["09", "11"] {
            let key = format!("processed/year=2026/month=11/day=25/hour={hour}/misfiled");
            objects.push((key, line.clone().into_bytes()));
        }
    }
    objects
}

/// `(hive type, DuckDB type)` of the table's column types.
fn duckdb_type(hive: &str) -> &'static str {
    match hive {
        "string" => "VARCHAR",
        "bigint" => "BIGINT",
        "int" => "INTEGER",
        "double" => "DOUBLE",
        other => panic!("a table column of type {other}: give DuckDB its type here"),
    }
}

/// The readings table's `(columns, partition keys)` as `(name, hive type)`, from the template deploy uses.
fn table_columns() -> (Vec<(String, String)>, Vec<(String, String)>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/pipeline.yaml");
    let template: serde_norway::Value = serde_norway::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let input = &template["Resources"]["ReadingsTable"]["Properties"]["TableInput"];
    let pairs = |list: &serde_norway::Value| -> Vec<(String, String)> {
        let list = list.as_sequence().unwrap_or_else(|| panic!("the readings table's columns in {}", path.display()));
        list.iter().map(|c| (c["Name"].as_str().unwrap().to_owned(), c["Type"].as_str().unwrap().to_owned())).collect()
    };
    (pairs(&input["StorageDescriptor"]["Columns"]), pairs(&input["PartitionKeys"]))
}

/// The statement as DuckDB runs it over the lake under `root` (the rewrites this module's head lists).
fn for_duckdb(statement: &Statement, root: &Path) -> String {
    let (columns, partitions) = table_columns();
    let columns: Vec<String> = columns
        .iter()
        .map(|(column, hive)| {
            let key = FIELDS.iter().find(|(c, _)| c == column).map(|(_, key)| *key);
            let key = key.unwrap_or_else(|| panic!("table column {column} is not one of the report's FIELDS"));
            format!("'{key}': '{}'", duckdb_type(hive))
        })
        .collect();
    let partitions: Vec<String> =
        partitions.iter().map(|(key, hive)| format!("'{key}': '{}'", duckdb_type(hive))).collect();
    let glob = root.join("processed/year=*/month=*/day=*/hour=*/*");
    let source = format!(
        "read_json('{}', format = 'newline_delimited', hive_partitioning = true, hive_types = {{{}}}, columns = {{{}}})",
        glob.display(),
        partitions.join(", "),
        columns.join(", ")
    );
    // The engine quotes the table's name; an example may not.
    let tables = [format!("FROM \"{TABLE}\""), format!("FROM {TABLE}\n")];
    let found: Vec<&String> = tables.iter().filter(|t| statement.sql.contains(t.as_str())).collect();
    assert!(found.len() == 1 && statement.sql.matches(found[0].as_str()).count() == 1, "{}", statement.sql);
    let end = if found[0].ends_with('\n') { "\n" } else { "" };
    let mut sql = statement.sql.replace(found[0].as_str(), &format!("FROM {source}{end}"));
    for parameter in &statement.parameters {
        let at = sql.find('?').expect("a ? for every parameter");
        sql.replace_range(at..=at, parameter);
    }
    sql
}

/// Runs the statement's SQL through DuckDB over the lake under `root`: the rows, as JSON objects.
pub(crate) fn duckdb(statement: &Statement, root: &Path) -> Vec<Value> {
    const SCRIPT: &str = r#"
import json, sys
import duckdb
db = duckdb.connect()
db.execute("SET TimeZone = 'UTC'")
db.execute("CREATE MACRO from_iso8601_timestamp(s) AS CAST(s AS TIMESTAMPTZ)")
result = db.execute(open(sys.argv[1]).read())
names = [d[0] for d in result.description]
print(json.dumps([dict(zip(names, row)) for row in result.fetchall()], default=str))
"#;
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/py/bin/python");
    let install =
        "run scripts/check, which installs it (or: python3 -m venv target/py && target/py/bin/pip install duckdb)";
    assert!(python.exists(), "{} is missing: {install}", python.display());
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), for_duckdb(statement, root)).unwrap();
    let out = std::process::Command::new(&python).arg("-c").arg(SCRIPT).arg(file.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("No module named 'duckdb'"), "DuckDB is missing from {}: {install}", python.display());
    assert!(
        out.status.success(),
        "DuckDB refused the SQL:\n{stderr}\n{}",
        std::fs::read_to_string(file.path()).unwrap()
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `device/seq` of each row, in order.
fn keys(rows: &[Value]) -> Vec<String> {
    rows.iter().map(|r| format!("{}/{}", r["device_id"].as_str().unwrap(), r["seq"])).collect()
}

/// A local deployment in the layout `partitioning` holding [`lake`], and the prefix it deployed.
fn deployed(partitioning: Partitioning) -> (Env, Prefix, PathBuf) {
    let env = Env::default();
    let deployed = env.deploy(&["--partitioning", partitioning.name()]);
    for (key, body) in lake(partitioning) {
        env.place(&key, &body);
    }
    let text = deployed["prefix"].as_str().unwrap();
    assert_eq!(text.contains("!{partitionKeyFromLambda:hour}"), partitioning == Partitioning::Event, "{deployed}");
    let prefix = Prefix::parse(text, false).unwrap();
    let root = env.data_dir().join("lake").join(deployed["bucket"].as_str().unwrap());
    (env, prefix, root)
}

/// The scan engine's rows for the same window, every copy kept (as the SQL keeps them), sorted.
fn scanned(env: &Env, args: &[&str]) -> Vec<String> {
    let out = env.ok(&[&["report", "--format", "json", "--keep-duplicates"], args].concat());
    let mut keys = keys(&serde_json::from_str::<Vec<Value>>(&out).unwrap());
    keys.sort();
    keys
}

fn sorted(mut keys: Vec<String>) -> Vec<String> {
    keys.sort();
    keys
}

const TEN: [&str; 4] = ["--since", "2026-11-25T10:00:00Z", "--until", "2026-11-25T11:00:00Z"];

/// The window 10:00-11:00, oldest reading first (the SQL's order): filed by the reading's hour, everything
/// measured in it however late it arrived, the retry's copy included, and nothing from the hours around it.
#[test]
fn duckdb_runs_the_athena_sql_over_a_lake_filed_by_the_readings_hour() {
    let (env, prefix, root) = deployed(Partitioning::Event);
    let ten = Query::window(Some(at("2026-11-25T10:00:00Z")), Some(at("2026-11-25T11:00:00Z")));
    let floor = at("2026-11-01T00:00:00Z");
    let rows = keys(&duckdb(&readings(&ten, &prefix, floor, TABLE), &root));
    let window = ["aq-1/1", "old-3/1", "aq-4/1", "aq-5/1", "old-1/1", "old-2/1", "aq-3/1", "aq-3/1"];
    assert_eq!(rows, window, "measured 10:00-11:00, oldest first");
    assert_eq!(sorted(rows), scanned(&env, &TEN), "the scan engine's rows");
    let late = ten.clone().with_lateness(None);
    assert_eq!(keys(&duckdb(&readings(&late, &prefix, floor, TABLE), &root)), window, "--late changes nothing");

    let twelve = Query::window(Some(at("2026-11-25T12:00:00Z")), Some(at("2026-11-25T13:00:00Z")));
    assert_eq!(keys(&duckdb(&readings(&twelve, &prefix, floor, TABLE), &root)), ["aq-1/2"]);

    // Devices go as parameters, a quote in one included; the summary counts what the lake holds.
    let some = ten.clone().of_devices(vec!["aq-3".into(), "it's".into()]);
    assert_eq!(keys(&duckdb(&readings(&some, &prefix, floor, TABLE), &root)), ["aq-3/1", "aq-3/1"]);
    let per_device = duckdb(&summary(&ten, &prefix, floor, TABLE), &root);
    let counts: Vec<(String, i64)> = per_device
        .iter()
        .map(|r| (r["device_id"].as_str().unwrap().to_owned(), r["readings"].as_i64().unwrap()))
        .collect();
    let expected = [("aq-1", 1), ("aq-3", 2), ("aq-4", 1), ("aq-5", 1), ("old-1", 1), ("old-2", 1), ("old-3", 1)];
    assert_eq!(counts, expected.map(|(d, n)| (d.to_owned(), n)));
}

/// examples/athena/daily_pm25.sql over an event-mode lake: the day's readings by the hour they were measured (the
/// late reading and its copy in hour 10), none from before `_reading_time` existed.
#[test]
fn duckdb_runs_the_daily_example_over_a_lake_filed_by_the_readings_hour() {
    let (_env, _, root) = deployed(Partitioning::Event);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/athena/daily_pm25.sql");
    let sql = std::fs::read_to_string(path).unwrap();
    let rows = duckdb(&Statement { sql, parameters: vec![] }, &root);
    let hours: Vec<String> = rows
        .iter()
        .map(|r| format!("{} {} {}", r["device_id"].as_str().unwrap(), r["hour_measured"], r["readings"]))
        .collect();
    assert_eq!(hours, ["aq-1 10 1", "aq-1 12 1", "aq-2 9 1", "aq-3 10 2", "aq-3 11 1", "aq-4 10 1", "aq-5 10 1"]);
}

/// Filed by arrival, the same window reads from the hour before it to the lateness allowance: the reading that
/// arrived at 12:05 is read only once `--late` reaches it, as the scan engine reads it.
#[test]
fn duckdb_runs_the_athena_sql_over_a_lake_filed_by_arrival() {
    let (env, prefix, root) = deployed(Partitioning::Arrival);
    let ten = Query::window(Some(at("2026-11-25T10:00:00Z")), Some(at("2026-11-25T11:00:00Z")));
    let floor = at("2026-11-01T00:00:00Z");
    let rows = keys(&duckdb(&readings(&ten, &prefix, floor, TABLE), &root));
    assert_eq!(rows, ["aq-1/1", "old-3/1", "aq-4/1", "aq-5/1", "old-1/1", "old-2/1"], "arrived by 12:00");
    assert_eq!(sorted(rows), scanned(&env, &TEN));
    let two_hours = ten.clone().with_lateness(Some(chrono::Duration::hours(2)));
    let rows = keys(&duckdb(&readings(&two_hours, &prefix, floor, TABLE), &root));
    let window = ["aq-1/1", "old-3/1", "aq-4/1", "aq-5/1", "old-1/1", "old-2/1", "aq-3/1", "aq-3/1"];
    assert_eq!(rows, window, "--late 2h reads the arrival at 12:05");
    assert_eq!(sorted(rows), scanned(&env, &[&TEN[..], &["--late", "2h"]].concat()));
    let twelve = Query::window(Some(at("2026-11-25T12:00:00Z")), Some(at("2026-11-25T13:00:00Z")));
    assert_eq!(keys(&duckdb(&readings(&twelve, &prefix, floor, TABLE), &root)), ["aq-1/2"]);
}
