//! The test fixtures: one way to run the CLI on either target ([`Cli`]: [`Env`] for the local target in a temporary
//! directory, [`AwsEnv`] against a moto server the test starts and stops), the steps most tests open with
//! (a deployable zip, a delivery stream moto's CloudFormation skips: [`AwsEnv::deployed`]), the local lake as
//! `status` names it ([`Lake`]), an MQTT [`Subscriber`] handed back once subscribed, and [`on_both`] to run one
//! scenario on each.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

use crate::moto::Moto;

/// Running `reaqtions` against one target: the same calls on both.
pub(crate) trait Cli {
    /// The command with the target's flags and environment, and `args`.
    fn cmd(&self, args: &[&str]) -> Command;
    /// Which target: `local` or `aws`.
    fn target(&self) -> &'static str;

    /// Runs and returns stdout, asserting success.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().expect("run reaqtions");
        assert!(
            out.status.success(),
            "reaqtions {args:?} failed on {} with {}:\n{}",
            self.target(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
    }

    /// Deploys with `args` added: locally as it is, against moto with a deployable zip and no smoke test.
    fn deploy(&self, args: &[&str]) -> Value;

    /// Puts `body` under `key` in the deployment's raw bucket, where Firehose would file it (a lake a test lays
    /// out itself).
    fn place(&self, key: &str, body: &[u8]);
}

/// One scenario on the local target, then against moto, from the same test body.
pub(crate) fn on_both(scenario: impl Fn(&dyn Cli)) {
    scenario(&Env::default());
    scenario(&AwsEnv::start());
}

/// Whoever runs the tests may have set these; a child process gets them and nothing else of theirs.
const KEPT: [&str; 4] = ["PATH", "LANG", "LC_ALL", "TMPDIR"];

/// `reaqtions` as every test runs it: in `dir`, from the [`isolated`] environment.
pub(crate) fn reaqtions(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_reaqtions"));
    isolated(&mut cmd, dir);
    cmd
}

/// `cmd` run in `dir` from a cleared environment: nothing of whoever runs the tests leaks in (their
/// `REAQTIONS_*`, the SDK's `AWS_*`, their `~/.aws` through HOME); only what a process needs ([`KEPT`]), HOME in
/// the test's own directory and no instance metadata (IMDS is not on loopback). A test sets only what it means
/// on top.
pub(crate) fn isolated<'a>(cmd: &'a mut std::process::Command, dir: &Path) -> &'a mut std::process::Command {
    cmd.current_dir(dir).env_clear().env("HOME", dir).env("AWS_EC2_METADATA_DISABLED", "true");
    for name in KEPT {
        if let Some(value) = std::env::var_os(name) {
            cmd.env(name, value);
        }
    }
    cmd
}

/// [`reaqtions`] on the local target with the data directory of `env`: `reaqtions --local --data-dir <tmp>/data`.
pub(crate) fn local(env: &Env) -> std::process::Command {
    let mut cmd = reaqtions(env.dir.path());
    cmd.arg("--local").arg("--data-dir").arg(env.data_dir());
    cmd
}

/// A temporary data directory and a way to run the CLI against it.
pub(crate) struct Env {
    pub dir: tempfile::TempDir,
}

impl Default for Env {
    fn default() -> Env {
        Env { dir: tempfile::tempdir().expect("temp dir") }
    }
}

impl Cli for Env {
    /// `reaqtions --local --data-dir <tmp>/data <args>`, run in the temp dir.
    fn cmd(&self, args: &[&str]) -> Command {
        Env::cmd(self, args)
    }

    fn target(&self) -> &'static str {
        "local"
    }

    fn deploy(&self, args: &[&str]) -> Value {
        self.json(&[&["deploy", "--format", "json"], args].concat())
    }

    fn place(&self, key: &str, body: &[u8]) {
        let path = self.data_dir().join("lake").join("reaqtions-iot-data-lake-raw").join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
}

impl Env {
    /// Ten readings from two devices, half of them malformed on purpose (the same every time): the function logs
    /// a summary line and a failure line per refused record.
    pub(crate) fn send_some_refused(&self) {
        let fleet = ["--devices", "2", "--count", "5", "--rate", "1000"];
        self.ok(&[&["simulate"], &fleet[..], &["--malformed-ratio", "0.5", "--seed", "7", "--quiet"]].concat());
    }

    pub(crate) fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `reaqtions --local --data-dir <tmp>/data <args>`, run in the temp dir.
    pub(crate) fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::from_std(local(self));
        cmd.args(args);
        cmd
    }

    /// Runs and returns stdout, asserting success.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().expect("run reaqtions");
        assert!(
            out.status.success(),
            "reaqtions {args:?} failed with {}:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    pub(crate) fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
    }

    /// Every object of the deployed bucket but deploy's layout marker: (key, content), gunzipped when it is gzip
    /// (the default). Fails the test when nothing is deployed or the bucket's directory is missing.
    pub(crate) fn objects(&self) -> Vec<(String, Vec<u8>)> {
        self.lake().objects()
    }

    /// The deployed pipeline's raw bucket, as `status` names it: kept by a test that looks at it after teardown.
    pub(crate) fn lake(&self) -> Lake {
        let status = self.json(&["status", "--format", "json"]);
        let (Some(path), Some(prefix)) = (status["bucket_path"].as_str(), status["settings"]["prefix"].as_str()) else {
            panic!("no bucket to read in {}: status shows no deployment:\n{status:#}", self.data_dir().display())
        };
        // Deploy writes the marker at the processed prefix's fixed root, before its first `!{…}` folder.
        let fixed = &prefix[..prefix.find("!{").unwrap_or(prefix.len())];
        let root = fixed.rfind('/').map_or("", |end| &fixed[..=end]);
        Lake { dir: self.dir.path().join(path), marker: format!("{root}_reaqtions_layout") }
    }
}

/// A local raw bucket: its directory and the key of deploy's layout marker in it.
pub(crate) struct Lake {
    pub(crate) dir: PathBuf,
    marker: String,
}

impl Lake {
    /// Every object but the layout marker, sorted by key: (key, content), gunzipped when it is gzip. Fails the test
    /// when the bucket's directory is missing, so that "nothing was written" cannot pass on a lake never looked at.
    pub(crate) fn objects(&self) -> Vec<(String, Vec<u8>)> {
        assert!(self.dir.is_dir(), "the bucket's directory {} does not exist", self.dir.display());
        let mut out = Vec::new();
        walk(&self.dir, &self.dir, &mut out);
        out.retain(|(key, _)| *key != self.marker);
        out.sort();
        out
    }
}

/// The objects under `dir`, keyed from `root`; the lake's staging folder (`.tmp`) holds no objects.
fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).map(Result::unwrap) {
        let path = entry.path();
        if path.is_dir() {
            if dir != root || entry.file_name() != ".tmp" {
                walk(root, &path, out);
            }
        } else {
            let key = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let content = reaqtions::compression::decoded(std::fs::read(&path).unwrap(), &key)
                .unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
            out.push((key, content));
        }
    }
}

pub(crate) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

pub(crate) struct AwsEnv {
    pub(crate) moto: Moto,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) runtime: tokio::runtime::Runtime,
}

impl AwsEnv {
    /// The SQL of every query moto's Athena was sent, in the order it lists them.
    pub(crate) fn athena_queries(&self, athena: &aws_sdk_athena::Client) -> Vec<String> {
        self.runtime.block_on(async {
            let ids = athena.list_query_executions().send().await.unwrap().query_execution_ids().to_vec();
            let mut texts = Vec::new();
            for id in ids {
                let q = athena.get_query_execution().query_execution_id(id).send().await.unwrap();
                texts.extend(q.query_execution().and_then(|e| e.query().map(str::to_owned)));
            }
            texts
        })
    }

    pub(crate) fn start() -> AwsEnv {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        AwsEnv { moto: Moto::start(), dir: tempfile::tempdir().unwrap(), runtime }
    }

    /// moto with the default pipeline deployed (a deployable zip, no smoke test) and its delivery stream, which
    /// moto's CloudFormation skips, made here: where a test that sends readings starts.
    pub(crate) fn deployed() -> AwsEnv {
        let env = AwsEnv::start();
        let deployed = env.deploy(&[]);
        let (Some(stream), Some(bucket)) = (deployed["stream"].as_str(), deployed["bucket"].as_str()) else {
            panic!("deploy names no stream or bucket:\n{deployed:#}")
        };
        create_stream(&env, stream, bucket);
        env
    }

    pub(crate) fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::from_std(reaqtions(self.dir.path()));
        for (k, v) in self.moto.env() {
            cmd.env(k, v);
        }
        cmd.args(args).timeout(std::time::Duration::from_secs(300));
        cmd
    }

    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().unwrap();
        assert!(out.status.success(), "reaqtions {args:?}: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    pub(crate) fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }

    /// A deployable zip (moto's Lambda stores the code, it never runs it).
    pub(crate) fn zip(&self) -> PathBuf {
        self.zip_for("x86_64")
    }

    /// A deployable zip whose bootstrap is an ELF header for `architecture` (e_machine 0x3E or 0xB7) and
    /// nothing else.
    pub(crate) fn zip_for(&self, architecture: &str) -> PathBuf {
        let machine: u16 = if architecture == "arm64" { 0xB7 } else { 0x3E };
        let mut binary = b"\x7fELF\x02\x01\x01".to_vec();
        binary.resize(18, 0);
        binary.extend_from_slice(&machine.to_le_bytes());
        binary.resize(64, 0);
        let zip = reaqtions_lambda::package::package_bootstrap(&binary).unwrap();
        let path = self.dir.path().join(format!("bootstrap-{architecture}.zip"));
        std::fs::write(&path, zip.bytes).unwrap();
        path
    }

    pub(crate) fn s3(&self) -> aws_sdk_s3::Client {
        let config =
            aws_sdk_s3::config::Builder::from(&self.moto.sdk_config(&self.runtime)).force_path_style(true).build();
        aws_sdk_s3::Client::from_conf(config)
    }

    pub(crate) fn put(&self, bucket: &str, key: &str) {
        let put = self.s3().put_object().bucket(bucket).key(key).body(b"{}\n".to_vec().into()).send();
        self.runtime.block_on(put).unwrap();
    }

    pub(crate) fn buckets(&self) -> Vec<String> {
        let out = self.runtime.block_on(self.s3().list_buckets().send()).unwrap();
        out.buckets().iter().filter_map(|b| b.name().map(str::to_owned)).collect()
    }
}

pub(crate) const RAW: &str = "reaqtions-iot-data-lake-raw-123456789012-us-east-1";

impl Cli for AwsEnv {
    fn cmd(&self, args: &[&str]) -> Command {
        AwsEnv::cmd(self, args)
    }

    fn target(&self) -> &'static str {
        "aws"
    }

    fn deploy(&self, args: &[&str]) -> Value {
        let arch = args.iter().position(|a| *a == "--architecture").map_or("x86_64", |i| args[i + 1]);
        let zip = self.zip_for(arch);
        let zip = zip.to_str().unwrap();
        self.json(&[&["deploy", "--lambda-zip", zip, "--no-smoke", "--format", "json"], args].concat())
    }

    fn place(&self, key: &str, body: &[u8]) {
        let put = self.s3().put_object().bucket(RAW).key(key).body(body.to_vec().into()).send();
        self.runtime.block_on(put).unwrap();
    }
}

/// What moto's CloudFormation skips: the delivery stream, created here with the template's settings.
pub(crate) fn create_stream(env: &AwsEnv, stream: &str, bucket: &str) {
    use aws_sdk_firehose::types::{BufferingHints, ExtendedS3DestinationConfiguration};
    let firehose = aws_sdk_firehose::Client::new(&env.moto.sdk_config(&env.runtime));
    let destination = ExtendedS3DestinationConfiguration::builder()
        .bucket_arn(format!("arn:aws:s3:::{bucket}"))
        .role_arn("arn:aws:iam::123456789012:role/reaqtions-firehose")
        .prefix(reaqtions::settings::DEFAULT_PREFIX)
        .error_output_prefix(reaqtions::settings::DEFAULT_ERROR_PREFIX)
        .buffering_hints(BufferingHints::builder().size_in_mbs(5).interval_in_seconds(60).build())
        .build()
        .unwrap();
    env.runtime
        .block_on(
            firehose
                .create_delivery_stream()
                .delivery_stream_name(stream)
                .delivery_stream_type(aws_sdk_firehose::types::DeliveryStreamType::DirectPut)
                .extended_s3_destination_configuration(destination)
                .send(),
        )
        .unwrap();
}

/// (device_id, seq) of every line in the bucket that parses as a reading.
pub(crate) fn keys_in_bucket(env: &AwsEnv, bucket: &str) -> Vec<(String, u64)> {
    let s3 = env.s3();
    let list = env.runtime.block_on(s3.list_objects_v2().bucket(bucket).prefix("processed/").send()).unwrap();
    let mut keys = Vec::new();
    for object in list.contents() {
        let body = env.runtime.block_on(s3.get_object().bucket(bucket).key(object.key().unwrap()).send()).unwrap();
        let bytes = env.runtime.block_on(body.body.collect()).unwrap().into_bytes();
        for line in bytes.split(|b| *b == b'\n') {
            if let Ok(v) = serde_json::from_slice::<Value>(line) {
                keys.push((v["device_id"].as_str().unwrap().to_owned(), v["seq"].as_u64().unwrap()));
            }
        }
    }
    keys.sort();
    keys
}

/// A loopback port nothing listens on now (for a server the test starts).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits until something accepts connections on the loopback `port`, failing the test after `timeout`.
pub(crate) fn wait_for_port(port: u16, timeout: std::time::Duration, what: &str) {
    let deadline = std::time::Instant::now() + timeout;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "{what} did not listen on port {port}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// `mosquitto_sub` run with its debug lines (`-d`), handed back once the broker has acknowledged its subscription
/// (SUBACK), so that whatever is published next reaches it; killed when dropped.
pub(crate) struct Subscriber {
    child: Reaped,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Subscriber {
    /// Starts `mosquitto_sub` with `args` (give it `-C <count>` and `-W <seconds>` so it ends by itself).
    pub(crate) fn start(args: &[&str]) -> Subscriber {
        use std::io::BufRead as _;
        use std::process::Stdio;
        // mosquitto_sub buffers its output when it is a pipe: stdbuf (coreutils) makes it hand on each line.
        let mut child = std::process::Command::new("stdbuf")
            .args(["-oL", "mosquitto_sub", "-d"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("stdbuf (coreutils) running mosquitto_sub (Debian's mosquitto-clients; scripts/check installs it)");
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut subscriber = Subscriber { child: Reaped::new(child), stdout };
        let mut said = String::new();
        loop {
            let mut line = String::new();
            if subscriber.stdout.read_line(&mut line).unwrap() == 0 {
                let out = subscriber.child.take().wait_with_output().unwrap();
                let stderr = String::from_utf8_lossy(&out.stderr);
                panic!(
                    "mosquitto_sub {args:?} ended ({}) before its subscription was acknowledged:\n{said}{stderr}",
                    out.status
                );
            }
            said.push_str(&line);
            if line.contains("received SUBACK") {
                return subscriber;
            }
        }
    }

    /// What it printed for the messages it received, a line each (its debug lines left out), once it has ended at
    /// its `-C` count or `-W` timeout.
    pub(crate) fn messages(mut self) -> String {
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut self.stdout, &mut rest).unwrap();
        self.child.take().wait().unwrap();
        let debug = |line: &&str| line.starts_with("Client ") || line.starts_with("Subscribed (mid:");
        rest.lines().filter(|line| !debug(line)).map(|line| format!("{line}\n")).collect()
    }
}

/// A process a test started: killed and reaped when the test lets go of it, also when the test panics, so every
/// server and client a test starts, the test stops. `take` hands it back to a test that stops it its own way.
pub(crate) struct Reaped(Option<std::process::Child>);

impl Reaped {
    pub(crate) fn new(child: std::process::Child) -> Reaped {
        Reaped(Some(child))
    }

    pub(crate) fn take(&mut self) -> std::process::Child {
        self.0.take().expect("the process was taken already")
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
