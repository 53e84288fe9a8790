//! The SQL the Athena engine sends, run where it can be without an account: DuckDB (PyPI `duckdb`, installed into
//! `target/py` by scripts/check) executes it over a lake this test writes with the transform itself, in both
//! layouts (filed by the reading's hour from the keys the transform returns, or by arrival), and its rows must be
//! exactly the window's, and the scan engine's: each reading once by default (copies a retry left, in the same
//! hour or a later one, dropped; conflicts and readings without a key kept; the first copy kept), every line with
//! `--keep-duplicates`. The stack's saved query (examples/athena/readings_once.sql) gives the scan engine's rows
//! for its day.
//!
//! Only what Trino and DuckDB disagree on is rewritten ([`for_duckdb`]), nothing of the query's logic:
//! 1. the table: `FROM "readings"` reads the objects under the table's `year=/month=/day=/hour=` folders with
//!    DuckDB's `read_json`, with the Glue table's columns and types (read from templates/pipeline.yaml) under the
//!    readings' own key names: Hive's JSON SerDe matches `PM2_5` to `pm2_5`, DuckDB's reader matches keys
//!    exactly, and DuckDB's identifiers then find `"pm2_5"` case-insensitively;
//! 2. Trino's hidden column `"$path"`, the object a row came from, is DuckDB's `filename` (the file's path under
//!    the lake's root: the same order as the objects' keys);
//! 3. `from_iso8601_timestamp` (Trino's, absent from DuckDB) is a macro: a cast to `TIMESTAMPTZ` in a UTC session,
//!    as Athena's is;
//! 4. each `?` is its execution parameter, the SQL literal Athena puts there; `current_date` (the saved query's
//!    today) is [`TODAY`], the day after the lake's.

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

/// The day the saved query runs on in these tests: the day after the lake's readings.
const TODAY: &str = "2026-11-26";

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// A reading sent: `(device_id, seq, TIME, PM2_5)`, a field `None` left out.
type Sent = (Option<&'static str>, Option<u64>, Option<&'static str>, f64);

/// Firehose batches, each `(arrival, [readings])`: the day before, aq-1's first reading; aq-1's on-time reading and aq-2's a millisecond before the
/// window; aq-1's seq 1 again with another value (a conflict, kept); sensor s-1's reading without a seq, resent
/// by the sensor (a copy by its time); aq-4's without a `TIME` (its reading time is its arrival); a reading
/// without a device id sent twice (no key: both kept); aq-5's measured 10:40, arrived 11:10; aq-4's retried at
/// 11:00:02 (its reading time follows the arrival, so the copy is measured in hour 11); at 12:05 aq-3's reading
/// measured at 10:59:30 (late), one at 11:00 (the window's end, excluded) and aq-1's at 12:04; at 12:05:03 a retry
/// delivers aq-3's late reading again (a copy), and at 13:00:04 aq-5's (a copy that arrived two hours after the
/// first: filed by arrival, under a later hour).
const BATCHES: [(&str, &[Sent]); 15] = [
    ("2026-11-24T12:00:02Z", &[(Some("aq-1"), Some(0), Some("2026-11-24T12:00:00"), 9.5)]),
    (
        "2026-11-25T10:15:02Z",
        &[
            (Some("aq-1"), Some(1), Some("2026-11-25T10:15:00"), 9.5),
            (Some("aq-2"), Some(1), Some("2026-11-25T09:59:59.999"), 9.5),
        ],
    ),
    ("2026-11-25T10:15:09Z", &[(Some("aq-1"), Some(1), Some("2026-11-25T10:15:00"), 12.0)]),
    ("2026-11-25T10:20:02Z", &[(Some("s-1"), None, Some("2026-11-25T10:20:00"), 9.5)]),
    ("2026-11-25T10:30:00Z", &[(Some("aq-4"), Some(1), None, 9.5)]),
    ("2026-11-25T10:30:04Z", &[(Some("s-1"), None, Some("2026-11-25T10:20:00"), 9.5)]),
    // A sensor whose clock is not believed (2023): its reading time is each copy's arrival, its TIME one.
    ("2026-11-25T10:32:00Z", &[(Some("s-2"), None, Some("2023-05-01T00:00:00"), 7.0)]),
    ("2026-11-25T10:41:00Z", &[(Some("s-2"), None, Some("2023-05-01T00:00:00"), 7.0)]),
    ("2026-11-25T10:50:02Z", &[(None, None, Some("2026-11-25T10:50:00"), 5.0)]),
    ("2026-11-25T10:50:06Z", &[(None, None, Some("2026-11-25T10:50:00"), 5.0)]),
    ("2026-11-25T11:00:02Z", &[(Some("aq-4"), Some(1), None, 9.5)]),
    ("2026-11-25T11:10:00Z", &[(Some("aq-5"), Some(1), Some("2026-11-25T10:40:00"), 9.5)]),
    (
        "2026-11-25T12:05:00Z",
        &[
            (Some("aq-3"), Some(1), Some("2026-11-25T10:59:30"), 9.5),
            (Some("aq-3"), Some(2), Some("2026-11-25T11:00:00"), 9.5),
            (Some("aq-1"), Some(2), Some("2026-11-25T12:04:00"), 9.5),
        ],
    ),
    ("2026-11-25T12:05:03Z", &[(Some("aq-3"), Some(1), Some("2026-11-25T10:59:30"), 9.5)]),
    ("2026-11-25T13:00:04Z", &[(Some("aq-5"), Some(1), Some("2026-11-25T10:40:00"), 9.5)]),
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
            .map(|(i, (device, seq, time, pm2_5))| {
                let mut reading = serde_json::json!({"PM2_5": pm2_5});
                if let Some(device) = device {
                    reading["device_id"] = (*device).into();
                }
                if let Some(seq) = seq {
                    reading["seq"] = (*seq).into();
                }
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

/// Columns as `(name, hive type)`.
type Columns = Vec<(String, String)>;

/// The readings table's `(columns, partition keys)`, from the template deploy uses.
fn table_columns() -> (Columns, Columns) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/pipeline.yaml");
    let template: serde_norway::Value = serde_norway::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let input = &template["Resources"]["ReadingsTable"]["Properties"]["TableInput"];
    let pairs = |list: &serde_norway::Value| -> Columns {
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
        "read_json('{}', format = 'newline_delimited', hive_partitioning = true, hive_types = {{{}}}, \
         columns = {{{}}}, filename = true)",
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
    sql = sql.replace("\"$path\"", "filename").replace("current_date", &format!("DATE '{TODAY}'"));
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

/// `device/seq` of each row, in order (`-` for a row without a device id, `null` for one without a seq).
fn keys(rows: &[Value]) -> Vec<String> {
    rows.iter().map(|r| format!("{}/{}", r["device_id"].as_str().unwrap_or("-"), r["seq"])).collect()
}

/// What tells the copy kept from the ones dropped, and a conflict from its first: `device/seq PM2_5 arrival` of
/// each row, sorted (the scan engine names the columns as the readings do, the SQL in lowercase).
fn kept(rows: &[Value]) -> Vec<String> {
    let field = |r: &Value, name: &str| r.get(name).or(r.get(name.to_lowercase())).cloned().unwrap_or(Value::Null);
    let mut kept: Vec<String> = rows
        .iter()
        .zip(keys(rows))
        .map(|(r, key)| {
            let pm = field(r, "PM2_5").as_f64();
            format!("{key} {pm:?} {}", field(r, "_firehose_arrival").as_str().unwrap_or("-"))
        })
        .collect();
    kept.sort();
    kept
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

/// The scan engine's rows for the same window (`report --format json`, the arguments added).
fn scanned(env: &Env, args: &[&str]) -> Vec<Value> {
    serde_json::from_str(&env.ok(&[&["report", "--format", "json"], args].concat())).unwrap()
}

/// The rows of both engines agree: the same readings, the same copy of each kept; each reading once by default
/// and every line with `--keep-duplicates`. Returns the SQL's rows, each once.
fn both_engines(env: &Env, root: &Path, prefix: &Prefix, query: &Query, args: &[&str]) -> Vec<Value> {
    let floor = at("2026-11-01T00:00:00Z");
    let once = duckdb(&readings(query, prefix, floor, TABLE), root);
    assert_eq!(kept(&once), kept(&scanned(env, args)), "each reading once: {args:?}");
    let every = query.clone().keeping_duplicates(true);
    let all = duckdb(&readings(&every, prefix, floor, TABLE), root);
    assert_eq!(kept(&all), kept(&scanned(env, &[args, &["--keep-duplicates"]].concat())), "every line: {args:?}");
    once
}

/// `(device, readings, copies_dropped, conflicts)` of the SQL's summary, and the same of the scan engine's.
fn summaries(env: &Env, root: &Path, prefix: &Prefix, query: &Query, args: &[&str]) -> [Vec<String>; 2] {
    let row = |r: &Value| {
        let n = |k: &str| r[k].as_i64().map_or("-".to_owned(), |n| n.to_string());
        format!("{} {} {} {}", r["device_id"].as_str().unwrap(), n("readings"), n("copies_dropped"), n("conflicts"))
    };
    let sql = duckdb(&summary(query, prefix, at("2026-11-01T00:00:00Z"), TABLE), root);
    let scan = scanned(env, &[args, &["--summary"]].concat());
    [sql.iter().map(row).collect(), scan.iter().map(row).collect()]
}

/// `(files read, files listed)` of the table's scan in DuckDB's plan of the statement: what partition pruning
/// left (DuckDB prunes `hive_partitioning` files by the predicates on the partition columns, as Athena prunes
/// partitions, when they reach the scan).
fn files_scanned(statement: &Statement, root: &Path) -> (u64, u64) {
    let explain = Statement { sql: format!("EXPLAIN {}", statement.sql), parameters: statement.parameters.clone() };
    let plan: String = duckdb(&explain, root).iter().filter_map(|r| r["explain_value"].as_str()).collect();
    let at = plan.find("Scanning Files: ").unwrap_or_else(|| panic!("no pruned scan in DuckDB's plan:\n{plan}"));
    let counts: String = plan[at + 16..].chars().take_while(|c| c.is_ascii_digit() || *c == '/').collect();
    let (read, listed) = counts.split_once('/').unwrap();
    (read.parse().unwrap(), listed.parse().unwrap())
}

const TEN: [&str; 4] = ["--since", "2026-11-25T10:00:00Z", "--until", "2026-11-25T11:00:00Z"];

fn ten() -> Query {
    Query::window(Some(at("2026-11-25T10:00:00Z")), Some(at("2026-11-25T11:00:00Z")))
}

/// The window 10:00-11:00, oldest reading first (the SQL's order): filed by the reading's hour, everything
/// measured in it however late it arrived, each reading once (the resent sensor reading, and the retries' copies
/// of aq-3's and aq-5's readings dropped, the first of each kept; aq-1's conflict and the two readings without a
/// device id kept), and nothing from the hours around it.
#[test]
fn duckdb_runs_the_athena_sql_over_a_lake_filed_by_the_readings_hour() {
    let (env, prefix, root) = deployed(Partitioning::Event);
    let rows = keys(&both_engines(&env, &root, &prefix, &ten(), &TEN));
    let window = [
        "aq-1/1", "aq-1/1", "old-3/1", "s-1/null", "aq-4/1", "s-2/null", "aq-5/1", "old-1/1", "old-2/1", "-/null",
        "-/null", "aq-3/1",
    ];
    assert_eq!(rows, window, "measured 10:00-11:00, oldest first, each once");
    let all = duckdb(&readings(&ten().keeping_duplicates(true), &prefix, at("2026-11-01T00:00:00Z"), TABLE), &root);
    assert_eq!(all.len(), window.len() + 4, "--keep-duplicates: the four copies too");
    let late = ten().with_lateness(None);
    let rows = keys(&both_engines(&env, &root, &prefix, &late, &[&TEN[..], &["--late", "all"]].concat()));
    assert_eq!(rows, window, "--late changes nothing");

    let twelve = Query::window(Some(at("2026-11-25T12:00:00Z")), Some(at("2026-11-25T13:00:00Z")));
    let noon = ["--since", "2026-11-25T12:00:00Z", "--until", "2026-11-25T13:00:00Z"];
    assert_eq!(keys(&both_engines(&env, &root, &prefix, &twelve, &noon)), ["aq-1/2"]);

    // The plan: the partition predicates reach the scan under the window functions, so the query that drops
    // copies reads the same files as the one that keeps them, and only the window's hour of them.
    let floor = at("2026-11-01T00:00:00Z");
    let scanned_once = files_scanned(&readings(&ten(), &prefix, floor, TABLE), &root);
    let scanned_all = files_scanned(&readings(&ten().keeping_duplicates(true), &prefix, floor, TABLE), &root);
    assert_eq!(scanned_once, scanned_all, "dropping copies reads no more");
    let hour_10 = lake(Partitioning::Event).iter().filter(|(key, _)| key.contains("/day=25/hour=10/")).count();
    assert_eq!(scanned_once.0, hour_10 as u64, "hour 10's objects only, of {}", scanned_once.1);
    assert!(scanned_once.0 < scanned_once.1);

    // Devices go as parameters, a quote in one included.
    let some = ten().of_devices(vec!["aq-3".into(), "it's".into()]);
    let args = [&TEN[..], &["--device", "aq-3", "--device", "it's"]].concat();
    assert_eq!(keys(&both_engines(&env, &root, &prefix, &some, &args)), ["aq-3/1"]);

    // The summary counts each reading once, and per device the copies dropped and the conflicts kept.
    let [sql, scan] = summaries(&env, &root, &prefix, &ten(), &TEN);
    let expected = [
        "(no device_id) 2 0 0",
        "aq-1 2 0 1",
        "aq-3 1 1 0",
        "aq-4 1 0 0",
        "aq-5 1 1 0",
        "old-1 1 0 0",
        "old-2 1 0 0",
        "old-3 1 0 0",
        "s-1 1 1 0",
        "s-2 1 1 0",
    ];
    assert_eq!(sql, expected);
    assert_eq!(scan, expected, "the scan engine's summary");
    let [sql, scan] =
        summaries(&env, &root, &prefix, &ten().keeping_duplicates(true), &[&TEN[..], &["--keep-duplicates"]].concat());
    assert_eq!(sql, scan, "every line counted");
    assert!(sql.contains(&"aq-3 2 - -".to_owned()), "{sql:?}");
}

/// examples/athena/daily_pm25.sql over an event-mode lake: the day's lines by the hour they were measured (the
/// late reading and its copy in hour 10: the example counts what the lake holds, as it says), none from before
/// `_reading_time` existed.
#[test]
fn duckdb_runs_the_daily_example_over_a_lake_filed_by_the_readings_hour() {
    let (_env, _, root) = deployed(Partitioning::Event);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/athena/daily_pm25.sql");
    let sql = std::fs::read_to_string(path).unwrap();
    let rows = duckdb(&Statement { sql, parameters: vec![] }, &root);
    let hours: Vec<String> = rows
        .iter()
        .map(|r| format!("{} {} {}", r["device_id"].as_str().unwrap_or("-"), r["hour_measured"], r["readings"]))
        .collect();
    let expected = [
        "aq-1 10 2",
        "aq-1 12 1",
        "aq-2 9 1",
        "aq-3 10 2",
        "aq-3 11 1",
        "aq-4 10 1",
        "aq-4 11 1",
        "aq-5 10 2",
        "s-1 10 2",
        "s-2 10 2",
        "- 10 2",
    ];
    assert_eq!(hours, expected);
}

/// Filed by arrival, the same window reads from the hour before it to the lateness allowance: the reading that
/// arrived at 12:05 is read only once `--late` reaches it, as the scan engine reads it, and aq-5's copy, filed
/// two hours after its first (hours 11 and 13), is dropped once `--late all` reads both.
#[test]
fn duckdb_runs_the_athena_sql_over_a_lake_filed_by_arrival() {
    let (env, prefix, root) = deployed(Partitioning::Arrival);
    let rows = keys(&both_engines(&env, &root, &prefix, &ten(), &TEN));
    let by_noon = [
        "aq-1/1", "aq-1/1", "old-3/1", "s-1/null", "aq-4/1", "s-2/null", "aq-5/1", "old-1/1", "old-2/1", "-/null",
        "-/null",
    ];
    assert_eq!(rows, by_noon, "arrived by 12:00");
    let two_hours = ten().with_lateness(Some(chrono::Duration::hours(2)));
    let rows = keys(&both_engines(&env, &root, &prefix, &two_hours, &[&TEN[..], &["--late", "2h"]].concat()));
    let window = [&by_noon[..], &["aq-3/1"]].concat();
    assert_eq!(rows, window, "--late 2h reads the arrival at 12:05 and its retry's copy, once");
    let any = ten().with_lateness(None);
    let rows = both_engines(&env, &root, &prefix, &any, &[&TEN[..], &["--late", "all"]].concat());
    assert_eq!(keys(&rows), window, "--late all reads aq-5's copy under hour 13, and drops it");
    let aq5: Vec<&Value> = rows.iter().filter(|r| r["device_id"] == "aq-5").collect();
    assert_eq!(aq5[0]["_firehose_arrival"], "2026-11-25T11:10:00.000Z", "the first copy is kept");
    let all = duckdb(&readings(&any.keeping_duplicates(true), &prefix, at("2026-11-01T00:00:00Z"), TABLE), &root);
    assert_eq!(all.len(), window.len() + 4);
    let [sql, scan] =
        summaries(&env, &root, &prefix, &ten().with_lateness(None), &[&TEN[..], &["--late", "all"]].concat());
    assert_eq!(sql, scan, "the summaries agree");
    let twelve = Query::window(Some(at("2026-11-25T12:00:00Z")), Some(at("2026-11-25T13:00:00Z")));
    let noon = ["--since", "2026-11-25T12:00:00Z", "--until", "2026-11-25T13:00:00Z"];
    assert_eq!(keys(&both_engines(&env, &root, &prefix, &twelve, &noon)), ["aq-1/2"]);
}

/// The stack's saved query (examples/athena/readings_once.sql, as templates/pipeline.yaml ships it) run on
/// [`TODAY`]: yesterday's readings each once, the scan engine's rows for that day in both layouts, among them
/// aq-4's retry measured an hour after the first copy (the hour of its arrival) and dropped.
#[test]
fn duckdb_runs_the_saved_query_as_the_scan_engine_reads_the_day() {
    let day = ["--since", "2026-11-25T00:00:00Z", "--until", "2026-11-26T00:00:00Z"];
    for partitioning in [Partitioning::Event, Partitioning::Arrival] {
        let (env, prefix, root) = deployed(partitioning);
        let sql = reaqtions::report::sql::saved_readings_once(&prefix, TABLE);
        let rows = duckdb(&Statement { sql: sql.clone(), parameters: vec![] }, &root);
        assert_eq!(kept(&rows), kept(&scanned(&env, &day)), "{partitioning:?}");
        let (read, listed) = files_scanned(&Statement { sql: sql.clone(), parameters: vec![] }, &root);
        assert!(read < listed, "{partitioning:?}: the day's partitions only, {read} of {listed} files");
        let aq4: Vec<&Value> = rows.iter().filter(|r| r["device_id"] == "aq-4").collect();
        assert_eq!(aq4.len(), 1, "{partitioning:?}: {aq4:?}");
        assert_eq!(aq4[0]["_firehose_arrival"], "2026-11-25T10:30:00.000Z");
        let all = scanned(&env, &[&day[..], &["--keep-duplicates"]].concat());
        assert!(all.len() > rows.len(), "{partitioning:?}: the day holds copies");
    }
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/athena/readings_once.sql");
    let (env, prefix, root) = deployed(Partitioning::Event);
    let sql = std::fs::read_to_string(&example).unwrap();
    assert!(sql.contains(&reaqtions::report::sql::saved_readings_once(&prefix, TABLE)), "{}", example.display());
    let rows = duckdb(&Statement { sql, parameters: vec![] }, &root);
    assert_eq!(kept(&rows), kept(&scanned(&env, &day)), "{}", example.display());
}
