//! Windows read alike on every verb: one check and one wording for `--since`/`--until`, and `logs` reads the last
//! ten minutes unless told otherwise.

use std::io::Write as _;

use crate::Env;

#[test]
fn logs_read_the_last_ten_minutes_unless_told_otherwise() {
    let env = Env::default();
    env.ok(&["deploy"]);
    let log = env.data_dir().join("logs").join("aws.lambda.reaqtions-data-transformation.log");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    let at = |ago: chrono::Duration| (chrono::Utc::now() - ago).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
    for (ago, message) in
        [(chrono::Duration::minutes(30), "half an hour ago"), (chrono::Duration::minutes(2), "just now")]
    {
        writeln!(file, r#"{{"timestamp":"{}","level":"INFO","message":"{message}"}}"#, at(ago)).unwrap();
    }
    drop(file);
    let out = env.cmd(&["logs"]).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("just now") && !stdout.contains("half an hour ago"), "{stdout}");
    assert!(stderr.contains("the last 10 minutes"), "the default window is said: {stderr}");
    let wider = env.ok(&["logs", "--since", "1h"]);
    assert!(wider.contains("just now") && wider.contains("half an hour ago"), "{wider}");

    let out = env.cmd(&["logs", "--since", "1h", "--until", "2h"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not before --until") && stderr.contains("the window is [since, until)"), "{stderr}");
}

#[test]
fn an_empty_window_is_refused_in_one_wording_on_every_verb_that_takes_one() {
    let env = Env::default();
    env.ok(&["deploy"]);
    // health widens its window to whole periods and checks it its own way (commands::health).
    for verb in ["report", "logs", "reprocess"] {
        let out =
            env.cmd(&[verb, "--since", "2026-12-01T12:00:00Z", "--until", "2026-12-01T11:00:00Z"]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{verb}: {stderr}");
        assert!(
            stderr.contains(
                "--since (2026-12-01T12:00:00Z) is not before --until (2026-12-01T11:00:00Z): the window is [since, until)"
            ),
            "{verb}: {stderr}"
        );
    }
}
