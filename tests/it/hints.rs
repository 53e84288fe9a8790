//! Messages name the target they were printed for: commands as typed there, file paths for a local lake; the local function's log lines match the deployed one's field for field.

use std::path::{Path, PathBuf};

use reaqtions_lambda::{BatchReport, Reject};
use serde_json::{Map, Value};

use crate::Env;

/// The files under `dir` whose name ends with `suffix`, at any depth.
fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_ending(&path, suffix));
        } else if path.to_string_lossy().ends_with(suffix) {
            found.push(path);
        }
    }
    found
}

/// The deployed function's lines as its `BatchReport::emit` logs them (a lambda crate test pins `emit` to this
/// list): level, message and field names, for one refused record and the summary.
fn lambda_lines() -> Vec<(String, String, Vec<String>)> {
    let report = BatchReport { failures: vec![("r".to_owned(), Reject::TruncatedJson)], ..BatchReport::default() };
    report
        .log_lines()
        .into_iter()
        .map(|line| {
            let names = line.fields.iter().map(|(name, _)| (*name).to_owned()).collect();
            (line.level.to_owned(), line.message.to_owned(), names)
        })
        .collect()
}

#[test]
fn the_local_functions_log_lines_carry_the_deployed_ones_fields() {
    let env = Env::default();
    env.ok(&["deploy"]);
    env.send_some_refused();
    let files = files_ending(&env.data_dir(), "reaqtions-data-transformation.log");
    assert_eq!(files.len(), 1, "one log file of the function under {}: {files:?}", env.data_dir().display());
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let expected = lambda_lines();
    let (mut summaries, mut failures) = (0, 0);
    for line in text.lines() {
        let line: Map<String, Value> = serde_json::from_str(line).unwrap();
        let (level, message) = (line["level"].as_str().unwrap(), line["message"].as_str().unwrap());
        let names: Vec<String> =
            line.keys().filter(|k| !matches!(k.as_str(), "timestamp" | "level" | "message")).cloned().collect();
        let Some((_, _, lambda)) = expected.iter().find(|(l, m, _)| l == level && m == message) else {
            panic!("a line the deployed function never writes: {line:?}")
        };
        assert_eq!(&names, lambda, "{message}: the deployed function's fields, in its order");
        match message {
            "batch transformed" => summaries += 1,
            _ => failures += 1,
        }
    }
    assert!(summaries >= 1 && failures >= 1, "a summary and a refused record:\n{text}");
}
