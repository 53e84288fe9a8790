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

/// Runs and returns (stdout, stderr), asserting success.
fn run(env: &Env, args: &[&str]) -> (String, String) {
    let out = env.cmd(args).output().expect("run reaqtions");
    let stderr = String::from_utf8(out.stderr).expect("utf-8 stderr");
    assert!(out.status.success(), "reaqtions {args:?} failed with {}:\n{stderr}", out.status);
    (String::from_utf8(out.stdout).expect("utf-8 stdout"), stderr)
}

#[test]
fn the_table_holds_rows_only_and_its_note_of_the_rest_goes_to_stderr() {
    let env = Env::default();
    env.ok(&["deploy"]);
    // 210 readings, sent at once: 10 past the rows a table shows.
    env.ok(&["simulate", "--devices", "3", "--count", "70", "--rate", "1000", "--quiet"]);
    let (table, notes) = run(&env, &["report"]);
    assert!(!table.contains("not shown"), "the note is not a result:\n{table}");
    assert!(notes.contains("… 10 more rows not shown (use --format csv, json or ndjson for all)"), "{notes}");
    let (_, quiet) = run(&env, &["report", "--quiet"]);
    assert!(!quiet.contains("not shown"), "--quiet: results, warnings and errors only:\n{quiet}");
    let csv = env.ok(&["report", "--format", "csv"]);
    assert_eq!(csv.lines().count(), 1 + 210, "every row in a machine format");
}

#[test]
fn an_explicit_format_wins_over_the_old_output_spelling() {
    let env = Env::default();
    env.ok(&["deploy"]);
    // Alone, `--output json` is the old spelling of the format: JSON on stdout, and a warning naming the new one.
    let (json, warned) = run(&env, &["status", "--output", "json"]);
    serde_json::from_str::<Value>(&json).unwrap_or_else(|e| panic!("not JSON ({e}):\n{json}"));
    assert!(warned.contains("--output json is now --format json"), "{warned}");
    assert!(!env.dir.path().join("json").exists());
    // With `--format`, it names a file: the table goes there, and the run says so.
    let (stdout, said) = run(&env, &["status", "--format", "table", "--output", "json"]);
    assert_eq!(stdout, "", "the result went to the file");
    assert!(!said.contains("is now --format"), "{said}");
    let file = std::fs::read_to_string(env.dir.path().join("json")).unwrap();
    assert!(file.contains("stack") && serde_json::from_str::<Value>(&file).is_err(), "a table:\n{file}");
    assert!(said.contains(&format!("wrote json ({})", size(file.len()))), "{said}");
}

#[test]
fn report_output_names_a_file_and_only_table_or_json_alone_are_the_old_format() {
    let env = Env::default();
    env.ok(&["deploy"]);
    env.ok(&["simulate", "--devices", "2", "--count", "5", "--rate", "1000", "--quiet"]);
    // `--output html` alone printed the page to the terminal: now it is refused, and nothing is written.
    let out = env.cmd(&["report", "--output", "html"]).output().unwrap();
    let refused = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "a usage error: {refused}");
    assert!(out.stdout.is_empty(), "no page on the terminal");
    assert!(
        refused.contains(
            "--output html names a file, not the format: --format html prints it (with --output FILE to write it \
             to a file); --output ./html writes the table to a file named html"
        ),
        "{refused}"
    );
    assert!(!env.dir.path().join("html").exists(), "no file named html");
    // With `--format`, `--output json` is a file named json, and the run says where the rows went.
    let (stdout, said) = run(&env, &["report", "--format", "csv", "--output", "json"]);
    assert_eq!(stdout, "", "the rows went to the file");
    let file = std::fs::read_to_string(env.dir.path().join("json")).unwrap();
    assert_eq!(file.lines().count(), 1 + 10, "a CSV header and ten readings:\n{file}");
    assert!(said.contains(&format!("wrote json ({})", size(file.len()))), "{said}");
    assert!(!said.contains("is now --format"), "{said}");
    // Alone, `--output json` is still the format, warned about once.
    let (json, warned) = run(&env, &["report", "--output", "json"]);
    let rows: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("not JSON ({e}):\n{json}"));
    assert_eq!(rows.as_array().map(Vec::len), Some(10), "{rows}");
    assert_eq!(warned.matches("--output json is now --format json").count(), 1, "{warned}");
    // A report that fails leaves its file as it was (yesterday's page stays), or absent: never emptied.
    let kept = env.dir.path().join("kept.json");
    std::fs::write(&kept, "yesterday's rows\n").unwrap();
    for (file, before) in [("kept.json", Some("yesterday's rows\n")), ("fail.json", None)] {
        let out = env.cmd(&["--stack", "nosuch", "report", "--format", "json", "--output", file]).output().unwrap();
        assert!(!out.status.success(), "no deployment of stack nosuch");
        let after = std::fs::read_to_string(env.dir.path().join(file)).ok();
        assert_eq!(after.as_deref(), before, "{file}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let left: Vec<String> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".reaqtions-"))
        .collect();
    assert!(left.is_empty(), "no staged file left behind: {left:?}");
    // A verb other than report: the same.
    let out = env.cmd(&["--stack", "nosuch", "health", "--format", "json", "--output", "kept.json"]).output().unwrap();
    assert!(!out.status.success());
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), "yesterday's rows\n");
}

#[test]
fn teardown_prints_what_it_removed_and_kept_as_json() {
    let env = Env::default();
    env.ok(&["deploy"]);
    let plan = env.json(&["teardown", "--dry-run", "--format", "json"]);
    assert_eq!(plan["dry_run"], true, "{plan}");
    assert_eq!(plan["data"], "kept", "{plan}");
    let done = env.json(&["teardown", "--yes", "--format", "json"]);
    assert_eq!(done["stack"], "reaqtions", "{done}");
    assert_eq!(done["stacks_removed"], serde_json::json!(["reaqtions"]), "{done}");
    assert_eq!(done["buckets"], serde_json::json!(["reaqtions-iot-data-lake-raw"]), "{done}");
    assert_eq!((done["data"].as_str(), done["dry_run"].as_bool()), (Some("kept"), Some(false)), "{done}");
    assert!(done["summary"].as_str().unwrap().starts_with("removed local pipeline reaqtions; kept bucket"), "{done}");
    // Nothing left: still one JSON document for a script, with nothing removed.
    let again = env.json(&["teardown", "--yes", "--format", "json"]);
    assert_eq!(again["stacks_removed"], serde_json::json!([]), "{again}");
    assert!(again["summary"].as_str().unwrap().starts_with("nothing to remove"), "{again}");
}

#[test]
fn logs_print_one_json_object_per_event_and_write_to_a_file() {
    let env = Env::default();
    env.ok(&["deploy"]);
    env.send_some_refused();
    let text = env.ok(&["logs"]);
    let json = env.ok(&["logs", "--format", "json"]);
    assert_eq!(json.lines().count(), text.lines().count(), "{json}");
    for (line, printed) in json.lines().zip(text.lines()) {
        let event: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let (time, message) = (event["timestamp"].as_str().unwrap(), event["message"].as_str().unwrap());
        assert_eq!(format!("{time} {message}"), printed, "the same event in each format");
    }
    assert!(json.contains("batch transformed") && json.contains("record failed"), "{json}");
    let (stdout, said) = run(&env, &["logs", "--format", "json", "--output", "events.jsonl"]);
    assert_eq!(stdout, "");
    let file = std::fs::read_to_string(env.dir.path().join("events.jsonl")).unwrap();
    assert_eq!(file, json);
    assert!(said.contains("wrote events.jsonl ("), "{said}");
}

#[test]
fn template_prints_one_json_document_and_writes_to_a_file() {
    let env = Env::default();
    let json: Value = serde_json::from_str(&env.ok(&["template", "--format", "json"])).unwrap();
    let files: Vec<&str> = json["templates"].as_array().unwrap().iter().map(|t| t["file"].as_str().unwrap()).collect();
    assert_eq!(files, ["templates/artifacts.yaml", "templates/pipeline.yaml"]);
    assert!(json["templates"][1]["body"].as_str().unwrap().starts_with("AWSTemplateFormatVersion"), "{json}");
    let (stdout, said) = run(&env, &["template", "pipeline", "--output", "pipeline.yaml"]);
    assert_eq!(stdout, "");
    let file = std::fs::read_to_string(env.dir.path().join("pipeline.yaml")).unwrap();
    assert_eq!(file, env.ok(&["template", "pipeline"]));
    assert!(said.contains(&format!("wrote pipeline.yaml ({})", size(file.len()))), "{said}");
}

/// As `output::size` prints it.
fn size(bytes: usize) -> String {
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.1} kB", bytes as f64 / 1e3),
        _ => format!("{:.1} MB", bytes as f64 / 1e6),
    }
}
