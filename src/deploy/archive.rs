//! Safe extraction of uploaded source archives (zip, tar.gz, tar). An archive is untrusted
//! input: entries that would land outside the work area (`..`, absolute paths, symlinks or
//! hard links pointing out), too many files, too many bytes once unpacked, or a
//! compression ratio no source tree has (a bomb) are refused — and the work area is
//! removed, so nothing is left behind. Sizes are counted as bytes are written, never taken
//! from headers.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions, Permissions, PermissionsExt};

use crate::build::tree::{EntryKind, SourceTree};

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
    #[error("the archive entry `{0}` is a link to nothing in the archive")]
    DanglingLink(String),
    #[error("the archive entry `{0}` is of a kind sh0 does not unpack (device, fifo)")]
    UnsupportedEntry(String),
    #[error("the archive has more than {MAX_FILES} files and directories")]
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

/// Linux's "too many levels of symbolic links".
const ELOOP: i32 = 40;

/// Maps an I/O error at archive entry `raw` to what the user is told. cap-std answers
/// `PermissionDenied` when a path would lead outside the root, and the kernel `ELOOP` for
/// a cycle of links: both mean the entry tried to escape.
fn at(raw: &str) -> impl Fn(io::Error) -> ArchiveError + '_ {
    move |e| match e.kind() {
        io::ErrorKind::PermissionDenied => ArchiveError::Escapes(raw.to_owned()),
        io::ErrorKind::AlreadyExists => ArchiveError::Corrupt(format!("`{raw}` appears twice in the archive")),
        _ if e.raw_os_error() == Some(ELOOP) => ArchiveError::Escapes(raw.to_owned()),
        _ => ArchiveError::Io(format!("{raw}: {e}")),
    }
}

/// Copies from `r` to a new file at `rel` beneath the root, charging the budget as bytes
/// are written. `create_new`: never follow or overwrite anything an earlier entry put
/// there (a link planted to redirect this write fails with "exists").
fn write_file(
    root: &Dir,
    rel: &Path,
    raw: &str,
    r: &mut dyn Read,
    mode: u32,
    budget: &mut Budget,
) -> Result<(), ArchiveError> {
    make_parent(root, rel, raw)?;
    let mut f = root
        .open_with(rel, OpenOptions::new().write(true).create_new(true))
        .map_err(at(raw))?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = r.read(&mut buf).map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
        if n == 0 {
            break;
        }
        budget.add_bytes(n as u64)?;
        f.write_all(&buf[..n]).map_err(at(raw))?;
    }
    // Keeps the executable bits of the archive, nothing else (no setuid, no world-writable).
    let mode = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
    f.set_permissions(Permissions::from_mode(mode)).map_err(at(raw))
}

fn make_parent(root: &Dir, rel: &Path, raw: &str) -> Result<(), ArchiveError> {
    match rel.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => root.create_dir_all(parent).map_err(at(raw)),
        _ => Ok(()),
    }
}

/// Creates the link `rel -> target`. Whether it stays inside is decided once every entry
/// exists ([`check_links`]), because a link's meaning depends on entries that come later.
fn make_link(root: &Dir, rel: &Path, raw: &str, target: &Path, budget: &mut Budget) -> Result<(), ArchiveError> {
    if target.is_absolute() || target.as_os_str().is_empty() {
        return Err(ArchiveError::LinkEscapes(raw.to_owned()));
    }
    budget.add_file()?;
    make_parent(root, rel, raw)?;
    root.symlink(target, rel).map_err(at(raw))
}

/// Every link must resolve, beneath the root and through any chain of links, to an entry
/// the archive created. The kernel resolves it (cap-std opens beneath the root), so a link
/// through `s -> .` with enough `..` fails exactly as it would escape.
fn check_links(root: &Dir, links: &[(PathBuf, String)]) -> Result<(), ArchiveError> {
    for (rel, raw) in links {
        match root.metadata(rel) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ArchiveError::DanglingLink(raw.clone()));
            }
            Err(_) => return Err(ArchiveError::LinkEscapes(raw.clone())),
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
    let root = Dir::open_ambient_dir(dest, ambient_authority()).map_err(|e| ArchiveError::Io(e.to_string()))?;
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
    let mut links = Vec::new();
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        extract_zip(archive, &root, &mut budget, &mut links)?;
    } else if head.starts_with(&[0x1f, 0x8b]) {
        let f = fs::File::open(archive).map_err(|e| ArchiveError::Io(e.to_string()))?;
        extract_tar(flate2::read::GzDecoder::new(f), &root, &mut budget, &mut links)?;
    } else if head.len() >= 262 && &head[257..262] == b"ustar" {
        let f = fs::File::open(archive).map_err(|e| ArchiveError::Io(e.to_string()))?;
        extract_tar(f, &root, &mut budget, &mut links)?;
    } else {
        return Err(ArchiveError::UnknownFormat);
    }
    if budget.files == 0 {
        return Err(ArchiveError::Empty);
    }
    check_links(&root, &links)?;
    Ok(budget.written)
}

type Links = Vec<(PathBuf, String)>;

fn extract_tar(reader: impl Read, root: &Dir, budget: &mut Budget, links: &mut Links) -> Result<(), ArchiveError> {
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
        let kind = entry.header().entry_type();
        match kind {
            tar::EntryType::Directory => {
                // Directories count too: a stream of directory headers is an inode bomb.
                budget.add_file()?;
                root.create_dir_all(&rel).map_err(at(&raw))?
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                budget.add_file()?;
                let mode = entry.header().mode().unwrap_or(0o644);
                write_file(root, &rel, &raw, &mut entry, mode, budget)?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .ok()
                    .flatten()
                    .ok_or_else(|| ArchiveError::Corrupt(raw.clone()))?;
                make_link(root, &rel, &raw, &target, budget)?;
                links.push((rel, raw));
            }
            tar::EntryType::Link => {
                // A hard link names another entry of the archive by its path from the root.
                let target = entry
                    .link_name()
                    .ok()
                    .flatten()
                    .ok_or_else(|| ArchiveError::Corrupt(raw.clone()))?;
                let src = clean_relative(&target.to_string_lossy())
                    .filter(|s| !s.as_os_str().is_empty())
                    .ok_or_else(|| ArchiveError::LinkEscapes(raw.clone()))?;
                // The source itself must be a regular file the archive created, not a link.
                let is_file = root.symlink_metadata(&src).map(|m| m.is_file()).unwrap_or(false);
                if !is_file {
                    return Err(ArchiveError::LinkEscapes(raw));
                }
                budget.add_file()?;
                // A copy, not a link: nothing in the work area may share an inode with anything.
                let mut from = root.open(&src).map_err(at(&raw))?;
                let mode = from.metadata().map(|m| m.permissions().mode()).unwrap_or(0o644);
                write_file(root, &rel, &raw, &mut from, mode, budget)?;
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

fn extract_zip(archive: &Path, root: &Dir, budget: &mut Budget, links: &mut Links) -> Result<(), ArchiveError> {
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
        let mode = file.unix_mode().unwrap_or(0o644);
        if file.is_dir() {
            budget.add_file()?;
            root.create_dir_all(&rel).map_err(at(&raw))?;
        } else if mode & 0o170000 == 0o120000 {
            let mut target = String::new();
            file.by_ref()
                .take(4096)
                .read_to_string(&mut target)
                .map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
            make_link(root, &rel, &raw, Path::new(&target), budget)?;
            links.push((rel, raw));
        } else {
            budget.add_file()?;
            write_file(root, &rel, &raw, &mut file, mode, budget)?;
        }
    }
    Ok(())
}

/// Packs the tree at `dir` into a tar at `out`, the Docker build context. The tree is read
/// beneath its root; links stay links (Docker resolves them inside the context).
pub fn pack_context(dir: &Path, out: &Path) -> io::Result<()> {
    let tree = SourceTree::open(dir)?;
    let f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)?;
    let mut b = tar::Builder::new(io::BufWriter::new(f));
    for entry in tree.walk(&|_| false, usize::MAX)? {
        let mut h = tar::Header::new_gnu();
        h.set_mode(entry.mode & 0o7777);
        h.set_mtime(0);
        match entry.kind {
            EntryKind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                b.append_data(&mut h, format!("{}/", entry.rel), io::empty())?;
            }
            EntryKind::File => {
                let file = tree.dir().open(&entry.rel)?;
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(file.metadata()?.len());
                b.append_data(&mut h, &entry.rel, file)?;
            }
            EntryKind::Symlink => {
                let target = tree.dir().read_link_contents(&entry.rel)?;
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, &entry.rel, target)?;
            }
            EntryKind::Other => {}
        }
    }
    b.into_inner()?.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_names() {
        assert_eq!(clean_relative("a/./b"), Some(PathBuf::from("a/b")));
        assert_eq!(clean_relative("../x"), None);
        assert_eq!(clean_relative("/etc/passwd"), None);
        assert_eq!(clean_relative("a/../../x"), None);
    }
}
