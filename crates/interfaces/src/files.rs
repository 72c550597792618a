//! Yajin's files on disk are its owner's alone: the data folder 0700, the SQLite database (and
//! so its WAL and shared-memory files, which SQLite creates with the database's mode) and the
//! PII key 0600. What Yajin creates it creates so; what it finds readable by others it warns
//! about at start, naming the file and the command that fixes it.

use std::io;
use std::path::{Path, PathBuf};

/// The file of a `sqlite://` URL (none for an in-memory database).
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

#[cfg(unix)]
mod unix {
    use std::fs::{DirBuilder, OpenOptions};
    use std::io;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    use std::path::Path;

    pub fn create_folder(path: &Path) -> io::Result<()> {
        DirBuilder::new().recursive(true).mode(0o700).create(path)
    }

    pub fn create_file(path: &Path) -> io::Result<()> {
        match OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The permission bits others have (group and world), if any.
    pub fn shared_bits(path: &Path) -> Option<u32> {
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        Some(mode & 0o077).filter(|bits| *bits != 0).map(|_| mode & 0o777)
    }
}

/// Creates the data folder owner-only, or warns if an existing one is open to others.
pub fn private_folder(path: &Path) -> io::Result<()> {
    if !path.exists() {
        #[cfg(unix)]
        return unix::create_folder(path);
        #[cfg(not(unix))]
        return std::fs::create_dir_all(path);
    }
    warn_if_shared(path, "chmod 700");
    Ok(())
}

/// Creates the database file owner-only before SQLite opens it, or warns if it (or its WAL or
/// shared-memory file) is open to others.
pub fn private_file(path: &Path) -> io::Result<()> {
    if !path.exists() {
        #[cfg(unix)]
        return unix::create_file(path);
        #[cfg(not(unix))]
        return Ok(());
    }
    for file in [path.to_owned(), with_suffix(path, "-wal"), with_suffix(path, "-shm")] {
        warn_if_shared(&file, "chmod 600");
    }
    Ok(())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn warn_if_shared(path: &Path, fix: &str) {
    #[cfg(unix)]
    if let Some(mode) = unix::shared_bits(path) {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{mode:o}"),
            "readable by other users of this machine: `{fix} {}`",
            path.display()
        );
    }
    #[cfg(not(unix))]
    let _ = (path, fix);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_of_a_sqlite_url() {
        assert_eq!(
            sqlite_file("sqlite://./yajin-data/yajin.db?mode=rwc"),
            Some(PathBuf::from("./yajin-data/yajin.db"))
        );
        assert_eq!(sqlite_file("sqlite:/var/lib/yajin.db"), Some(PathBuf::from("/var/lib/yajin.db")));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://u@h/db"), None);
    }
}
