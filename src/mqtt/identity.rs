//! Device identities on disk: the registry `devices.json` (the stack, the IoT data endpoint, each device's
//! thing and certificate) and each device's certificate and private key beside it — the key written once, mode
//! 0600, and never printed. [`tls_config`] turns one device's files into the TLS client it connects with.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result, anyhow};
use rumqttc::tokio_rustls::rustls;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};

const REGISTRY: &str = "devices.json";

/// One registered device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DeviceRecord {
    /// The device id: its thing name, its MQTT client id and its topic level.
    pub(crate) id: String,
    pub(crate) certificate_id: String,
    pub(crate) certificate_arn: String,
}

/// What `devices add` wrote into a directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Registry {
    pub(crate) stack: String,
    pub(crate) region: String,
    /// The account's IoT data endpoint (`<prefix>-ats.iot.<region>.amazonaws.com`).
    pub(crate) endpoint: String,
    pub(crate) port: u16,
    pub(crate) devices: Vec<DeviceRecord>,
}

impl Registry {
    /// The registry in `dir`, if there is one.
    pub(crate) fn load(dir: &Path) -> Result<Option<Registry>> {
        let path = dir.join(REGISTRY);
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(
                serde_json::from_slice(&bytes)
                    .with_context(|| format!("{} is not a device registry", path.display()))?,
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow!(e).context(format!("cannot read {}", path.display()))),
        }
    }

    /// Writes the registry (atomically) into `dir`, creating it (mode 0700) if needed.
    pub(crate) fn save(&self, dir: &Path) -> Result<()> {
        create_private_dir(dir)?;
        let path = dir.join(REGISTRY);
        let tmp = dir.join(format!("{REGISTRY}.tmp"));
        fs::write(&tmp, serde_json::to_vec_pretty(self)?)
            .and_then(|()| fs::rename(&tmp, &path))
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

/// Where a device's certificate and key are.
pub(crate) fn certificate_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.cert.pem"))
}

pub(crate) fn key_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.private.key"))
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).with_context(|| format!("cannot create {}", dir.display()))
}

/// Writes a device's certificate, and its private key readable by the owner only (a key already there is
/// never overwritten: the one IoT returned is the only copy).
pub(crate) fn write_identity(dir: &Path, id: &str, certificate_pem: &str, private_key_pem: &str) -> Result<()> {
    create_private_dir(dir)?;
    let key = key_path(dir, id);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&key).with_context(|| format!("cannot create {} (mode 0600)", key.display()))?;
    file.write_all(private_key_pem.as_bytes()).with_context(|| format!("cannot write {}", key.display()))?;
    let cert = certificate_path(dir, id);
    fs::write(&cert, certificate_pem).with_context(|| format!("cannot write {}", cert.display()))
}

/// Deletes a device's files (those that exist).
pub(crate) fn remove_identity(dir: &Path, id: &str) -> Result<()> {
    for path in [certificate_path(dir, id), key_path(dir, id)] {
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(anyhow!(e).context(format!("cannot delete {}", path.display())));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The system's trusted roots (Amazon Root CA 1-4 among them), for IoT Core's server certificate.
pub(crate) fn system_roots() -> Result<rustls::RootCertStore> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(anyhow!(
            "no trusted root certificates found on this system ({} error(s)): install ca-certificates",
            found.errors.len()
        ));
    }
    Ok(roots)
}

/// The certificates of a CA file (PEM) as the only trusted roots.
pub(crate) fn roots_from(file: &Path) -> Result<rustls::RootCertStore> {
    let certs = CertificateDer::pem_file_iter(file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow!("cannot read CA certificates from {}: {e}", file.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(anyhow!("{} holds no usable CA certificate", file.display()));
    }
    Ok(roots)
}

/// The TLS client a device connects with: the server checked against `roots`, the device proven by its own
/// certificate and key from `dir`. Errors name the file, never its content.
pub(crate) fn tls_config(dir: &Path, id: &str, roots: Arc<rustls::RootCertStore>) -> Result<Arc<rustls::ClientConfig>> {
    let cert_path = certificate_path(dir, id);
    let key_path = key_path(dir, id);
    let certs = CertificateDer::pem_file_iter(&cert_path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow!("cannot read the certificate of device {id} from {}: {e}", cert_path.display()))?;
    if certs.is_empty() {
        return Err(anyhow!("{} holds no certificate (device {id})", cert_path.display()));
    }
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| anyhow!("cannot read the private key of device {id} from {}: {e}", key_path.display()))?;
    // ring: the one crypto provider of the build (the AWS client's too, see aws::http_client).
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS 1.2 and 1.3")?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .map_err(|e| anyhow!("device {id}'s certificate and key do not go together ({}): {e}", dir.display()))?;
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_private_and_written_once() {
        let dir = tempfile::tempdir().unwrap();
        let devices = dir.path().join("devices");
        write_identity(&devices, "aq-0001", "CERT", "KEY").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(key_path(&devices, "aq-0001")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            assert_eq!(fs::metadata(&devices).unwrap().permissions().mode() & 0o777, 0o700);
        }
        let again = write_identity(&devices, "aq-0001", "CERT2", "KEY2").unwrap_err();
        assert!(format!("{again:#}").contains("aq-0001.private.key"), "{again:#}");
        assert!(!format!("{again:#}").contains("KEY2"));
        assert_eq!(fs::read_to_string(key_path(&devices, "aq-0001")).unwrap(), "KEY");
        remove_identity(&devices, "aq-0001").unwrap();
        remove_identity(&devices, "aq-0001").unwrap();
        assert!(!key_path(&devices, "aq-0001").exists());
    }

    #[test]
    fn the_registry_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Registry::load(dir.path()).unwrap(), None);
        let registry = Registry {
            stack: "reaqtions".into(),
            region: "us-east-1".into(),
            endpoint: "abc-ats.iot.us-east-1.amazonaws.com".into(),
            port: 8883,
            devices: vec![DeviceRecord {
                id: "aq-0001".into(),
                certificate_id: "c1".into(),
                certificate_arn: "arn:aws:iot:us-east-1:123456789012:cert/c1".into(),
            }],
        };
        registry.save(dir.path()).unwrap();
        assert_eq!(Registry::load(dir.path()).unwrap(), Some(registry));
        fs::write(dir.path().join(REGISTRY), "nope").unwrap();
        assert!(format!("{:#}", Registry::load(dir.path()).unwrap_err()).contains("devices.json"));
    }
}
