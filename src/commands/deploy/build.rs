//! The transformation Lambda's deployment zip: a zip the user gives (`--lambda-zip`), or the lambda crate of
//! this source checkout built with the `lambda` profile for the chosen architecture and packaged. Which of the
//! two is decided from the user's input alone ([`lambda_source`]); the build itself ([`Checkout::build`]) is
//! left to the caller, to run once everything quicker has been checked, and never in a dry run. x86_64 builds
//! natively; arm64 (Graviton) cross-compiles with `cargo zigbuild` against glibc 2.34 (provided.al2023's), with
//! zig from PyPI: no Docker, nothing but `pip install ziglang cargo-zigbuild` and `rustup target add
//! aarch64-unknown-linux-gnu`. The build output is found where cargo puts it (`cargo metadata`'s target
//! directory, so `CARGO_TARGET_DIR` is honoured), and the zip is also written to
//! `<target dir>/lambda-zip/<architecture>/bootstrap.zip`, one place per architecture.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};
use reaqtions_lambda::package::{LambdaZip, package_bootstrap, read_zip};
use serde::Serialize;

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

/// Where the deployment zip comes from, settled from the user's input alone so that it is known before any AWS
/// call: a given zip is read and checked at once, while a build waits until deploy has checked everything it can
/// without it (a build takes tens of seconds; a missing credential should not).
pub(crate) enum LambdaSource {
    /// The zip given with `--lambda-zip`, read, with a bootstrap for the chosen architecture.
    Given(LambdaZip),
    /// This source checkout's lambda crate, to be built for the chosen architecture.
    Build(Checkout),
}

/// A source checkout holding the lambda crate (the one this binary was built from), and the architecture to
/// build it for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Checkout {
    #[serde(rename = "checkout")]
    pub(crate) root: PathBuf,
    pub(crate) architecture: String,
}

/// The deployment zip's source: the given file, read and checked against `architecture`, or this checkout, whose
/// lambda crate must be there to build.
pub(crate) fn lambda_source(file: Option<&Path>, architecture: &str) -> Result<LambdaSource> {
    if let Some(file) = file {
        let bytes = std::fs::read(file).map_err(|e| invalid!("cannot read Lambda zip {}: {e}", file.display()))?;
        let zip = read_zip(bytes)
            .with_context(|| format!("{} is not a Lambda zip with an executable bootstrap", file.display()))?;
        checked_architecture(&zip, architecture)?;
        return Ok(LambdaSource::Given(zip));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !root.join("lambda").join("Cargo.toml").exists() {
        return Err(invalid!(
            "no --lambda-zip, and no reaqtions source checkout at {} to build the Lambda from: build the zip as \
             README's \"Build the Lambda\" says and pass --lambda-zip FILE",
            root.display()
        ));
    }
    Ok(LambdaSource::Build(Checkout { root: root.to_path_buf(), architecture: architecture.to_owned() }))
}

/// The architecture of the zip's bootstrap, refused unless it is `wanted` (Lambda would only fail at invoke).
pub(crate) fn checked_architecture(zip: &LambdaZip, wanted: &str) -> Result<&'static str> {
    let architecture = zip.architecture.context(
        "the zip's bootstrap is not a Linux x86_64 or arm64 executable (build it for provided.al2023: see README)",
    )?;
    if architecture != wanted {
        return Err(invalid!(
            "the zip's bootstrap is built for {architecture}, but the architecture setting is {wanted} (pass \
             --architecture {architecture}, or a zip built for {wanted})"
        ));
    }
    Ok(architecture)
}

impl Checkout {
    /// What a dry run says in place of building.
    pub(crate) fn plan(&self) -> String {
        format!("would build the Lambda for {} from {}", self.architecture, self.root.display())
    }

    /// The lambda crate built with the `lambda` profile for the architecture, packaged, and checked to be for it.
    pub(crate) fn build(&self) -> Result<LambdaZip> {
        let architecture = self.architecture.as_str();
        let manifest = self.root.join("Cargo.toml");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let target = cross_target(architecture);
        // The checkout is named first: an installed binary builds from the folder it was itself built in, which
        // may be far from where the user stands.
        crate::say!(
            "building the transformation Lambda for {architecture} from {} ({})…",
            self.root.display(),
            target
                .map_or_else(|| "cargo build --profile lambda".to_owned(), |t| format!("cargo zigbuild --target {t}"))
        );
        let status = build_command(&cargo, &manifest, architecture)
            .status()
            .with_context(|| format!("cannot run {cargo} to build the Lambda in {}", self.root.display()))?;
        if !status.success() {
            let advice = if target.is_some() {
                format!(
                    ": cross-compiling needs `pip install ziglang cargo-zigbuild` and `rustup target add {}` (or \
                     pass --lambda-zip FILE)",
                    target.unwrap_or_default().trim_end_matches(".2.34")
                )
            } else {
                String::new()
            };
            bail!("building the Lambda for {architecture} in {} failed ({status}){advice}", self.root.display());
        }
        let triple = target.map(|t| t.trim_end_matches(".2.34"));
        let target_dir = target_directory(&cargo, &manifest)?;
        let binary = profile_output(&target_dir, triple.or(std::env::var("CARGO_BUILD_TARGET").ok().as_deref()));
        let bytes = std::fs::read(&binary).with_context(|| {
            format!("cannot read the built Lambda {} (cargo said the build succeeded)", binary.display())
        })?;
        let zip = package_bootstrap(&bytes)?;
        checked_architecture(&zip, architecture)?;
        let place = target_dir.join("lambda-zip").join(architecture).join("bootstrap.zip");
        if let Some(dir) = place.parent() {
            std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&place, &zip.bytes)).ok();
        }
        Ok(zip)
    }
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
        let Err(e) = lambda_source(Some(Path::new("nope.zip")), "x86_64") else { panic!("nope.zip was read") };
        assert!(e.to_string().contains("nope.zip") && crate::error::is_invalid(&e), "{e}");
    }

    #[test]
    fn without_a_zip_the_source_is_this_checkout_and_nothing_is_built_yet() {
        let Ok(LambdaSource::Build(checkout)) = lambda_source(None, "arm64") else { panic!("not this checkout") };
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        assert_eq!(checkout, Checkout { root: root.to_path_buf(), architecture: "arm64".into() });
        assert_eq!(checkout.plan(), format!("would build the Lambda for arm64 from {}", root.display()));
    }

    #[test]
    fn a_zip_for_the_other_architecture_is_refused() {
        let mut binary = b"\x7fELF\x02\x01\x01".to_vec();
        binary.resize(18, 0);
        binary.extend_from_slice(&0xB7u16.to_le_bytes());
        binary.resize(64, 0);
        let zip = package_bootstrap(&binary).unwrap();
        assert_eq!(checked_architecture(&zip, "arm64").unwrap(), "arm64");
        let e = checked_architecture(&zip, "x86_64").unwrap_err();
        assert!(e.to_string().contains("built for arm64, but the architecture setting is x86_64"), "{e}");
        assert!(crate::error::is_invalid(&e));
        let not_elf = package_bootstrap(b"#!/bin/sh\n").unwrap();
        assert!(checked_architecture(&not_elf, "x86_64").unwrap_err().to_string().contains("not a Linux"));
    }
}
