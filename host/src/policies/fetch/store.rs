//! The local store of fetched blobs (manifests and modules): `DIR/blobs/sha256/HEX`, the layout
//! of an OCI image layout's blobs, so restarts and replicas sharing the volume reuse what one
//! of them fetched. A blob is written to a temporary name and renamed into place, so a reader
//! never sees half of one; every read is checked against its name, and a blob that does not
//! match is removed and fetched again.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Distinguishes the temporary files of concurrent writes in one process.
static WRITES: AtomicU64 = AtomicU64::new(0);

/// The store at one directory (created on first write).
#[derive(Debug, Clone)]
pub(super) struct Store {
    dir: PathBuf,
}

/// `sha256:` and 64 lowercase hex digits.
pub(super) fn is_sha256(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// The digest of `bytes`, `sha256:HEX`.
pub(super) fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", crate::wasm::sha256_hex(bytes))
}

impl Store {
    pub(super) fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn path(&self, digest: &str) -> Option<PathBuf> {
        let hex = digest
            .strip_prefix("sha256:")
            .filter(|_| is_sha256(digest))?;
        Some(self.dir.join("blobs").join("sha256").join(hex))
    }

    /// The blob named `digest`, if the store holds it intact.
    pub(super) async fn get(&self, digest: &str) -> Option<Vec<u8>> {
        let path = self.path(digest)?;
        let bytes = tokio::fs::read(&path).await.ok()?;
        if digest_of(&bytes) == digest {
            return Some(bytes);
        }
        tracing::warn!(path = %path.display(), %digest, "a stored blob does not match its digest; removing it and fetching it again");
        let _ = tokio::fs::remove_file(&path).await;
        None
    }

    /// Keeps `bytes` under their digest. A store that cannot be written (a read-only volume)
    /// only costs the next start a download: the failure is logged, not returned.
    pub(super) async fn put(&self, bytes: &[u8]) {
        let digest = digest_of(bytes);
        let Some(path) = self.path(&digest) else {
            return;
        };
        if let Err(error) = write_atomically(&path, bytes).await {
            tracing::warn!(%error, dir = %self.dir.display(), %digest, "cannot keep a fetched blob in the module store; the next start fetches it again");
        }
    }
}

async fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if tokio::fs::try_exists(path).await.unwrap_or(false) {
        return Ok(());
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    tokio::fs::create_dir_all(dir).await?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        WRITES.fetch_add(1, Ordering::Relaxed)
    ));
    let written = async {
        tokio::fs::write(&temporary, bytes).await?;
        tokio::fs::rename(&temporary, path).await
    }
    .await;
    if written.is_err() {
        let _ = tokio::fs::remove_file(&temporary).await;
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blobs_are_kept_by_digest_and_checked_on_every_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::new(dir.path().join("store"));
        let digest = digest_of(b"module");
        assert_eq!(store.get(&digest).await, None);
        store.put(b"module").await;
        let path = dir
            .path()
            .join("store/blobs/sha256")
            .join(&digest["sha256:".len()..]);
        assert_eq!(std::fs::read(&path).expect("stored"), b"module");
        assert_eq!(store.get(&digest).await.as_deref(), Some(&b"module"[..]));
        // Another replica's store on the same volume sees it too.
        let other = Store::new(dir.path().join("store"));
        assert_eq!(other.get(&digest).await.as_deref(), Some(&b"module"[..]));
        // A blob that changed on disk is not served, and is gone.
        std::fs::write(&path, b"tampered").expect("write");
        assert_eq!(store.get(&digest).await, None);
        assert!(!path.exists());
        // No temporary file is left behind.
        store.put(b"module").await;
        let names: Vec<String> = std::fs::read_dir(path.parent().expect("dir"))
            .expect("list")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(names, vec![digest["sha256:".len()..].to_owned()]);
    }

    #[tokio::test]
    async fn a_store_that_cannot_be_written_is_not_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"").expect("write");
        let store = Store::new(file.join("store"));
        store.put(b"module").await;
        assert_eq!(store.get(&digest_of(b"module")).await, None);
    }

    #[test]
    fn only_full_lowercase_sha256_digests_name_a_blob() {
        let hex = "0123456789abcdef".repeat(4);
        assert!(is_sha256(&format!("sha256:{hex}")));
        for bad in [
            format!("sha256:{}", hex.to_uppercase()),
            format!("sha256:{}", &hex[1..]),
            format!("sha512:{hex}"),
            format!("sha256:../{}", &hex[3..]),
        ] {
            assert!(!is_sha256(&bad), "{bad}");
        }
    }
}
