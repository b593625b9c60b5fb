//! Crash-safe creation of the CA files in `certs/`.
//!
//! Two files cannot appear at once, so creation goes through a committed staging directory:
//!
//! 1. both files are written into a fresh `.strainer-ca.<random>.tmp/` (key mode 0600), each synced;
//! 2. that directory is renamed to `.strainer-ca.new` — the commit point — and `certs/` is synced;
//! 3. each file is hard-linked from there into place (a link fails if the target exists, so nothing is ever
//!    overwritten), then `.strainer-ca.new` is removed.
//!
//! A crash before step 2 leaves only a temporary directory (no CA); a crash after it leaves a committed pair that
//! the next start links into place ([`tidy`]). Every step runs under an exclusive lock on the directory itself
//! (`flock`, released by the kernel when the process dies, even on `kill -9`; no lock file is left behind), so
//! concurrent creators take turns and the clean-up of stray `.strainer-ca.*.tmp` entries never removes another
//! creator's work in progress.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use super::ca::{matching_pair, CaError, CERT_FILE, KEY_FILE};

/// The committed staging directory: a complete pair waiting to be linked into place.
pub const COMMITTED_DIR: &str = ".strainer-ca.new";
/// Prefix and suffix of strainer's temporary names in `certs/` (this and earlier versions).
const TMP_PREFIX: &str = ".strainer-ca.";
const TMP_SUFFIX: &str = ".tmp";

/// Holds the exclusive CA lock of one directory until dropped.
#[derive(Debug)]
pub struct CaLock {
    _file: File,
}

/// Creates `dir` (and missing parents) with mode 0700, whatever the umask; an existing directory is left as is.
pub fn create_private_dir(dir: &Path) -> Result<(), CaError> {
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(io_err(dir))
}

/// Takes the exclusive CA lock of `dir` (a lock on the directory itself), waiting for another holder to finish.
pub fn lock(dir: &Path) -> Result<CaLock, CaError> {
    let file = File::open(dir).map_err(io_err(dir))?;
    file.lock().map_err(io_err(dir))?;
    Ok(CaLock { _file: file })
}

/// Finishes or discards what a crashed creator left (call under [`lock`]): a committed pair is linked into place
/// unless a different CA file is already there; stray temporary entries are removed.
pub fn tidy(dir: &Path, _lock: &CaLock) -> Result<(), CaError> {
    let committed = dir.join(COMMITTED_DIR);
    if committed.try_exists().map_err(io_err(&committed))? {
        roll_forward(dir, &committed)?;
    }
    let entries = fs::read_dir(dir).map_err(io_err(dir))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with(TMP_PREFIX) && name.ends_with(TMP_SUFFIX)) {
            continue;
        }
        let path = entry.path();
        let removed = match entry.file_type() {
            Ok(kind) if kind.is_dir() => fs::remove_dir_all(&path),
            _ => fs::remove_file(&path),
        };
        match removed {
            Ok(()) => tracing::info!(path = %path.display(), "removed a stray temporary CA file"),
            Err(error) => return Err(CaError::Io { path, error }),
        }
    }
    Ok(())
}

/// Writes a new pair into `dir` through a committed staging directory (call under [`lock`], after [`tidy`], with
/// neither file present).
pub fn install(dir: &Path, key_pem: &[u8], cert_pem: &[u8], lock: &CaLock) -> Result<(), CaError> {
    let staging = dir.join(format!("{TMP_PREFIX}{:016x}{TMP_SUFFIX}", rand::random::<u64>()));
    let result = (|| {
        create_private_dir(&staging)?;
        write_synced(&staging.join(KEY_FILE), key_pem, 0o600)?;
        write_synced(&staging.join(CERT_FILE), cert_pem, 0o644)?;
        sync_dir(&staging)?;
        let committed = dir.join(COMMITTED_DIR);
        fs::rename(&staging, &committed).map_err(io_err(&committed))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        // Ours alone (we hold the lock); a leftover is removed by the next start's `tidy` anyway.
        let _ = fs::remove_dir_all(&staging);
    }
    result?;
    tidy(dir, lock)
}

/// Links the committed pair into place when every CA file already present is identical to its committed twin;
/// otherwise the CA in place wins and the committed pair is discarded. Removes the committed directory.
fn roll_forward(dir: &Path, committed: &Path) -> Result<(), CaError> {
    let staged = |name: &str| fs::read(committed.join(name)).ok();
    let pair = staged(CERT_FILE).zip(staged(KEY_FILE));
    let usable = pair.as_ref().is_some_and(|(cert, key)| {
        matching_pair(cert, key)
            && [(CERT_FILE, cert), (KEY_FILE, key)].iter().all(|(name, bytes)| {
                match fs::read(dir.join(name)) {
                    Ok(present) => present == **bytes,
                    Err(error) => error.kind() == io::ErrorKind::NotFound,
                }
            })
    });
    if usable {
        for name in [KEY_FILE, CERT_FILE] {
            let target = dir.join(name);
            match fs::hard_link(committed.join(name), &target) {
                Err(error) if error.kind() != io::ErrorKind::AlreadyExists => {
                    return Err(CaError::Io { path: target, error })
                }
                _ => {}
            }
        }
        tracing::info!(dir = %dir.display(), "completed the CA written by an interrupted start");
    } else {
        tracing::warn!(
            dir = %dir.display(),
            "discarded an unfinished CA that does not match the CA files in place"
        );
    }
    sync_dir(dir)?;
    fs::remove_dir_all(committed).map_err(io_err(committed))?;
    sync_dir(dir)
}

/// Creates `path` (which must not exist) with `mode`, writes `contents` and syncs it to disk.
fn write_synced(path: &Path, contents: &[u8], mode: u32) -> Result<(), CaError> {
    let mut file =
        open_with_mode(OpenOptions::new().write(true).create_new(true), path, mode).map_err(io_err(path))?;
    file.write_all(contents).map_err(io_err(path))?;
    file.sync_all().map_err(io_err(path))
}

/// Makes the entries of `dir` durable (a no-op where directories cannot be opened as files).
fn sync_dir(dir: &Path) -> Result<(), CaError> {
    #[cfg(unix)]
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(unix)]
fn open_with_mode(options: &mut OpenOptions, path: &Path, mode: u32) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    options.mode(mode).open(path)
}

#[cfg(not(unix))]
fn open_with_mode(options: &mut OpenOptions, path: &Path, _mode: u32) -> io::Result<File> {
    options.open(path)
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CaError + '_ {
    move |error| CaError::Io { path: path.to_owned(), error }
}
