//! Safe extraction of uploaded source archives (zip, tar.gz, tar). An archive is untrusted
//! input: entries that would land outside the work area (`..`, absolute paths, symlinks or
//! hard links pointing out), too many files, too many bytes once unpacked, or a
//! compression ratio no source tree has (a bomb) are refused — and the work area is
//! removed, so nothing is left behind. Sizes are counted as bytes are written, never taken
//! from headers.

use std::fs;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

pub const MAX_FILES: usize = 50_000;
pub const MAX_UNPACKED: u64 = 500 * 1024 * 1024;
/// Unpacked bytes per archive byte. Source trees compress 3-10x; 100x is a bomb.
pub const MAX_RATIO: u64 = 100;
/// Below this many unpacked bytes the ratio is not checked (tiny archives compress wildly).
const RATIO_FLOOR: u64 = 10 * 1024 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArchiveError {
    #[error("the archive is neither a zip nor a tar(.gz) file")]
    UnknownFormat,
    #[error("the archive is damaged: {0}")]
    Corrupt(String),
    #[error("the archive entry `{0}` would be written outside the project directory")]
    Escapes(String),
    #[error("the archive entry `{0}` is a link pointing outside the project directory")]
    LinkEscapes(String),
    #[error("the archive entry `{0}` is of a kind sh0 does not unpack (device, fifo)")]
    UnsupportedEntry(String),
    #[error("the archive has more than {MAX_FILES} files")]
    TooManyFiles,
    #[error("the archive unpacks to more than {} MB", MAX_UNPACKED / 1024 / 1024)]
    TooLarge,
    #[error("the archive expands more than {MAX_RATIO} times its size; it looks like a decompression bomb")]
    Bomb,
    #[error("the archive contains no files")]
    Empty,
    #[error("could not write the unpacked files: {0}")]
    Io(String),
}

/// Counts what has been written, against the limits.
struct Budget {
    compressed: u64,
    written: u64,
    files: usize,
}

impl Budget {
    fn add_file(&mut self) -> Result<(), ArchiveError> {
        self.files += 1;
        if self.files > MAX_FILES {
            Err(ArchiveError::TooManyFiles)
        } else {
            Ok(())
        }
    }

    fn add_bytes(&mut self, n: u64) -> Result<(), ArchiveError> {
        self.written += n;
        if self.written > MAX_UNPACKED {
            return Err(ArchiveError::TooLarge);
        }
        if self.written > RATIO_FLOOR && self.written > self.compressed.max(1) * MAX_RATIO {
            return Err(ArchiveError::Bomb);
        }
        Ok(())
    }
}

/// A relative path with no `..`, root or prefix components; `None` if it would escape.
fn clean_relative(name: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(name).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Whether a link at `link` (relative to the root) pointing at `target` stays inside.
fn link_stays_inside(link: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: i64 = link.parent().map(|p| p.components().count() as i64).unwrap_or(0);
    for c in target.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            Component::CurDir => {}
            _ => return false,
        }
    }
    true
}

/// Copies from `r` to a new file at `dest`, charging the budget as bytes are written.
fn write_file(dest: &Path, r: &mut dyn Read, budget: &mut Budget) -> Result<(), ArchiveError> {
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).map_err(|e| ArchiveError::Io(e.to_string()))?;
    }
    // create_new: never follow or overwrite something an earlier entry put there (a
    // symlink planted to redirect this write).
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dest)
        .map_err(|e| ArchiveError::Io(format!("{}: {e}", dest.display())))?;
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = r.read(&mut buf).map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
        if n == 0 {
            break;
        }
        budget.add_bytes(n as u64)?;
        f.write_all(&buf[..n]).map_err(|e| ArchiveError::Io(e.to_string()))?;
    }
    Ok(())
}

/// Refuses to write through a directory that is a symlink (an earlier entry could have
/// planted `a -> /etc` to make `a/passwd` land outside).
fn check_parents(root: &Path, rel: &Path) -> Result<(), ArchiveError> {
    let mut cur = root.to_path_buf();
    if let Some(parent) = rel.parent() {
        for c in parent.components() {
            cur.push(c);
            if fs::symlink_metadata(&cur)
                .map(|m| m.file_type().is_symlink())
                .unwrap_or(false)
            {
                return Err(ArchiveError::Escapes(rel.display().to_string()));
            }
        }
    }
    Ok(())
}

/// Unpacks `archive` into `dest` (which must not exist). On any error `dest` is removed.
pub fn extract(archive: &Path, dest: &Path) -> Result<u64, ArchiveError> {
    let result = extract_inner(archive, dest);
    if result.is_err() {
        let _ = fs::remove_dir_all(dest);
    }
    result
}

fn extract_inner(archive: &Path, dest: &Path) -> Result<u64, ArchiveError> {
    fs::create_dir_all(dest).map_err(|e| ArchiveError::Io(e.to_string()))?;
    let compressed = fs::metadata(archive)
        .map_err(|e| ArchiveError::Io(e.to_string()))?
        .len();
    let mut budget = Budget {
        compressed,
        written: 0,
        files: 0,
    };
    let mut head = [0u8; 262];
    let n = fs::File::open(archive)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| ArchiveError::Io(e.to_string()))?;
    let head = &head[..n];
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        extract_zip(archive, dest, &mut budget)?;
    } else if head.starts_with(&[0x1f, 0x8b]) {
        let f = fs::File::open(archive).map_err(|e| ArchiveError::Io(e.to_string()))?;
        extract_tar(flate2::read::GzDecoder::new(f), dest, &mut budget)?;
    } else if head.len() >= 262 && &head[257..262] == b"ustar" {
        let f = fs::File::open(archive).map_err(|e| ArchiveError::Io(e.to_string()))?;
        extract_tar(f, dest, &mut budget)?;
    } else {
        return Err(ArchiveError::UnknownFormat);
    }
    if budget.files == 0 {
        return Err(ArchiveError::Empty);
    }
    Ok(budget.written)
}

fn extract_tar(reader: impl Read, dest: &Path, budget: &mut Budget) -> Result<(), ArchiveError> {
    let mut ar = tar::Archive::new(reader);
    let entries = ar.entries().map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
        let raw = entry
            .path()
            .map_err(|e| ArchiveError::Corrupt(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        let rel = clean_relative(&raw).ok_or_else(|| ArchiveError::Escapes(raw.clone()))?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        check_parents(dest, &rel)?;
        let target = dest.join(&rel);
        let kind = entry.header().entry_type();
        match kind {
            tar::EntryType::Directory => {
                fs::create_dir_all(&target).map_err(|e| ArchiveError::Io(e.to_string()))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                budget.add_file()?;
                write_file(&target, &mut entry, budget)?;
                set_mode(&target, entry.header().mode().unwrap_or(0o644));
            }
            tar::EntryType::Symlink => {
                let link = entry
                    .link_name()
                    .ok()
                    .flatten()
                    .ok_or_else(|| ArchiveError::Corrupt(raw.clone()))?;
                if !link_stays_inside(&rel, &link) {
                    return Err(ArchiveError::LinkEscapes(raw));
                }
                budget.add_file()?;
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent).map_err(|e| ArchiveError::Io(e.to_string()))?;
                }
                std::os::unix::fs::symlink(&link, &target).map_err(|e| ArchiveError::Io(e.to_string()))?;
            }
            tar::EntryType::Link => {
                // A hard link names another entry of the archive by its path from the root.
                let link = entry
                    .link_name()
                    .ok()
                    .flatten()
                    .ok_or_else(|| ArchiveError::Corrupt(raw.clone()))?;
                let src =
                    clean_relative(&link.to_string_lossy()).ok_or_else(|| ArchiveError::LinkEscapes(raw.clone()))?;
                check_parents(dest, &src)?;
                let src = dest.join(src);
                let meta = fs::symlink_metadata(&src).map_err(|_| ArchiveError::LinkEscapes(raw.clone()))?;
                if !meta.is_file() {
                    return Err(ArchiveError::LinkEscapes(raw));
                }
                budget.add_file()?;
                // A copy, not a link: nothing in the work area may share an inode with anything.
                let mut from = fs::File::open(&src).map_err(|e| ArchiveError::Io(e.to_string()))?;
                write_file(&target, &mut from, budget)?;
            }
            tar::EntryType::XGlobalHeader
            | tar::EntryType::XHeader
            | tar::EntryType::GNULongName
            | tar::EntryType::GNULongLink => {}
            _ => return Err(ArchiveError::UnsupportedEntry(raw)),
        }
    }
    Ok(())
}

fn extract_zip(archive: &Path, dest: &Path, budget: &mut Budget) -> Result<(), ArchiveError> {
    let f = fs::File::open(archive).map_err(|e| ArchiveError::Io(e.to_string()))?;
    let mut zip = zip::ZipArchive::new(f).map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
    if zip.len() > MAX_FILES {
        return Err(ArchiveError::TooManyFiles);
    }
    for i in 0..zip.len() {
        let mut file = zip.by_index(i).map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
        let raw = file.name().to_owned();
        let rel = clean_relative(&raw).ok_or_else(|| ArchiveError::Escapes(raw.clone()))?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        check_parents(dest, &rel)?;
        let target = dest.join(&rel);
        let mode = file.unix_mode().unwrap_or(0o644);
        if file.is_dir() {
            fs::create_dir_all(&target).map_err(|e| ArchiveError::Io(e.to_string()))?;
        } else if mode & 0o170000 == 0o120000 {
            let mut link = String::new();
            file.by_ref()
                .take(4096)
                .read_to_string(&mut link)
                .map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
            if !link_stays_inside(&rel, Path::new(&link)) {
                return Err(ArchiveError::LinkEscapes(raw));
            }
            budget.add_file()?;
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent).map_err(|e| ArchiveError::Io(e.to_string()))?;
            }
            std::os::unix::fs::symlink(&link, &target).map_err(|e| ArchiveError::Io(e.to_string()))?;
        } else {
            budget.add_file()?;
            write_file(&target, &mut file, budget)?;
            set_mode(&target, mode);
        }
    }
    Ok(())
}

/// Keeps the executable bits of the archive, nothing else (no setuid, no world-writable).
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let mode = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
    let _ = fs::set_permissions(path, fs::Permissions::from_mode(mode));
}

/// Packs `dir` into a tar at `out` for the Docker build context. Symlinks stay symlinks.
pub fn pack_context(dir: &Path, out: &Path) -> std::io::Result<()> {
    let f = fs::File::create(out)?;
    let mut b = tar::Builder::new(std::io::BufWriter::new(f));
    b.follow_symlinks(false);
    b.append_dir_all(".", dir)?;
    b.into_inner()?.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_and_links() {
        assert_eq!(clean_relative("a/./b"), Some(PathBuf::from("a/b")));
        assert_eq!(clean_relative("../x"), None);
        assert_eq!(clean_relative("/etc/passwd"), None);
        assert_eq!(clean_relative("a/../../x"), None);
        assert!(link_stays_inside(Path::new("a/b"), Path::new("../c")));
        assert!(!link_stays_inside(Path::new("a/b"), Path::new("../../c")));
        assert!(!link_stays_inside(Path::new("a"), Path::new("/etc")));
    }
}
