//! Sink files: written so that a reader only ever sees the previous complete
//! file or the new complete file, and nobody but the owner can read either.
//!
//! A write goes to a temporary file in the sink's own directory (a rename is
//! atomic only within one file system), created with mode 0600 from the first
//! byte (`create_new` + mode, never a chmod afterwards, so there is no window
//! where it is world-readable), fsynced, renamed over the sink, and the
//! directory fsynced so the rename survives a crash. The temporary names are
//! `.<sink name>.tokenkeep-<pid>-<n>.tmp`: hidden from `*` globs, and
//! recognisable so that a later start removes what a killed agent left.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Temporary names must differ between concurrent writes in one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The marker every temporary sink name carries after the sink's own name.
const TEMP_MARKER: &str = ".tokenkeep-";

/// The directory holding `sink` (`.` for a bare file name).
fn directory_of(sink: &Path) -> &Path {
    sink.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

fn temp_prefix(sink: &Path) -> String {
    let name = sink.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    format!(".{name}{TEMP_MARKER}")
}

/// Creates the sink's directory when missing (mode 0700: it will hold
/// secrets) and removes temporary files a killed agent left next to it.
pub fn prepare(sink: &Path) -> io::Result<()> {
    let dir = directory_of(sink);
    if !dir.exists() {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt as _;
            builder.mode(0o700);
        }
        builder.create(dir)?;
    }
    for stale in leftover_temp_files(sink)? {
        // Another agent writing the same sink at this very moment would be a
        // configuration error of its own; a failed removal is not ours to fail on.
        let _ = fs::remove_file(stale);
    }
    Ok(())
}

/// Temporary files of `sink` present in its directory (left by a killed agent,
/// or a write in progress).
pub fn leftover_temp_files(sink: &Path) -> io::Result<Vec<PathBuf>> {
    let prefix = temp_prefix(sink);
    let mut found = Vec::new();
    for entry in fs::read_dir(directory_of(sink))? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix) && name.ends_with(".tmp") {
            found.push(entry.path());
        }
    }
    Ok(found)
}

/// What the sink holds now, if it exists and is readable (to tell a rotation
/// from a first write after the agent restarted).
pub fn read_existing(sink: &Path) -> Option<Vec<u8>> {
    fs::read(sink).ok()
}

/// Replaces `sink` with `contents` atomically; see the module docs.
pub fn write_atomic(sink: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = directory_of(sink);
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = dir.join(format!("{}{}-{n}.tmp", temp_prefix(sink), std::process::id()));
    let result = write_then_rename(&temp, sink, contents);
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result?;
    // Make the rename itself durable; a directory that cannot be opened or
    // synced (some file systems) does not make the write a failure.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn write_then_rename(temp: &Path, sink: &Path, contents: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(temp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);
    fs::rename(temp, sink)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_atomically_with_mode_0600_and_leave_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let sink = dir.path().join("nested/dir/token");
        prepare(&sink).unwrap();
        write_atomic(&sink, b"one").unwrap();
        write_atomic(&sink, b"two").unwrap();
        assert_eq!(fs::read(&sink).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(fs::metadata(&sink).unwrap().permissions().mode() & 0o777, 0o600);
            assert_eq!(fs::metadata(sink.parent().unwrap()).unwrap().permissions().mode() & 0o077, 0);
        }
        assert!(leftover_temp_files(&sink).unwrap().is_empty());
        assert_eq!(fs::read_dir(sink.parent().unwrap()).unwrap().count(), 1);
    }

    #[test]
    fn prepare_removes_what_a_killed_agent_left() {
        let dir = tempfile::tempdir().unwrap();
        let sink = dir.path().join("cfg.json");
        let stale = dir.path().join(".cfg.json.tokenkeep-999-0.tmp");
        let other = dir.path().join(".other.tokenkeep-999-0.tmp");
        fs::write(&stale, "half").unwrap();
        fs::write(&other, "not ours").unwrap();
        prepare(&sink).unwrap();
        assert!(!stale.exists());
        assert!(other.exists(), "only this sink's temporary files are touched");
    }

    #[test]
    fn a_failed_write_leaves_the_old_sink() {
        let dir = tempfile::tempdir().unwrap();
        let sink = dir.path().join("token");
        write_atomic(&sink, b"old").unwrap();
        let missing_dir_sink = dir.path().join("absent/token");
        assert!(write_atomic(&missing_dir_sink, b"new").is_err());
        assert_eq!(fs::read(&sink).unwrap(), b"old");
    }
}
