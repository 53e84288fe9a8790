//! Integration tests: the `reaqtions` binary driven end to end on the local target, in temporary directories.

mod aws;
mod aws_sending;
mod commands;
mod compression;
mod devices;
mod fault_proxy;
mod handler_permissions;
mod health;
mod html_report;
mod iam_eval;
mod iam_proxy;
mod monitoring;
mod moto;
mod mqtt;
mod mqtt_tls;
mod pipeline;
mod reprocess;
mod roles;
mod stack_scope;
mod templates;
mod tls;
mod upstream;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

/// A temporary data directory and a way to run the CLI against it.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Default for Env {
    fn default() -> Env {
        Env { dir: tempfile::tempdir().expect("temp dir") }
    }
}

impl Env {
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `reaqtions --local --data-dir <tmp>/data <args>`, run in the temp dir.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_reaqtions"));
        cmd.current_dir(self.dir.path())
            .env_remove("REAQTIONS_LOCAL")
            .env_remove("AWS_ENDPOINT_URL")
            .arg("--local")
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(args);
        cmd
    }

    /// Runs and returns stdout, asserting success.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().expect("run reaqtions");
        assert!(
            out.status.success(),
            "reaqtions {args:?} failed with {}:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
    }

    /// Every object of the local bucket: (key, content), gunzipped when it is gzip (the default).
    pub fn objects(&self) -> Vec<(String, Vec<u8>)> {
        let root = self.data_dir().join("lake").join("reaqtions-iot-data-lake-raw");
        let mut out = Vec::new();
        walk(&root, &root, &mut out);
        out.sort();
        out
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.map(Result::unwrap) {
        let path = entry.path();
        if path.is_dir() {
            walk(root, &path, out);
        } else {
            let key = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let content = reaqtions::compression::decoded(std::fs::read(&path).unwrap(), &key).unwrap();
            out.push((key, content));
        }
    }
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}
