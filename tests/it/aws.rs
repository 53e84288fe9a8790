//! The AWS target against moto (started by each test). moto's CloudFormation skips
//! AWS::KinesisFirehose::DeliveryStream and AWS::S3::BucketPolicy (see DEVELOPERS.md), so the data-path test
//! creates the delivery stream directly with the template's settings.

use std::path::PathBuf;

use assert_cmd::Command;
use serde_json::Value;

use crate::moto::Moto;

struct AwsEnv {
    moto: Moto,
    dir: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
}

impl AwsEnv {
    fn start() -> AwsEnv {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        AwsEnv { moto: Moto::start(), dir: tempfile::tempdir().unwrap(), runtime }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_reaqtions"));
        cmd.current_dir(self.dir.path())
            .env_clear()
            .env("HOME", self.dir.path())
            .env("PATH", std::env::var("PATH").unwrap());
        for (k, v) in self.moto.env() {
            cmd.env(k, v);
        }
        cmd.args(args).timeout(std::time::Duration::from_secs(300));
        cmd
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().unwrap();
        assert!(out.status.success(), "reaqtions {args:?}: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }

    /// A deployable zip (moto's Lambda stores the code, it never runs it).
    fn zip(&self) -> PathBuf {
        let zip = reaqtions_lambda::package::package_bootstrap(b"\x7fELF stand-in bootstrap").unwrap();
        let path = self.dir.path().join("bootstrap.zip");
        std::fs::write(&path, zip.bytes).unwrap();
        path
    }

    fn s3(&self) -> aws_sdk_s3::Client {
        let config =
            aws_sdk_s3::config::Builder::from(&self.moto.sdk_config(&self.runtime)).force_path_style(true).build();
        aws_sdk_s3::Client::from_conf(config)
    }

    fn buckets(&self) -> Vec<String> {
        let out = self.runtime.block_on(self.s3().list_buckets().send()).unwrap();
        out.buckets().iter().filter_map(|b| b.name().map(str::to_owned)).collect()
    }
}

const RAW: &str = "reaqtions-iot-data-lake-raw-123456789012-us-east-1";

#[test]
fn deploy_status_teardown_against_moto() {
    let env = AwsEnv::start();
    let zip = env.zip();
    let zip = zip.to_str().unwrap();
    let first = env.json(&["deploy", "--lambda-zip", zip, "--output", "json"]);
    assert_eq!(first["pipeline_change"], "created");
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
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    let groups =
        env.runtime.block_on(logs.describe_log_groups().log_group_name_prefix("/aws/lambda/reaqtions").send()).unwrap();
    assert_eq!(groups.log_groups()[0].retention_in_days(), Some(14));
    assert!(env.buckets().contains(&RAW.to_owned()));

    // Again: nothing to upload, nothing to update.
    let started = std::time::Instant::now();
    let second = env.json(&["deploy", "--lambda-zip", zip, "--no-smoke", "--output", "json"]);
    eprintln!("second deploy against moto: {:?}", started.elapsed());
    assert_eq!(second["code_uploaded"], false);
    assert_eq!(second["pipeline_change"], "up to date");
    assert_eq!(second["artifacts_change"], "up to date");

    let status = env.json(&["status", "--output", "json"]);
    assert_eq!(status["stack_status"], "CREATE_COMPLETE");
    assert_eq!(status["function"]["runtime"], "provided.al2023");
    assert_eq!(status["processed_objects"], "0");

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
    assert_eq!(kept.key_count(), Some(1));
    let again = env.cmd(&["teardown", "--yes"]).output().unwrap();
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing to remove"));

    // --delete-data leaves nothing.
    env.ok(&["deploy", "--lambda-zip", zip, "--no-smoke"]);
    let out = env.ok(&["teardown", "--yes", "--delete-data"]);
    assert!(out.contains(&format!("deleted bucket {RAW}")), "{out}");
    assert!(env.buckets().is_empty(), "{:?}", env.buckets());
    assert_eq!(env.json(&["status", "--output", "json"])["stack_status"], "not deployed");
}

#[test]
fn deploy_dry_run_changes_nothing() {
    let env = AwsEnv::start();
    let zip = env.zip();
    let out =
        env.cmd(&["deploy", "--lambda-zip", zip.to_str().unwrap(), "--dry-run", "--output", "json"]).output().unwrap();
    assert!(out.status.success());
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(plan["pipeline_stack"].as_str().unwrap().contains("would be created"));
    assert!(env.buckets().is_empty());
}

#[test]
fn missing_credentials_fail_fast_without_secrets() {
    let env = AwsEnv::start();
    let started = std::time::Instant::now();
    let out =
        env.cmd(&["status"]).env_remove("AWS_ACCESS_KEY_ID").env_remove("AWS_SECRET_ACCESS_KEY").output().unwrap();
    // status does not need the account; deploy checks the credentials first.
    let deploy = env
        .cmd(&["deploy", "--lambda-zip", "nope.zip"])
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
    let _ = out;
}
