//! How lake objects are compressed: the `compression` setting (GZIP by default, as Firehose writes it with
//! `CompressionFormat: GZIP`, under keys ending in `.gz`), and reading any object by its first bytes rather than
//! its name — a lake may hold both kinds, and whether Firehose compresses error objects too is not documented.

use std::io::{Read as _, Write as _};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

/// What the lake's objects are written as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    Gzip,
    None,
}

impl Compression {
    /// The setting's own spelling.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::None => "none",
        }
    }

    /// Firehose's `CompressionFormat` for it.
    pub(crate) fn firehose_format(self) -> &'static str {
        match self {
            Compression::Gzip => "GZIP",
            Compression::None => "UNCOMPRESSED",
        }
    }

    /// What Firehose appends to an object's name.
    pub(crate) fn extension(self) -> &'static str {
        match self {
            Compression::Gzip => ".gz",
            Compression::None => "",
        }
    }

    /// The object's bytes as written. Gzip at its fastest level: the local stream compresses each object in the
    /// sending path, and level 6 held it to ~75 % of 100,000 readings/s (level 1: see README, Benchmarks).
    /// Firehose's own level is not documented.
    pub fn encode(self, bytes: &[u8]) -> Result<Vec<u8>> {
        match self {
            Compression::None => Ok(bytes.to_vec()),
            Compression::Gzip => {
                let mut gz =
                    flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 4), flate2::Compression::fast());
                gz.write_all(bytes)?;
                Ok(gz.finish()?)
            }
        }
    }
}

/// Whether bytes start as gzip does (`1f 8b`).
pub(crate) fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// An object's content: gunzipped when it is gzip (every member, as `cat a.gz b.gz` makes), as is otherwise.
pub fn decoded(bytes: Vec<u8>, key: &str) -> Result<Vec<u8>> {
    if !is_gzip(&bytes) {
        return Ok(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() * 6);
    flate2::read::MultiGzDecoder::new(bytes.as_slice())
        .read_to_end(&mut out)
        .with_context(|| format!("object {key} starts as gzip but does not decompress"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn either_kind_reads_back_by_its_bytes_not_its_name() {
        let text = b"{\"NO2\":1.5}\n".repeat(100);
        let gz = Compression::Gzip.encode(&text).unwrap();
        assert!(is_gzip(&gz) && gz.len() < text.len() / 5, "{} → {}", text.len(), gz.len());
        assert_eq!(decoded(gz.clone(), "a.gz").unwrap(), text);
        assert_eq!(decoded(text.clone(), "named-like.gz").unwrap(), text, "a plain object named .gz is read as is");
        let mut two = gz.clone();
        two.extend_from_slice(&gz);
        assert_eq!(decoded(two, "k").unwrap().len(), text.len() * 2, "every gzip member");
        let err = decoded(vec![0x1f, 0x8b, 0, 0], "processed/x.gz").unwrap_err();
        assert!(err.to_string().contains("processed/x.gz"), "{err}");
        assert_eq!(Compression::None.encode(&text).unwrap(), text);
        assert_eq!((Compression::Gzip.extension(), Compression::Gzip.firehose_format()), (".gz", "GZIP"));
    }
}
