//! The deployable Lambda zip: one entry `bootstrap`, mode 0755, fixed timestamps, so the same binary always
//! gives the same bytes and the same sha256 (used as the content-addressed S3 key `lambda/<sha256>.zip`).

use std::io::{Cursor, Write as _};

use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// A packaged function: the zip bytes, their sha256 (lowercase hex) and the Lambda architecture of the
/// `bootstrap` inside (`x86_64` or `arm64`; `None` when it is not a Linux executable for either).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaZip {
    pub bytes: Vec<u8>,
    pub sha256: String,
    pub architecture: Option<&'static str>,
    /// The transform the bootstrap carries ([`crate::TRANSFORM_ID`]), read from its bytes; `None` when it does
    /// not say (a bootstrap built by other means).
    pub transform_id: Option<String>,
}

/// The Lambda architecture of an ELF executable, from its header's `e_machine`.
pub fn elf_architecture(binary: &[u8]) -> Option<&'static str> {
    if binary.len() < 20 || &binary[..4] != b"\x7fELF" {
        return None;
    }
    match u16::from_le_bytes([binary[18], binary[19]]) {
        0x3E => Some("x86_64"),
        0xB7 => Some("arm64"),
        _ => None,
    }
}

impl LambdaZip {
    /// The S3 key under which this exact code is stored.
    pub fn artifact_key(&self) -> String {
        format!("lambda/{}.zip", self.sha256)
    }
}

/// Takes an existing deployment zip (e.g. from `cargo lambda build`), checking it holds an executable `bootstrap`.
pub fn read_zip(bytes: Vec<u8>) -> zip::result::ZipResult<LambdaZip> {
    let mut archive = zip::ZipArchive::new(Cursor::new(&bytes))?;
    let mut entry = archive.by_name("bootstrap")?;
    if entry.unix_mode().is_some_and(|m| m & 0o111 == 0) {
        return Err(zip::result::ZipError::InvalidArchive("bootstrap is not executable (mode must be 0755)".into()));
    }
    let mut binary = Vec::new();
    std::io::Read::read_to_end(&mut entry, &mut binary)?;
    drop(entry);
    let sha256 = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    Ok(LambdaZip {
        bytes,
        sha256,
        architecture: elf_architecture(&binary),
        transform_id: crate::transform_id_of(&binary),
    })
}

/// Packages a `bootstrap` executable for `provided.al2023`.
pub fn package_bootstrap(binary: &[u8]) -> zip::result::ZipResult<LambdaZip> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::with_capacity(binary.len() / 2)));
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(9))
        .unix_permissions(0o755)
        .last_modified_time(DateTime::default());
    writer.start_file("bootstrap", options)?;
    writer.write_all(binary)?;
    let bytes = writer.finish()?.into_inner();
    let sha256 = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    Ok(LambdaZip {
        bytes,
        sha256,
        architecture: elf_architecture(binary),
        transform_id: crate::transform_id_of(binary),
    })
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    #[test]
    fn same_binary_same_bytes_and_hash() {
        let binary: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        let a = package_bootstrap(&binary).unwrap();
        let b = package_bootstrap(&binary).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.sha256.len(), 64);
        assert_eq!(a.artifact_key(), format!("lambda/{}.zip", a.sha256));
        let other = package_bootstrap(&binary[1..]).unwrap();
        assert_ne!(a.sha256, other.sha256);
    }

    #[test]
    fn single_executable_bootstrap_entry() {
        let binary = b"\x7fELF fake executable".repeat(100);
        let zip = package_bootstrap(&binary).unwrap();
        let mut archive = zip::ZipArchive::new(Cursor::new(zip.bytes.clone())).unwrap();
        assert_eq!(archive.len(), 1);
        let mut entry = archive.by_index(0).unwrap();
        assert_eq!(entry.name(), "bootstrap");
        assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        assert_eq!(content, binary);
        drop(entry);
        assert_eq!(read_zip(zip.bytes.clone()).unwrap(), zip);
        assert!(read_zip(b"not a zip".to_vec()).is_err());
    }

    #[test]
    fn architecture_from_the_elf_header() {
        let elf = |machine: u16| {
            let mut b = b"\x7fELF".to_vec();
            b.resize(18, 0);
            b.extend_from_slice(&machine.to_le_bytes());
            b.resize(64, 0);
            b
        };
        assert_eq!(package_bootstrap(&elf(0x3E)).unwrap().architecture, Some("x86_64"));
        assert_eq!(read_zip(package_bootstrap(&elf(0xB7)).unwrap().bytes).unwrap().architecture, Some("arm64"));
        assert_eq!(elf_architecture(b"#!/bin/sh\necho not elf"), None);
        assert_eq!(elf_architecture(&elf(0x28)), None, "32-bit ARM is not a Lambda architecture");
    }
}
