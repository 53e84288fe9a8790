//! The transformation Lambda's deployment zip: a zip the user gives (`--lambda-zip`), or the lambda crate of
//! this source checkout built with the `lambda` profile and packaged. The build output is found where cargo
//! puts it (`cargo metadata`'s target directory, so `CARGO_TARGET_DIR` and `build.target-dir` are honoured).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};
use reaqtions_lambda::package::{LambdaZip, package_bootstrap, read_zip};

use crate::invalid;

/// The deployment zip: the given file, or the lambda crate built and packaged.
pub fn lambda_zip(file: Option<&Path>) -> Result<LambdaZip> {
    if let Some(file) = file {
        let bytes = std::fs::read(file).map_err(|e| invalid!("cannot read Lambda zip {}: {e}", file.display()))?;
        return read_zip(bytes)
            .with_context(|| format!("{} is not a Lambda zip with an executable bootstrap", file.display()));
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = workspace.join("Cargo.toml");
    if !workspace.join("lambda").join("Cargo.toml").exists() {
        return Err(invalid!(
            "no --lambda-zip, and no reaqtions source checkout at {} to build the Lambda from: build the zip as \
             README's \"Build the Lambda\" says and pass --lambda-zip FILE",
            workspace.display()
        ));
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("building the transformation Lambda (cargo build --profile lambda -p reaqtions-lambda)…");
    let status = Command::new(&cargo)
        .args(["build", "--profile", "lambda", "-p", "reaqtions-lambda", "--bin", "bootstrap", "--manifest-path"])
        .arg(&manifest)
        .status()
        .context("cannot run cargo to build the Lambda (or pass --lambda-zip FILE)")?;
    if !status.success() {
        bail!("building the Lambda failed ({status})");
    }
    let binary = bootstrap_path(&cargo, &manifest)?;
    let bytes = std::fs::read(&binary).with_context(|| {
        format!("cannot read the built Lambda {} (cargo said the build succeeded)", binary.display())
    })?;
    Ok(package_bootstrap(&bytes)?)
}

/// Where cargo wrote the `lambda` profile's bootstrap: `<target dir>[/<CARGO_BUILD_TARGET>]/lambda/bootstrap`.
fn bootstrap_path(cargo: &str, manifest: &Path) -> Result<PathBuf> {
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--manifest-path"])
        .arg(manifest)
        .output()
        .context("cannot run cargo metadata to find the build output")?;
    if !out.status.success() {
        bail!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("cargo metadata did not answer JSON")?;
    let target_dir = metadata["target_directory"].as_str().context("cargo metadata names no target_directory")?;
    Ok(profile_output(Path::new(target_dir), std::env::var("CARGO_BUILD_TARGET").ok().as_deref()))
}

fn profile_output(target_dir: &Path, triple: Option<&str>) -> PathBuf {
    let mut path = target_dir.to_path_buf();
    if let Some(triple) = triple.filter(|t| !t.is_empty()) {
        path.push(triple);
    }
    path.join("lambda").join("bootstrap")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_output_follows_the_target_dir_and_triple() {
        assert_eq!(profile_output(Path::new("/t"), None), Path::new("/t/lambda/bootstrap"));
        assert_eq!(
            profile_output(Path::new("/t"), Some("aarch64-unknown-linux-gnu")),
            Path::new("/t/aarch64-unknown-linux-gnu/lambda/bootstrap")
        );
    }

    #[test]
    fn cargo_names_the_target_dir() {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let path = bootstrap_path(&cargo, &manifest).unwrap();
        assert!(path.ends_with("lambda/bootstrap"), "{}", path.display());
        assert!(path.is_absolute());
    }

    #[test]
    fn a_missing_zip_is_named() {
        let e = lambda_zip(Some(Path::new("nope.zip"))).unwrap_err();
        assert!(e.to_string().contains("nope.zip") && crate::error::is_invalid(&e), "{e}");
    }
}
