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
//!
//! A sink is a regular file, a symlink (the rename replaces the link, never
//! its target) or a path that does not exist yet: a device, a FIFO or a
//! socket at a sink path is refused at start and before every write (a rename
//! over `/dev/null` would replace the device node). Reading what a sink holds
//! never blocks (non-blocking open, regular files only) and never reads more
//! than the new value's length plus one byte.

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
    check_writable(sink)
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

/// What the thing at `path` is, when it is something a sink must not
/// replace: `None` for a regular file, a symlink or nothing at all.
pub fn refused_kind(path: &Path) -> Option<&'static str> {
    let meta = fs::symlink_metadata(path).ok()?;
    let kind = meta.file_type();
    if kind.is_file() || kind.is_symlink() {
        return None;
    }
    if kind.is_dir() {
        return Some("a directory");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if kind.is_char_device() {
            return Some("a character device");
        }
        if kind.is_block_device() {
            return Some("a block device");
        }
        if kind.is_fifo() {
            return Some("a FIFO (named pipe)");
        }
        if kind.is_socket() {
            return Some("a socket");
        }
    }
    Some("not a regular file")
}

/// Whether a sink's directory takes new files: a temporary file is created
/// and removed, which is what every write does (a mode check would be wrong
/// for root, ACLs and read-only mounts).
pub fn check_writable(sink: &Path) -> io::Result<()> {
    let dir = directory_of(sink);
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let probe = dir.join(format!("{}{}-{n}.tmp", temp_prefix(sink), std::process::id()));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    drop(options.open(&probe)?);
    fs::remove_file(&probe)
}

/// What the sink holds now, if it is a readable regular file: at most
/// `limit` bytes (callers compare with a value of `limit - 1` bytes, so a
/// longer file differs whatever its length). The open does not block (a
/// FIFO put there after start has no writer).
pub fn read_existing(sink: &Path, limit: usize) -> Option<Vec<u8>> {
    use std::io::Read as _;
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(sink).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut bytes = Vec::new();
    file.take(limit as u64).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

/// Replaces `sink` with `contents` atomically; see the module docs.
pub fn write_atomic(sink: &Path, contents: &[u8]) -> io::Result<()> {
    if let Some(kind) = refused_kind(sink) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the sink path is now {kind}, not a regular file: not replaced"),
        ));
    }
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
    #[cfg(unix)]
    fn special_files_are_refused_and_never_read() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(refused_kind(Path::new("/dev/null")), Some("a character device"));
        assert_eq!(refused_kind(&dir.path().join("absent")), None);
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        assert_eq!(refused_kind(&fifo), Some("a FIFO (named pipe)"));
        // Neither blocks (no writer on the FIFO) nor reads past the bound.
        assert_eq!(read_existing(&fifo, 10), None);
        assert_eq!(read_existing(Path::new("/dev/zero"), 10), None);
        assert!(write_atomic(&fifo, b"x").is_err());
        assert_eq!(refused_kind(&fifo), Some("a FIFO (named pipe)"), "not replaced");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("/dev/null", &link).unwrap();
        assert_eq!(refused_kind(&link), None, "a symlink is replaced, never followed");
        let file = dir.path().join("file");
        fs::write(&file, b"0123456789abcdef").unwrap();
        assert_eq!(read_existing(&file, 5).unwrap(), b"01234");
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
