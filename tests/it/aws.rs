//! The AWS target against moto (started by each test). moto's CloudFormation skips
//! AWS::KinesisFirehose::DeliveryStream and AWS::S3::BucketPolicy, and deletes an empty bucket with its stack
//! whatever its deletion policy, so the data-path tests create the delivery stream directly with the template's
//! settings and keep an object in a bucket that teardown must keep.

use serde_json::Value;

use crate::{AwsEnv, RAW, create_stream, keys_in_bucket};

#[test]
fn deploy_status_teardown_against_moto() {
    let env = AwsEnv::start();
    let zip = env.zip();
    let zip = zip.to_str().unwrap();
    let first = env.json(&["deploy", "--lambda-zip", zip, "--format", "json"]);
    assert_eq!(first["change"], "created");
    assert_eq!(first["artifacts_change"], "created");
    assert_eq!(first["code_uploaded"], true);
    assert_eq!(first["bucket"], RAW);
    assert_eq!(first["stream"], "reaqtions-iot-data-stream");
    assert_eq!(first["function"], "reaqtions-data-transformation");
    assert!(first["smoke_test"].as_str().unwrap().starts_with("not run"), "moto cannot run code: {first}");

    // What the stack created.
    let config = env.moto.sdk_config(&env.runtime);
    let cfn = aws_sdk_cloudformation::Client::new(&config);
    let resources = env.runtime.block_on(cfn.list_stack_resources().stack_name("reaqtions").send()).unwrap();
    let mut logical: Vec<&str> =
        resources.stack_resource_summaries().iter().filter_map(|r| r.logical_resource_id()).collect();
    logical.sort_unstable();
    for expected in ["DeliveryLogGroup", "FirehoseRole", "Function", "FunctionLogGroup", "FunctionRole", "RawBucket"] {
        assert!(logical.contains(&expected), "{expected} missing from {logical:?}");
    }
    assert!(!logical.contains(&"AlarmKey"), "the alarm topic has no key of its own");
    for expected in ["AlarmTopic", "Dashboard"] {
        assert!(logical.contains(&expected), "{expected} missing from {logical:?}");
    }
    let dashboard =
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards:name=reaqtions-us-east-1";
    assert_eq!(first["dashboard"], dashboard, "{first}");
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    let groups =
        env.runtime.block_on(logs.describe_log_groups().log_group_name_prefix("/aws/lambda/reaqtions").send()).unwrap();
    assert_eq!(groups.log_groups()[0].retention_in_days(), Some(14));
    assert!(env.buckets().contains(&RAW.to_owned()));

    // Again: nothing to upload, nothing to update.
    let started = std::time::Instant::now();
    let second = env.json(&["deploy", "--lambda-zip", zip, "--no-smoke", "--format", "json"]);
    eprintln!("second deploy against moto: {:?}", started.elapsed());
    assert_eq!(second["code_uploaded"], false);
    assert_eq!(second["change"], "up to date");
    assert_eq!(second["artifacts_change"], "up to date");

    let status = env.json(&["status", "--format", "json"]);
    assert_eq!(status["status"], "CREATE_COMPLETE");
    assert_eq!(status["function_code"]["runtime"], "provided.al2023");
    assert_eq!(status["processed_objects"], 0);
    assert_eq!(status["counts_capped"], false);
    assert_eq!(status["dashboard"], dashboard, "{status}");

    // A script written against one target works against the other: the shared keys, with the same types.
    let local = crate::Env::default();
    let local_deploy = local.json(&["deploy", "--format", "json"]);
    let local_status = local.json(&["status", "--format", "json"]);
    let shared = ["target", "stack", "stream", "bucket", "function", "log_group", "prefix", "error_prefix"];
    let kind = |v: &Value| match v {
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Null => "missing",
        _ => "other",
    };
    assert!(first.as_object().unwrap().contains_key("stream_version"), "deploy names the stream's version: {first}");
    assert!(local_deploy["stream_version"].is_number(), "{local_deploy}");
    for key in shared.iter().chain(&["change"]) {
        assert_eq!(kind(&first[key]), "string", "deploy {key} on AWS: {first}");
        assert_eq!(kind(&local_deploy[key]), "string", "deploy {key} locally: {local_deploy}");
    }
    // Buffering is structured on both targets, the same shape.
    for key in ["buffering", "processor_buffering"] {
        let shape = |v: &Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>());
        assert_eq!(shape(&first[key]), shape(&local_deploy[key]), "deploy {key}: {first} vs {local_deploy}");
        assert!(shape(&first[key]).is_some(), "{key}: {first}");
    }
    let status_keys =
        ["status", "processed_objects", "error_objects", "processed_bytes", "error_bytes", "counts_capped"];
    for key in shared.iter().chain(&status_keys).chain(&["created", "updated", "settings"]) {
        assert_ne!(kind(&status[key]), "missing", "status {key} on AWS: {status}");
        assert_eq!(kind(&status[key]), kind(&local_status[key]), "status {key}: {status} vs {local_status}");
    }
    assert_eq!((first["target"].as_str(), local_deploy["target"].as_str()), (Some("aws"), Some("local")));

    // Data in the lake outlives the pipeline.
    env.runtime
        .block_on(env.s3().put_object().bucket(RAW).key("processed/x.json").body(b"{}\n".to_vec().into()).send())
        .unwrap();
    let refused = env.cmd(&["teardown"]).output().unwrap();
    assert!(!refused.status.success(), "no terminal, no --yes: refused");
    let out = env.ok(&["teardown", "--yes"]);
    assert!(out.contains(&format!("kept bucket {RAW}")), "{out}");
    let buckets = env.buckets();
    assert_eq!(buckets, [RAW.to_owned()], "artifacts bucket removed, raw bucket kept");
    let kept = env.runtime.block_on(env.s3().list_objects_v2().bucket(RAW).send()).unwrap();
    let keys: Vec<&str> = kept.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["processed/_reaqtions_layout", "processed/x.json"], "the readings and the layout's record");
    // The kept bucket is shown, named by a second teardown, and deleted only with --delete-data.
    assert_eq!(env.json(&["status", "--format", "json"])["kept_buckets"], serde_json::json!([RAW]));
    let again = env.cmd(&["teardown", "--yes"]).output().unwrap();
    assert!(again.status.success());
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(said.contains("nothing to remove") && said.contains(RAW) && said.contains("--delete-data"), "{said}");
    let unconfirmed = env.cmd(&["teardown", "--delete-data"]).output().unwrap();
    assert!(!unconfirmed.status.success(), "no terminal, no --yes: refused");
    assert_eq!(env.buckets(), [RAW.to_owned()]);
    let out = env.ok(&["teardown", "--yes", "--delete-data"]);
    assert!(out.contains(&format!("deleted bucket {RAW} kept by an earlier teardown")), "{out}");
    assert!(env.buckets().is_empty(), "{:?}", env.buckets());

    // Deployed again (a new bucket, with data: moto deletes an empty one with the stack, whatever its deletion
    // policy), then --delete-data with the stacks leaves nothing.
    env.ok(&["deploy", "--lambda-zip", zip, "--no-smoke"]);
    env.put(RAW, "processed/y.json");
    let out = env.ok(&["teardown", "--yes", "--delete-data"]);
    assert!(out.contains(&format!("deleted bucket {RAW}")), "{out}");
    assert!(env.buckets().is_empty(), "{:?}", env.buckets());
    assert_eq!(env.json(&["status", "--format", "json"])["status"], "not deployed");
    let nothing = env.cmd(&["teardown", "--yes", "--delete-data"]).output().unwrap();
    assert!(String::from_utf8_lossy(&nothing.stderr).contains("no kept bucket"));
}

/// A custom bucket the stack created is found again by its tag after teardown kept it.
#[test]
fn a_kept_custom_bucket_is_found_by_its_tag() {
    let env = AwsEnv::start();
    let zip = env.zip();
    env.ok(&["deploy", "--lambda-zip", zip.to_str().unwrap(), "--no-smoke", "--bucket", "lab-lake"]);
    env.put("lab-lake", "processed/x.json");
    env.ok(&["teardown", "--yes"]);
    assert_eq!(env.json(&["status", "--format", "json"])["kept_buckets"], serde_json::json!(["lab-lake"]));
    let out = env.ok(&["teardown", "--yes", "--delete-data"]);
    assert!(out.contains("deleted bucket lab-lake"), "{out}");
    assert!(env.buckets().is_empty());
}

/// A bucket given with --bucket that exists is reported, used as it is, and never changed.
#[test]
fn a_reused_bucket_is_reported_and_left_as_it_is() {
    let env = AwsEnv::start();
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Mine","Effect":"Deny","Principal":"*","Action":"s3:DeleteBucket","Resource":"arn:aws:s3:::shared-lake"}]}"#;
    env.runtime.block_on(env.s3().create_bucket().bucket("shared-lake").send()).unwrap();
    env.runtime.block_on(env.s3().put_bucket_policy().bucket("shared-lake").policy(policy).send()).unwrap();
    let zip = env.zip();
    let out = env
        .cmd(&["deploy", "--lambda-zip", zip.to_str().unwrap(), "--no-smoke", "--bucket", "shared-lake"])
        .args(["--expire-errors-after-days", "90", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bucket shared-lake exists"), "{stderr}");
    assert!(stderr.contains("lifecycle settings not applied: bucket shared-lake is not this stack's"), "{stderr}");
    // moto answers GetBucketVersioning with a root element the SDK does not read: a warning either way.
    assert!(stderr.contains("warning: bucket shared-lake: it has no public access block"), "{stderr}");
    assert!(stderr.contains("warning: bucket shared-lake: its versioning") || stderr.contains("versioning is off"));
    assert!(stderr.contains("warning: bucket shared-lake: its policy (kept as it is) does not deny"), "{stderr}");
    let deployed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(deployed["raw_bucket"], "reused (not managed by the stack)");
    let kept = env.runtime.block_on(env.s3().get_bucket_policy().bucket("shared-lake").send()).unwrap();
    assert!(kept.policy().unwrap().contains("\"Mine\""), "the bucket's own policy is untouched");
    env.ok(&["teardown", "--yes"]);
    let kept = env.runtime.block_on(env.s3().get_bucket_policy().bucket("shared-lake").send()).unwrap();
    assert!(kept.policy().unwrap().contains("\"Mine\""), "teardown leaves it too");
}

/// Bad settings fail before any AWS call, with exit 2 and the value named.
#[test]
fn bad_settings_fail_before_any_aws_call() {
    let env = AwsEnv::start();
    let zip = env.zip();
    let zip = zip.to_str().unwrap();
    for (args, needle) in [
        (vec!["--bucket", "my..lake"], "adjacent periods"),
        (vec!["--bucket", "xn--lake"], "\"xn--\" is reserved"),
        (vec!["--bucket", "lake--x-s3"], "\"--x-s3\" is reserved"),
        (vec!["--log-retention-days", "10"], "log retention 10 days"),
        (vec!["--processor-buffer-size-mb", "5"], "processor buffer size 5 MB"),
        (vec!["--stack", "a-very-long-stack-name-for-this"], "longer than S3's 63 characters"),
    ] {
        let out = env.cmd(&["deploy", "--lambda-zip", zip]).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stderr).contains(needle), "{args:?}");
    }
    assert!(env.buckets().is_empty(), "nothing was created");
}

/// deploy builds the Lambda itself and finds the binary where cargo put it, CARGO_TARGET_DIR included.
#[test]
fn deploy_builds_the_lambda_into_cargo_target_dir() {
    let env = AwsEnv::start();
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/it-cargo-target-dir");
    // The cleared environment of every test, with cargo and rustup as the one running the tests has them.
    let mut cmd = assert_cmd::Command::from_std(crate::fixture::reaqtions(env.dir.path()));
    let home = std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME"));
    for (name, default) in [("CARGO_HOME", home.join(".cargo")), ("RUSTUP_HOME", home.join(".rustup"))] {
        cmd.env(name, std::env::var_os(name).map_or(default, Into::into));
    }
    if let Some(toolchain) = std::env::var_os("RUSTUP_TOOLCHAIN") {
        cmd.env("RUSTUP_TOOLCHAIN", toolchain);
    }
    for (k, v) in env.moto.env() {
        cmd.env(k, v);
    }
    let out = cmd
        .args(["deploy", "--no-smoke", "--format", "json"])
        .env("CARGO_TARGET_DIR", &target)
        // A test never installs or updates a toolchain.
        .env("RUSTUP_AUTO_INSTALL", "0")
        .timeout(std::time::Duration::from_secs(900))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let binary = std::fs::read(target.join("lambda/bootstrap")).expect("built into CARGO_TARGET_DIR");
    let zip = reaqtions_lambda::package::package_bootstrap(&binary).unwrap();
    assert_eq!(plan["code_key"], zip.artifact_key(), "the zip of the binary cargo built there");
}

#[test]
fn deploy_dry_run_changes_nothing() {
    let env = AwsEnv::start();
    let zip = env.zip();
    let out =
        env.cmd(&["deploy", "--lambda-zip", zip.to_str().unwrap(), "--dry-run", "--format", "json"]).output().unwrap();
    assert!(out.status.success());
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(plan["pipeline_stack"].as_str().unwrap().contains("would be created"));
    assert!(env.buckets().is_empty());
}

#[test]
fn missing_credentials_fail_fast_without_secrets() {
    let env = AwsEnv::start();
    let started = std::time::Instant::now();
    // status signs its first call (the stack's description) and stops there: exit 6, the stack named, and where
    // credentials come from.
    let status =
        env.cmd(&["status"]).env_remove("AWS_ACCESS_KEY_ID").env_remove("AWS_SECRET_ACCESS_KEY").output().unwrap();
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert_eq!(status.status.code(), Some(6), "{stderr}");
    assert!(stderr.contains("cannot describe stack reaqtions: no usable AWS credentials"), "{stderr}");
    assert!(stderr.contains("aws configure") && stderr.contains("AWS_ACCESS_KEY_ID"), "{stderr}");
    assert!(status.stdout.is_empty(), "no status shown: {}", String::from_utf8_lossy(&status.stdout));
    // deploy checks the credentials before anything else.
    let zip = env.zip();
    let deploy = env
        .cmd(&["deploy", "--lambda-zip", zip.to_str().unwrap()])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .unwrap();
    assert!(!deploy.status.success());
    let stderr = String::from_utf8_lossy(&deploy.stderr);
    assert!(stderr.contains("cannot use the AWS credentials"), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "took {:?}", started.elapsed());
    let with_secret =
        env.cmd(&["deploy", "--lambda-zip", "nope.zip"]).env("AWS_SECRET_ACCESS_KEY", "s3cr3t-k3y").output().unwrap();
    let text = String::from_utf8_lossy(&with_secret.stderr) + String::from_utf8_lossy(&with_secret.stdout);
    assert!(text.contains("nope.zip"), "{text}");
    assert!(!text.contains("s3cr3t-k3y"));
}

#[test]
fn simulate_verify_report_logs_against_moto() {
    let env = AwsEnv::deployed();
    let summary = env.json(&[
        "simulate",
        "--devices",
        "5",
        "--rate",
        "100",
        "--count",
        "40",
        "--malformed-ratio",
        "0.1",
        "--verify",
        "--verify-timeout",
        "60s",
        "--format",
        "json",
        "--quiet",
    ]);
    assert_eq!(summary["sent"], 200);
    assert_eq!(summary["accepted"], 200);
    let verify = &summary["verify"];
    assert_eq!(verify["missing"], 0, "{summary}");
    assert_eq!(verify["duplicated"], 0);
    // moto never runs the transform: the raw readings, malformed ones included, land under the literal prefix.
    assert_eq!(verify["delivered"], 200);
    assert_eq!(verify["malformed_delivered"], summary["malformed_sent"]);
    let malformed = summary["malformed_sent"].as_u64().unwrap();

    // report: every well-formed reading exactly once; the malformed lines make the report partial (exit 3).
    let out = env.cmd(&["report", "--format", "csv"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let mut reader = csv::Reader::from_reader(&out.stdout[..]);
    let header = reader.headers().unwrap().clone();
    let (device, seq) =
        (header.iter().position(|h| h == "device_id").unwrap(), header.iter().position(|h| h == "seq").unwrap());
    let mut rows: Vec<(String, u64)> =
        reader.records().map(|r| r.unwrap()).map(|r| (r[device].to_owned(), r[seq].parse().unwrap())).collect();
    rows.sort();
    let before = rows.len();
    rows.dedup();
    assert_eq!(rows.len(), before, "no reading twice");
    // Two malformed kinds (a measure that is a string, a bad TIME) are still JSON objects: rows like any other.
    let objects = (0..malformed).filter(|i| matches!(i % 6, 2 | 3)).count() as u64;
    assert_eq!(rows.len() as u64, 200 - malformed + objects);
    let summary_rows: Vec<Value> =
        serde_json::from_slice(&env.cmd(&["report", "--summary", "--format", "json"]).output().unwrap().stdout)
            .unwrap();
    assert_eq!(summary_rows.len(), 5);

    let logs = env.cmd(&["logs", "--since", "1h"]).output().unwrap();
    assert!(logs.status.success(), "{}", String::from_utf8_lossy(&logs.stderr));
}

#[test]
fn a_pipeline_built_by_other_means_is_driven_by_name() {
    let env = AwsEnv::start();
    let bucket = "reaqtions-iot-data-lake-raw";
    env.runtime.block_on(env.s3().create_bucket().bucket(bucket).send()).unwrap();
    create_stream(&env, "reaqtions-iot-data-stream", bucket);
    let pipeline = ["--stream", "reaqtions-iot-data-stream", "--bucket", bucket];
    let mut args =
        vec!["simulate", "--devices", "2", "--count", "10", "--rate", "50", "--verify", "--format", "json", "--quiet"];
    args.extend(pipeline);
    let summary = env.json(&args);
    assert_eq!(summary["verify"]["missing"], 0, "{summary}");
    assert_eq!(keys_in_bucket(&env, bucket).len(), 20);
    let report = env.ok(&["report", "--format", "ndjson", "--bucket", bucket]);
    assert_eq!(report.lines().count(), 20);
    let missing = env.cmd(&["report"]).output().unwrap();
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--stream/--bucket"), "names the way out");
}

/// Queues what moto's Athena answers for the next query (moto runs no SQL): a header row, then `rows`.
fn queue_athena_result(env: &AwsEnv, columns: &[(&str, &str)], rows: &[Vec<Option<String>>]) {
    let header: Vec<Value> = columns.iter().map(|(name, _)| serde_json::json!({"VarCharValue": name})).collect();
    let mut all = vec![serde_json::json!({"Data": header})];
    for row in rows {
        let data: Vec<Value> = row
            .iter()
            .map(|v| v.as_ref().map_or(serde_json::json!({}), |v| serde_json::json!({"VarCharValue": v})))
            .collect();
        all.push(serde_json::json!({"Data": data}));
    }
    let info: Vec<Value> = columns
        .iter()
        .map(|(name, kind)| serde_json::json!({"CatalogName": "awsdatacatalog", "Name": name, "Label": name, "Type": kind, "Nullable": "NULLABLE", "CaseSensitive": false, "Precision": 0, "Scale": 0}))
        .collect();
    let body = serde_json::json!({"region": "us-east-1", "results": [{"rows": all, "column_info": info}]});
    let host = env.moto.url.trim_start_matches("http://").to_owned();
    let body = body.to_string();
    let mut stream = std::net::TcpStream::connect(&host).unwrap();
    let request = format!(
        "POST /moto-api/static/athena/query-results HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    std::io::Write::write_all(&mut stream, request.as_bytes()).unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
}

#[test]
fn report_with_the_athena_engine_against_moto() {
    let env = AwsEnv::start();
    let zip = env.zip();
    env.ok(&["deploy", "--lambda-zip", zip.to_str().unwrap(), "--no-smoke"]);
    // What moto's CloudFormation skips: the workgroup, created here as the template does.
    let athena = aws_sdk_athena::Client::new(&env.moto.sdk_config(&env.runtime));
    env.runtime.block_on(athena.create_work_group().name("reaqtions").send()).unwrap();
    let columns: Vec<(&str, &str)> = vec![
        ("device_id", "varchar"),
        ("seq", "bigint"),
        ("time", "varchar"),
        ("pm2_5", "double"),
        ("eco2", "double"),
        ("_firehose_arrival", "varchar"),
        ("_reading_time", "varchar"),
    ];
    // More than one result page's worth of rows (1,000), typed, with missing fields as NULL.
    let rows: Vec<Vec<Option<String>>> = (1..=1500)
        .map(|i| {
            vec![
                Some(format!("aq-{:04}", i % 7)),
                Some(i.to_string()),
                Some("2026-11-25T21:00:00.000001Z".into()),
                (i % 10 != 0).then(|| format!("{}.5", i % 40)),
                Some("612.0".into()),
                Some("2026-11-25T21:00:01.123Z".into()),
                Some("2026-11-25T21:00:00.000Z".into()),
            ]
        })
        .collect();
    queue_athena_result(&env, &columns, &rows);
    let out = env
        .cmd(&["report", "--engine", "athena", "--format", "ndjson", "--device", "aq-0001", "--since", "2h"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1500, "every row, the header left out");
    assert_eq!(lines[0]["seq"], 1, "bigint as a number");
    assert_eq!(lines[0]["PM2_5"], 1.5, "the readings' own names, doubles as numbers");
    assert_eq!(lines[0]["eCO2"], 612.0);
    assert!(lines[9].get("PM2_5").is_none(), "a NULL is a field the reading did not have: {}", lines[9]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("1500 rows from Athena query") && stderr.contains("scanned"), "{stderr}");

    // The report page from Athena's rows: every device's PM2.5 (one bucket: one TIME), error/ counted from S3.
    queue_athena_result(&env, &columns, &rows[..30]);
    let page = env.ok(&["report", "--engine", "athena", "--format", "html", "--since", "2h"]);
    for device in (0..7).map(|d| format!("aq-{d:04}")) {
        assert!(page.contains(&format!(r#"data-device="{device}" data-measure="PM2_5" data-points="1""#)), "{device}");
    }
    assert!(page.contains("Source: Athena, table") && page.contains("No failed records in the window"));

    // The summary through SQL, and a query of the user's.
    let summary_columns = [
        ("device_id", "varchar"),
        ("readings", "bigint"),
        ("first_time", "varchar"),
        ("last_time", "varchar"),
        ("pm2_5_mean", "double"),
        ("pm2_5_max", "double"),
        ("pm10_mean", "double"),
        ("pm10_max", "double"),
        ("aqi_max", "double"),
        ("pm2_5_day_mean", "double"),
    ];
    let row = |s: &str| Some(s.to_owned());
    queue_athena_result(
        &env,
        &summary_columns,
        &[vec![
            row("aq-0001"),
            row("3"),
            row("t1"),
            row("t3"),
            row("12.5"),
            row("20.0"),
            None,
            None,
            row("71.0"),
            row("20.0"),
        ]],
    );
    let out = env.cmd(&["report", "--engine", "athena", "--summary", "--format", "json"]).output().unwrap();
    let summary: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no --since and no processed objects"), "the bound is stated: {stderr}");
    assert_eq!(summary[0]["AQI_max"], 71);
    assert_eq!(summary[0]["AQI_category"], "Moderate");
    assert_eq!(summary[0]["PM2_5_mean"], 12.5);
    // Without --since a query is still bounded by partitions: from the hour of the lake's oldest object.
    env.put(RAW, "processed/year=2026/month=11/day=20/hour=13/reaqtions-iot-data-stream-1-2026-11-20-13-00-00-x");
    queue_athena_result(
        &env,
        &summary_columns,
        &[vec![row("aq-0001"), row("1"), None, None, None, None, None, None, None, None]],
    );
    let out = env.cmd(&["report", "--engine", "athena", "--summary", "--format", "json"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.contains("partitions from 2026-11-20T13:00Z (the lake's oldest object)"),
        "{stderr}"
    );
    let queries = env.athena_queries(&athena);
    let bounded =
        queries.iter().find(|q| q.contains("day = 20 AND hour BETWEEN 13 AND 23")).expect("the bounded query");
    assert!(bounded.contains("(year = 2026 AND month = 11 AND day = 21)"), "whole days grouped: {bounded}");
    for q in queries.iter().filter(|q| q.contains("pm2_5_mean")) {
        assert!(q.contains("WHERE ((year = "), "every summary query is bounded: {q}");
    }

    queue_athena_result(&env, &[("n", "bigint")], &[vec![row("42")]]);
    let sql = env.ok(&["report", "--sql", "SELECT count(*) AS n FROM readings", "--format", "csv"]);
    assert_eq!(sql.lines().collect::<Vec<_>>(), ["n", "42"]);

    // The local target has only the scan engine.
    let local = crate::Env::default();
    local.ok(&["deploy"]);
    let refused = local.cmd(&["report", "--engine", "athena"]).output().unwrap();
    assert_eq!(refused.status.code(), Some(2));
}

/// The architecture setting and the binary must agree; arm64 reaches the template as the function's.
#[test]
fn deploy_arm64_takes_a_graviton_binary_and_refuses_a_mismatch() {
    let env = AwsEnv::start();
    let arm = env.zip_for("arm64");
    let arm = arm.to_str().unwrap();
    let plan = env.json(&["deploy", "--architecture", "arm64", "--lambda-zip", arm, "--dry-run", "--format", "json"]);
    let parameters: Vec<(String, String)> = serde_json::from_value(plan["parameters"].clone()).unwrap();
    assert!(parameters.contains(&("Architecture".into(), "arm64".into())), "{plan}");
    let mismatch = env.cmd(&["deploy", "--lambda-zip", arm, "--dry-run"]).output().unwrap();
    assert_eq!(mismatch.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&mismatch.stderr).contains("built for arm64, but the architecture setting is x86_64")
    );
}
