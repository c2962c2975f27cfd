//! Telling that a watched file (a token, a secret) changed without reading
//! it: Kubernetes swaps a `..data` symlink (the directory and the resolved
//! target change), spiffe-helper rewrites in place (size and mtime change),
//! others rename a new file over it (the inode changes).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What identifies a file's contents without reading them.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub(crate) struct FileSignature {
    dir_mtime: Option<SystemTime>,
    target: Option<PathBuf>,
    mtime: Option<SystemTime>,
    len: Option<u64>,
    inode: Option<u64>,
}

impl FileSignature {
    /// The signature of `path` now (absent parts stay `None`: a missing file
    /// has a signature too, so its reappearance is a change).
    pub(crate) fn of(path: &Path) -> FileSignature {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let meta = std::fs::metadata(path).ok();
        FileSignature {
            dir_mtime: std::fs::metadata(dir).and_then(|m| m.modified()).ok(),
            target: std::fs::canonicalize(path).ok(),
            mtime: meta.as_ref().and_then(|m| m.modified().ok()),
            len: meta.as_ref().map(std::fs::Metadata::len),
            inode: meta.as_ref().and_then(inode),
        }
    }
}

#[cfg(unix)]
fn inode(m: &std::fs::Metadata) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    Some(m.ino())
}

#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> Option<u64> {
    None
}
