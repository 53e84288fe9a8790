//! The local "bucket": a directory whose files are objects, keys mapped to paths. Objects appear atomically
//! (written to a temporary file, then renamed), so a reader never sees half an object.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use chrono::{DateTime, Utc};

use crate::seams::{ObjectLake, ObjectMeta};

/// Where in-flight writes live, inside the bucket directory but never listed.
const TMP_DIR: &str = ".tmp";

#[derive(Debug, Clone)]
pub struct DirLake {
    bucket: String,
    root: PathBuf,
}

impl DirLake {
    pub(crate) fn new(lakes: &Path, bucket: &str) -> Self {
        DirLake { bucket: bucket.to_owned(), root: lakes.join(bucket) }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, key: &str) -> Result<PathBuf> {
        if key.is_empty() || key.split('/').any(|s| s == ".." || s == "." || s == TMP_DIR) || key.starts_with('/') {
            bail!("object key {key:?} cannot be stored in the local lake");
        }
        Ok(self.root.join(key))
    }

    /// Writes an object atomically.
    pub(crate) fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        let path = self.path_of(key)?;
        let tmp_dir = self.root.join(TMP_DIR);
        fs::create_dir_all(&tmp_dir).with_context(|| format!("cannot create {}", tmp_dir.display()))?;
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let tmp = tmp_dir.join(uuid::Uuid::new_v4().to_string());
        let mut file = fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        file.write_all(bytes)
            .and_then(|()| file.sync_data())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        fs::rename(&tmp, &path).with_context(|| format!("cannot move object into place at {}", path.display()))?;
        Ok(())
    }

    /// Removes every object (and the bucket directory).
    pub(crate) fn delete_all(&self) -> Result<()> {
        if self.root.exists() {
            fs::remove_dir_all(&self.root).with_context(|| format!("cannot delete {}", self.root.display()))?;
        }
        Ok(())
    }

    fn walk(&self, dir: &Path, prefix: &str, out: &mut Vec<ObjectMeta>) -> Result<()> {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("cannot list {}", dir.display())),
        };
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
            let path = entry.path();
            let rel = path.strip_prefix(&self.root).expect("inside the lake");
            let key = rel.to_string_lossy().replace(std::path::MAIN_SEPARATOR, "/");
            let meta = entry.metadata().with_context(|| format!("cannot stat {}", path.display()))?;
            if meta.is_dir() {
                // Descend only where keys below can still match the prefix.
                if key != TMP_DIR && (prefix.starts_with(&format!("{key}/")) || key.starts_with(prefix)) {
                    self.walk(&path, prefix, out)?;
                }
            } else if key.starts_with(prefix) {
                let modified: DateTime<Utc> = meta.modified().map(DateTime::from).unwrap_or_else(|_| Utc::now());
                out.push(ObjectMeta { key, size: meta.len(), last_modified: modified });
            }
        }
        Ok(())
    }
}

impl ObjectLake for DirLake {
    fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The file (or folder) under the lake's directory: what a person opens on this machine.
    fn location(&self, key: &str) -> String {
        self.root.join(key).display().to_string()
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        // Start at the deepest directory the prefix names.
        let start = match prefix.rfind('/') {
            Some(i) => self.root.join(&prefix[..i]),
            None => self.root.clone(),
        };
        let mut out = Vec::new();
        self.walk(&start, prefix, &mut out)?;
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn get(&self, key: &str) -> Result<Vec<u8>> {
        let path = self.path_of(key)?;
        fs::read(&path).with_context(|| format!("cannot read object {}", path.display()))
    }

    fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        DirLake::put(self, key, bytes)
    }

    fn delete(&self, key: &str) -> Result<()> {
        let path = self.path_of(key)?;
        fs::remove_file(&path).with_context(|| format!("cannot delete object {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_list_get_by_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let lake = DirLake::new(dir.path(), "bucket");
        lake.put("processed/year=2026/a", b"1").unwrap();
        lake.put("processed/year=2026/b", b"22").unwrap();
        lake.put("error/x", b"3").unwrap();
        let keys: Vec<_> = lake.list("processed/").unwrap().into_iter().map(|o| (o.key, o.size)).collect();
        assert_eq!(keys, [("processed/year=2026/a".to_owned(), 1), ("processed/year=2026/b".to_owned(), 2)]);
        assert_eq!(lake.list("processed/year=20").unwrap().len(), 2);
        assert_eq!(lake.list("").unwrap().len(), 3);
        assert_eq!(lake.list("nothing/").unwrap(), []);
        assert_eq!(lake.get("error/x").unwrap(), b"3");
        let missing = lake.get("error/missing").unwrap_err().to_string();
        assert!(missing.contains(&lake.root().join("error/missing").display().to_string()), "{missing}");
        assert_eq!(lake.location("error/x"), lake.root().join("error/x").display().to_string());
        assert!(lake.put("../escape", b"").is_err());
        assert!(!dir.path().join("bucket/.tmp").read_dir().unwrap().any(|_| true), "no temp file left");
    }
}
