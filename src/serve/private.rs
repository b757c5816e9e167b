//! The data directory and the private files in it (credentials, kubeconfigs, keys): the
//! directory is its owner's only (0700; one found open to others is tightened, with a warning,
//! or refused if it cannot be), and a private file is 0600 from its first byte — opened with its
//! mode, never changed after it was written — and replaced atomically.

use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use anyhow::Context as _;

/// Creates the data directory 0700, or makes an existing one its owner's only. Returns the
/// warning to show when an existing one had to be tightened.
pub fn own_data_dir(dir: &Path) -> anyhow::Result<Option<String>> {
    if !dir.exists() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
        return Ok(None);
    }
    let mode = fs::metadata(dir).with_context(|| format!("cannot read {}", dir.display()))?.permissions().mode();
    if mode & 0o077 == 0 {
        return Ok(None);
    }
    fs::set_permissions(dir, Permissions::from_mode(mode & 0o700)).with_context(|| {
        format!(
            "the data directory {} is open to others (mode {:o}) and cannot be made its owner's only; run `chmod \
             go-rwx {}` as its owner, or use another --data-dir",
            dir.display(),
            mode & 0o777,
            dir.display()
        )
    })?;
    Ok(Some(format!(
        "the data directory {} was open to others (mode {:o}); it holds credentials and keys, so it is now its \
         owner's only ({:o})",
        dir.display(),
        mode & 0o777,
        mode & 0o700
    )))
}

/// Writes a file only its owner may read, replacing any file at `path` at once.
pub fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    // A file left by a crash keeps its mode when opened again: start from none.
    match fs::remove_file(&tmp) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            return Err(err).with_context(|| format!("cannot replace {}", tmp.display()));
        }
        _ => {}
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(contents.as_bytes()).with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn private_files_are_the_owners_only_even_over_a_stale_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        fs::write(dir.path().join("credentials.tmp"), "left by a crash").unwrap();
        fs::set_permissions(dir.path().join("credentials.tmp"), Permissions::from_mode(0o644)).unwrap();
        write_private(&path, "[default]\n").unwrap();
        assert_eq!((mode(&path), fs::read_to_string(&path).unwrap().as_str()), (0o600, "[default]\n"));
        fs::set_permissions(&path, Permissions::from_mode(0o644)).unwrap();
        write_private(&path, "[other]\n").unwrap();
        assert_eq!(mode(&path), 0o600, "a replaced file is a new file");
    }

    #[test]
    fn the_data_directory_is_created_or_made_the_owners_only() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("data");
        assert_eq!(own_data_dir(&dir).unwrap(), None);
        assert_eq!(mode(&dir), 0o700);
        fs::set_permissions(&dir, Permissions::from_mode(0o755)).unwrap();
        let warning = own_data_dir(&dir).unwrap().unwrap();
        assert!(
            warning.contains("was open to others (mode 755)") && warning.ends_with("owner's only (700)"),
            "{warning}"
        );
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(own_data_dir(&dir).unwrap(), None, "nothing to say the second time");
    }
}
