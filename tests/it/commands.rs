//! deploy's idempotency and every bad input named clearly.

use crate::{Env, fixture};

#[test]
fn deploy_creates_then_is_up_to_date_then_updates() {
    let env = Env::default();
    let created = env.json(&["deploy", "--format", "json"]);
    assert_eq!(created["change"], "created");
    assert_eq!(created["stream"], "reaqtions-iot-data-stream");
    assert_eq!(created["stream_version"], 1);
    assert_eq!(env.json(&["deploy", "--format", "json"])["change"], "up to date");
    let updated = env.json(&["deploy", "--buffer-size-mib", "100", "--format", "json"]);
    assert_eq!(updated["change"], "updated");
    assert_eq!(updated["stream_version"], 2);
    assert_eq!(updated["buffering"], serde_json::json!({"size_mib": 100, "interval_seconds": 60}));
    assert_eq!(updated["processor_buffering"], serde_json::json!({"size_mb": 1.0, "interval_seconds": 5}));
    let dry = env.cmd(&["deploy", "--stack", "lab", "--dry-run"]).output().unwrap();
    assert!(String::from_utf8_lossy(&dry.stderr).contains("would create"), "another stack is another deployment");
    assert_eq!(env.json(&["status", "--format", "json"])["stack"], "reaqtions", "dry run changed nothing");
}

#[test]
fn settings_file_and_flags() {
    let env = Env::default();
    let config = env.dir.path().join("reaqtions.yaml");
    // An interval of 0 is an arrival-time pipeline's (Firehose buffers partitioned streams 60 s at least).
    let file = "stack: lab\npartitioning: arrival\nbuffer_interval_seconds: 0\nlambda_memory_mb: 512\n";
    std::fs::write(&config, file).unwrap();
    let out = env.json(&["deploy", "--config", config.to_str().unwrap(), "--buffer-size-mib", "3", "--format", "json"]);
    assert_eq!(out["stream"], "lab-iot-data-stream");
    assert_eq!(out["function"], "lab-data-transformation");
    assert_eq!(out["buffering"], serde_json::json!({"size_mib": 3, "interval_seconds": 0}));
    // ./reaqtions.yaml is read without --config; the other verbs read no settings file, and deploy says so.
    let out = env.cmd(&["deploy", "--format", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("stack lab is named by the settings file: pass --stack lab to the other verbs"), "{said}");
    let implicit: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(implicit["stream"], "lab-iot-data-stream");
    assert_eq!(implicit["buffering"], serde_json::json!({"size_mib": 5, "interval_seconds": 0}));
}

#[test]
fn bad_input_is_named() {
    let env = Env::default();
    let fails = |args: &[&str], needle: &str| {
        let out = env.cmd(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr:?} does not mention {needle:?}");
    };
    fails(&["simulate"], "reaqtions deploy --local");
    fails(&["deploy", "--buffer-size-mib", "0"], "buffer size 0 MiB");
    fails(&["deploy", "--stack", "Bad_Name"], "Bad_Name");
    fails(&["deploy", "--config", "missing.yaml"], "missing.yaml");
    std::fs::write(env.dir.path().join("typo.yaml"), "buffer_size: 5\n").unwrap();
    fails(&["deploy", "--config", "typo.yaml"], "typo.yaml");
    env.ok(&["deploy"]);
    let usage = |args: &[&str], needle: &str| {
        let out = env.cmd(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?} is a usage error: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stderr).contains(needle), "{args:?}");
    };
    usage(&["simulate", "--devices", "0"], "--devices must be 1-100000");
    usage(&["simulate", "--via", "mqtt", "--connect-rate", "0"], "--connect-rate must be");
    usage(&["report", "--since", "yesterday"], "yesterday");
    usage(&["logs", "--since", "last week"], "last week");
    usage(&["deploy", "--log-retention-days", "10"], "log retention 10 days");
    usage(&["demo", "--malformed-ratio", "3"], "--malformed-ratio");
    fails(&["simulate", "--malformed-ratio", "2"], "--malformed-ratio");
    fails(&["simulate", "--rate", "0"], "--rate");
    fails(&["simulate", "--resend", "nope.ndjson"], "nope.ndjson");
    fails(&["report", "--since", "someday"], "someday");
    fails(&["report", "--since", "1h", "--until", "2h"], "is not before --until");
    fails(&["report", "--output", "/nonexistent/dir/out.csv"], "/nonexistent/dir/out.csv");

    // The AWS target without a region: a clear error at once, before any call.
    let aws = assert_cmd::Command::from_std(crate::fixture::reaqtions(env.dir.path()))
        .arg("status")
        .timeout(std::time::Duration::from_secs(20))
        .output()
        .unwrap();
    assert!(!aws.status.success());
    assert!(String::from_utf8_lossy(&aws.stderr).contains("no AWS region: pass --region"), "{aws:?}");

    // No credentials: a line or two of advice, none of the SDK's warnings or debug dumps.
    let aws = |extra: &[(&str, &str)], args: &[&str]| {
        let mut cmd = assert_cmd::Command::from_std(crate::fixture::reaqtions(env.dir.path()));
        cmd.args(["--region", "eu-west-1"]).args(args).timeout(std::time::Duration::from_secs(30));
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let endpoint = [("AWS_ENDPOINT_URL", "http://127.0.0.1:1")];
    let stderr = aws(&endpoint, &["status"]);
    assert!(stderr.contains("no usable AWS credentials") && stderr.contains("aws configure"), "{stderr}");
    assert!(stderr.lines().count() <= 2 && !stderr.contains("DispatchFailure") && !stderr.contains("WARN"), "{stderr}");
    // An endpoint nothing listens on: named, with the service.
    let keys = [("AWS_ENDPOINT_URL", "http://127.0.0.1:1"), ("AWS_ACCESS_KEY_ID", "k"), ("AWS_SECRET_ACCESS_KEY", "s")];
    let stderr = aws(&keys, &["status"]);
    assert!(stderr.contains("cannot connect to CloudFormation at http://127.0.0.1:1"), "{stderr}");
    assert!(!stderr.contains("dispatch failure") && stderr.lines().count() == 1, "{stderr}");
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let env = Env::default();
    env.ok(&["deploy"]);
    env.ok(&["simulate", "--devices", "20", "--count", "100", "--rate", "1000", "--quiet"]);
    for args in [&["report", "--format", "csv"][..], &["template"][..]] {
        let mut child = crate::fixture::local(&env)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 16];
        std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
        drop(child.stdout.take()); // `| head -c 16`
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{args:?}: {stderr}");
    }
}

#[test]
fn completions_and_man_page() {
    let env = Env::default();
    let bash = env.ok(&["completions", "bash"]);
    assert!(bash.contains("complete") && bash.contains("--delete-data") && bash.contains("simulate"));
    for shell in ["zsh", "fish", "powershell"] {
        assert!(env.ok(&["completions", shell]).contains("reaqtions"), "{shell}");
    }
    let man = env.ok(&["man"]);
    assert!(man.starts_with(".ie") || man.contains(".TH reaqtions"), "{}", &man[..200.min(man.len())]);
    let bad = env.cmd(&["completions", "tcsh"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn cost_estimates_both_scenarios_with_dated_prices() {
    let env = Env::default();
    let out = env
        .cmd(&["cost", "--devices", "1000", "--reading-bytes", "250", "--linger", "20s", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let find = |scenario: &str, component: &str| {
        rows.iter()
            .find(|r| r["scenario"] == scenario && r["component"] == component)
            .unwrap_or_else(|| panic!("{scenario} {component}"))
    };
    for row in &rows {
        for key in ["scenario", "compression", "month", "component", "quantity", "unit", "usd"] {
            assert!(!row[key].is_null(), "{row}");
        }
    }
    let per_reading = find("per-reading", "firehose_ingestion")["usd"].as_f64().unwrap();
    let packed = find("packed", "firehose_ingestion")["usd"].as_f64().unwrap();
    assert!((per_reading / packed - 20.0).abs() < 1e-6, "20 readings of 250 bytes per 5 KB record");
    assert!(find("packed", "total")["usd"].as_f64().unwrap() < find("per-reading", "total")["usd"].as_f64().unwrap());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("as of 2026-11-01") && stderr.contains("us-east-1"), "the prices used are named: {stderr}");

    // The table for people; a region's quota; a price file of the same shape; an unknown region.
    let table = env
        .cmd(&["cost", "--devices", "200000", "--region", "eu-central-1", "--prices"])
        .arg(fixture("prices.json"))
        .output()
        .unwrap();
    assert!(table.status.success(), "{}", String::from_utf8_lossy(&table.stderr));
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("firehose_ingestion") && text.contains("USD, month 1"), "{text}");
    let stderr = String::from_utf8_lossy(&table.stderr);
    assert!(stderr.contains("exceeds a stream's quota of 100000 records/s in eu-central-1"), "{stderr}");
    assert!(stderr.contains("as of 2099-01-01"), "the given price file is used: {stderr}");
    let unknown = env.cmd(&["cost", "--devices", "10", "--region", "xx-nowhere-1"]).output().unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no prices for region xx-nowhere-1"));
}

/// A year, month by month: plain against gzip at the ratio measured when `cost` runs, the lake growing, cold
/// storage from the settings, and one Athena query's price each month.
#[test]
fn cost_prices_a_year_month_by_month_plain_against_gzip() {
    let env = Env::default();
    let out = env
        .cmd(&["cost", "--devices", "1000", "--linger", "22s", "--months", "12", "--format", "json"])
        .args(["--cold-after-days", "90", "--cold-storage-class", "GLACIER_IR"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let row = |compression: &str, month: u64, component: &str| {
        rows.iter()
            .find(|r| {
                r["scenario"] == "packed"
                    && r["compression"] == compression
                    && r["month"] == month
                    && r["component"] == component
            })
            .unwrap_or_else(|| panic!("{compression} {month} {component}"))
            .clone()
    };
    let at =
        |compression: &str, month: u64, component: &str| row(compression, month, component)["usd"].as_f64().unwrap();
    let ratio: f64 = stderr
        .split("the lake is ")
        .nth(1)
        .and_then(|s| s.split('×').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("the measured ratio is named: {stderr}"));
    assert!((3.0..20.0).contains(&ratio), "{ratio}");
    for month in 1..=12 {
        let (plain, gzip) = (at("none", month, "s3_storage"), at("gzip", month, "s3_storage"));
        assert!((plain / gzip - ratio).abs() < 0.01 * ratio, "month {month}: {plain} against {gzip}");
        let (plain, gzip) = (at("none", month, "athena_query_month"), at("gzip", month, "athena_query_month"));
        assert!(gzip < plain, "month {month}: a query over gzip objects scans less");
    }
    let held = |month| row("gzip", month, "s3_stored")["quantity"].as_f64().unwrap();
    assert!((held(12) / held(3) - 4.0).abs() < 1e-6, "the lake grows: {} GB at month 3, {} at 12", held(3), held(12));
    assert_eq!(at("gzip", 3, "s3_transitions"), 0.0, "nothing is 90 days old before month 4");
    assert!(at("gzip", 4, "s3_transitions") > 0.0 && at("gzip", 12, "s3_storage_cold") > 0.0);
    assert_eq!(rows.iter().filter(|r| r["component"] == "total").count(), 2 * 2 * 12, "both ways, every month");

    // The table for people names the months and the total; a month count out of range names the flag.
    let table = env.cmd(&["cost", "--devices", "10", "--months", "3"]).output().unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("gzip (") && text.contains("total") && text.contains("one query in month 3"), "{text}");
    let bad = env.cmd(&["cost", "--devices", "10", "--months", "0"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--months must be 1-120 (got 0)"));
}

#[test]
fn role_policies_are_printed_filled_in_for_the_stack() {
    let env = Env::default();
    for role in ["deployer", "producer", "analyst", "operator", "reprocessor"] {
        let text =
            env.ok(&["template", "iam", role, "--account", "123456789012", "--region", "eu-west-1", "--stack", "lab"]);
        let policy: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{role}: {e}\n{text}"));
        assert!(policy["Statement"].as_array().is_some_and(|s| !s.is_empty()), "{role}");
        for placeholder in ["PARTITION", "REGION", "ACCOUNT", "STACK", "RAW_BUCKET"] {
            assert!(!text.contains(placeholder), "{role}: {placeholder} left");
        }
        assert!(text.contains("123456789012") && !text.contains("reaqtions-"), "{role}: {text}");
    }
    let analyst = env.ok(&[
        "template",
        "iam",
        "analyst",
        "--account",
        "123456789012",
        "--region",
        "eu-west-1",
        "--bucket",
        "my-lake",
    ]);
    assert!(analyst.contains("arn:aws:s3:::my-lake/processed/*"));
    let china = env.ok(&["template", "iam", "producer", "--account", "123456789012", "--region", "cn-north-1"]);
    assert!(china.contains("arn:aws-cn:firehose:cn-north-1:"));
    let bad = env.cmd(&["template", "iam", "analyst", "--account", "12345", "--region", "eu-west-1"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn simulate_states_its_plan_and_a_typo_cannot_fill_a_disk() {
    let env = Env::default();
    env.ok(&["deploy"]);
    // The rate is per device: 1,000 devices at 100,000/s for 50 s is 5 billion readings. Off a terminal it is
    // refused before anything is made (a usage error, exit 2).
    let out = env.cmd(&["simulate", "--devices", "1000", "--rate", "100000", "--duration", "50s"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("1000 devices × 100000/s = 100,000,000/s for 50s: 5,000,000,000 readings"), "{stderr}");
    assert!(stderr.contains("--yes"), "{stderr}");
    let objects: Vec<String> = env.objects().into_iter().map(|(key, _)| key).collect();
    assert!(objects.is_empty(), "nothing made, nothing written: {objects:?}");

    // With --yes, a run that cannot keep up ends at its duration and says how far behind it was.
    let out = env
        .cmd(&["simulate", "--devices", "50", "--rate", "200000", "--duration", "1s", "--yes", "--format", "json"])
        .arg("--quiet")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (sent, not_made) = (summary["sent"].as_u64().unwrap(), summary["not_made"].as_u64().unwrap());
    assert_eq!(sent + not_made, 10_000_000, "{summary}");
    assert!(not_made > 0, "ten million readings in a second: behind, {summary}");
    assert_eq!(summary["accepted"].as_u64(), Some(sent), "what was made was delivered");
    assert!(String::from_utf8_lossy(&out.stderr).contains("ended at its duration behind the requested rate"));
}

#[test]
fn a_lake_that_cannot_be_written_loses_nothing_accepted() {
    let env = Env::default();
    env.ok(&["deploy"]);
    // The injected failure: a file where the lake needs this year's processed/ directory (readings are filed under
    // the hour they were measured, now), so every object write fails.
    let lake = env.data_dir().join("lake/reaqtions-iot-data-lake-raw");
    let year = lake.join(chrono::Utc::now().format("processed/year=%Y").to_string());
    std::fs::create_dir_all(year.parent().unwrap()).unwrap();
    std::fs::write(&year, b"not a directory").unwrap();
    let spool = env.dir.path().join("elsewhere.ndjson");
    let out = env
        .cmd(&["simulate", "--devices", "3", "--count", "20", "--rate", "200", "--no-pack", "--format", "json"])
        .args(["--quiet", "--spool"])
        .arg(&spool)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (accepted, not_written) = (summary["accepted"].as_u64().unwrap(), summary["not_written"].as_u64().unwrap());
    assert_eq!((accepted, not_written, summary["lost"].as_u64()), (60, 60, Some(0)), "{summary}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("0 readings written, 60 accepted but not written (60 in the spool, 0 lost)"), "{stderr}");
    assert!(stderr.contains("processed"), "the failed write is named: {stderr}");
    assert_eq!(std::fs::read_to_string(&spool).unwrap().lines().count(), 60, "every record as it was sent");

    // Once the lake can be written, the spool completes the run: every reading once.
    std::fs::remove_file(&year).unwrap();
    let resent = env.json(&["simulate", "--resend", spool.to_str().unwrap(), "--format", "json", "--quiet"]);
    assert_eq!((resent["accepted"].as_u64(), resent["failed"].as_u64()), (Some(60), Some(0)), "{resent}");
    assert_eq!(env.json(&["report", "--format", "json"]).as_array().unwrap().len(), 60);
}
