//! The transformation Lambda's deployment zip: a zip the user gives (`--lambda-zip`), or the lambda crate of
//! this source checkout built with the `lambda` profile for the chosen architecture and packaged. x86_64 builds
//! natively; arm64 (Graviton) cross-compiles with `cargo zigbuild` against glibc 2.34 (provided.al2023's), with
//! zig from PyPI: no Docker, nothing but `pip install ziglang cargo-zigbuild` and `rustup target add
//! aarch64-unknown-linux-gnu`. The build output is found where cargo puts it (`cargo metadata`'s target
//! directory, so `CARGO_TARGET_DIR` is honoured), and the zip is also written to
//! `<target dir>/lambda-zip/<architecture>/bootstrap.zip`, one place per architecture.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};
use reaqtions_lambda::package::{LambdaZip, package_bootstrap, read_zip};

use crate::invalid;

/// The Rust target a Lambda architecture builds for, with the glibc version zig links against; `None` builds
/// for the host.
pub(crate) fn cross_target(architecture: &str) -> Option<&'static str> {
    match (architecture, std::env::consts::ARCH) {
        ("arm64", "aarch64") | ("x86_64", "x86_64") => None,
        ("arm64", _) => Some("aarch64-unknown-linux-gnu.2.34"),
        _ => Some("x86_64-unknown-linux-gnu.2.34"),
    }
}

/// The cargo command that builds the bootstrap for `architecture`.
pub(crate) fn build_command(cargo: &str, manifest: &Path, architecture: &str) -> Command {
    let mut command = Command::new(cargo);
    match cross_target(architecture) {
        None => command.arg("build"),
        Some(target) => command.args(["zigbuild", "--target", target]),
    };
    command.args(["--profile", "lambda", "-p", "reaqtions-lambda", "--bin", "bootstrap", "--manifest-path"]);
    command.arg(manifest);
    command
}

/// The deployment zip: the given file, or the lambda crate built for `architecture` and packaged.
pub(crate) fn lambda_zip(file: Option<&Path>, architecture: &str) -> Result<LambdaZip> {
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
    let target = cross_target(architecture);
    crate::say!(
        "building the transformation Lambda for {architecture} ({})…",
        target.map_or_else(|| "cargo build --profile lambda".to_owned(), |t| format!("cargo zigbuild --target {t}"))
    );
    let status =
        build_command(&cargo, &manifest, architecture).status().context("cannot run cargo to build the Lambda")?;
    if !status.success() {
        let advice = if target.is_some() {
            format!(
                ": cross-compiling needs `pip install ziglang cargo-zigbuild` and `rustup target add {}` (or pass \
                 --lambda-zip FILE)",
                target.unwrap_or_default().trim_end_matches(".2.34")
            )
        } else {
            String::new()
        };
        bail!("building the Lambda for {architecture} failed ({status}){advice}");
    }
    let triple = target.map(|t| t.trim_end_matches(".2.34"));
    let target_dir = target_directory(&cargo, &manifest)?;
    let binary = profile_output(&target_dir, triple.or(std::env::var("CARGO_BUILD_TARGET").ok().as_deref()));
    let bytes = std::fs::read(&binary).with_context(|| {
        format!("cannot read the built Lambda {} (cargo said the build succeeded)", binary.display())
    })?;
    let zip = package_bootstrap(&bytes)?;
    let place = target_dir.join("lambda-zip").join(architecture).join("bootstrap.zip");
    if let Some(dir) = place.parent() {
        std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&place, &zip.bytes)).ok();
    }
    Ok(zip)
}

/// cargo's target directory for the workspace (`cargo metadata`).
fn target_directory(cargo: &str, manifest: &Path) -> Result<PathBuf> {
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
    Ok(PathBuf::from(target_dir))
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
        let path = target_directory(&cargo, &manifest).unwrap();
        assert!(path.is_absolute(), "{}", path.display());
    }

    #[test]
    fn arm64_cross_compiles_with_zig_against_glibc_2_34() {
        let command = build_command("cargo", Path::new("/src/Cargo.toml"), "arm64");
        let args: Vec<String> = command.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        if std::env::consts::ARCH == "x86_64" {
            assert_eq!(&args[..3], ["zigbuild", "--target", "aarch64-unknown-linux-gnu.2.34"]);
            assert_eq!(
                build_command("cargo", Path::new("/src/Cargo.toml"), "x86_64").get_args().next().unwrap(),
                "build"
            );
        }
        assert!(args.windows(2).any(|w| w == ["--profile", "lambda"]));
    }

    #[test]
    fn a_missing_zip_is_named() {
        let e = lambda_zip(Some(Path::new("nope.zip")), "x86_64").unwrap_err();
        assert!(e.to_string().contains("nope.zip") && crate::error::is_invalid(&e), "{e}");
    }
}
