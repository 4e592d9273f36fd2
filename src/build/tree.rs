//! A directory sh0 did not write — an unpacked upload, a build context, a project on the
//! user's disk — opened as a capability. Every path below it is resolved by cap-std, which
//! asks the kernel to stay beneath the root (`openat2` with `RESOLVE_BENEATH` where Linux
//! has it, a checked component-by-component walk where it does not). A link that leads
//! outside, absolute or through `..`, fails to open instead of being followed, so reading a
//! hostile tree can neither read nor probe a host file. No path is ever judged by string
//! arithmetic on `..` or link targets here.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;

/// Directory levels a walk enters.
const MAX_DEPTH: usize = 64;

/// What one entry of a walk is (links are reported, never followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    Other,
}

/// One entry found by [`SourceTree::walk`]: its `/`-separated path from the root.
#[derive(Debug, Clone)]
pub struct TreeEntry {
    pub rel: String,
    pub kind: EntryKind,
    /// Size in bytes (the link itself for a link).
    pub size: u64,
    /// Permission bits as stored.
    pub mode: u32,
}

/// A directory tree opened beneath its root.
#[derive(Debug)]
pub struct SourceTree {
    dir: Dir,
}

impl SourceTree {
    /// Opens `root`. The root itself is trusted (sh0 chose it); nothing below it is.
    pub fn open(root: &Path) -> io::Result<Self> {
        Ok(Self {
            dir: Dir::open_ambient_dir(root, ambient_authority())?,
        })
    }

    /// The capability itself, for writers (extraction) that need more than reads.
    pub fn dir(&self) -> &Dir {
        &self.dir
    }

    /// The text of `rel` when it is a readable UTF-8 file beneath the root of at most
    /// `max` bytes; `None` for anything else, including a link that leads outside.
    pub fn read_text(&self, rel: impl AsRef<Path>, max: u64) -> Option<String> {
        let file = self.dir.open(rel).ok()?;
        if !file.metadata().ok()?.is_file() {
            return None;
        }
        let mut text = String::new();
        file.take(max + 1).read_to_string(&mut text).ok()?;
        (text.len() as u64 <= max).then_some(text)
    }

    /// Whether `rel` names something beneath the root (a link counts only when it
    /// resolves beneath the root).
    pub fn exists(&self, rel: impl AsRef<Path>) -> bool {
        self.dir.exists(rel)
    }

    /// Whether `rel` is a regular file, or a link to one, beneath the root.
    pub fn is_file(&self, rel: impl AsRef<Path>) -> bool {
        self.dir.is_file(rel)
    }

    /// Whether the root has an entry of that name in any form, a dangling or escaping link
    /// included (so sh0 never writes where something already stands).
    pub fn has_entry(&self, rel: impl AsRef<Path>) -> bool {
        self.dir.symlink_metadata(rel).is_ok()
    }

    /// The names directly under the root.
    pub fn root_names(&self) -> Vec<String> {
        let Ok(entries) = self.dir.entries() else {
            return Vec::new();
        };
        entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }

    /// Every entry below the root, depth first in name order, without following links;
    /// directories for which `skip_dir(name)` is true are not entered. At most `limit`
    /// entries are returned.
    pub fn walk(&self, skip_dir: &dyn Fn(&str) -> bool, limit: usize) -> io::Result<Vec<TreeEntry>> {
        let mut out = Vec::new();
        walk_into(&self.dir, PathBuf::new(), skip_dir, limit, &mut out)?;
        Ok(out)
    }
}

fn walk_into(
    dir: &Dir,
    prefix: PathBuf,
    skip_dir: &dyn Fn(&str) -> bool,
    limit: usize,
    out: &mut Vec<TreeEntry>,
) -> io::Result<()> {
    use cap_std::fs::PermissionsExt;
    let mut entries: Vec<_> = dir.entries()?.collect::<io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        if out.len() >= limit {
            return Ok(());
        }
        let name = entry.file_name();
        let rel = prefix.join(&name);
        // Metadata of the entry itself (lstat): a link is a link.
        let meta = entry.metadata()?;
        let ft = meta.file_type();
        let kind = if ft.is_symlink() {
            EntryKind::Symlink
        } else if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_file() {
            EntryKind::File
        } else {
            EntryKind::Other
        };
        out.push(TreeEntry {
            rel: rel.to_string_lossy().replace('\\', "/"),
            kind,
            size: meta.len(),
            mode: meta.permissions().mode(),
        });
        // Deeper than any real project: not entered (each level holds a descriptor open).
        if kind == EntryKind::Dir && rel.components().count() < MAX_DEPTH && !skip_dir(&name.to_string_lossy()) {
            let sub = entry.open_dir()?;
            walk_into(&sub, rel, skip_dir, limit, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_out_of_the_root_are_not_followed() {
        let base = tempfile::tempdir().unwrap();
        let root = base.path().join("root");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(base.path().join("secret"), "host secret").unwrap();
        std::fs::write(root.join("inside"), "ok").unwrap();
        std::os::unix::fs::symlink("../secret", root.join("up")).unwrap();
        std::os::unix::fs::symlink(base.path().join("secret"), root.join("abs")).unwrap();
        std::os::unix::fs::symlink(".", root.join("s")).unwrap();
        std::os::unix::fs::symlink("s/s/s/../../secret", root.join("chain")).unwrap();
        std::os::unix::fs::symlink("inside", root.join("good")).unwrap();
        let t = SourceTree::open(&root).unwrap();
        for name in ["up", "abs", "chain"] {
            assert_eq!(t.read_text(name, 100), None, "{name}");
            assert!(!t.exists(name), "{name}");
            assert!(t.has_entry(name), "{name}");
        }
        assert_eq!(t.read_text("good", 100).as_deref(), Some("ok"));
        assert_eq!(t.read_text("inside", 1), None, "over the size limit");
        let walked = t.walk(&|_| false, 100).unwrap();
        let names: Vec<_> = walked.iter().map(|e| (e.rel.as_str(), e.kind)).collect();
        assert!(names.contains(&("s", EntryKind::Symlink)));
        assert!(names.contains(&("inside", EntryKind::File)));
    }
}
