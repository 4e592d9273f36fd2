//! What leaves the developer's machine. The ignore file hierarchy is `.sh0ignore`
//! (highest), else `.dockerignore`, else `.gitignore`; on top of it, always, the patterns
//! below — secrets (`.env*`), VCS data, dependencies and build output never travel.
//! Matching uses the `ignore` crate's gitignore engine, not hand-written globs.

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Excluded whatever the ignore files say.
pub const ALWAYS_EXCLUDED: &[&str] = &[
    ".git",
    "node_modules",
    ".next",
    ".nuxt",
    ".output",
    "target",
    "__pycache__",
    ".venv",
    "venv",
    ".tox",
    "dist",
    "build",
    ".svelte-kit",
    ".turbo",
    ".cache",
    ".DS_Store",
    "*.pyc",
    "*.pyo",
    ".sh0",
    ".env*",
    ".idea",
    ".vscode",
];

pub const MAX_FILES: usize = 50_000;
pub const MAX_BYTES: u64 = 500 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("{0}")]
    Io(String),
    #[error("the directory has more than {MAX_FILES} files to upload; exclude some in .sh0ignore")]
    TooManyFiles,
    #[error("the directory holds more than {} MB to upload; exclude large files in .sh0ignore", MAX_BYTES / 1024 / 1024)]
    TooLarge,
    #[error("there are no files to upload (everything is excluded by the ignore rules)")]
    Empty,
}

/// The ignore file in effect, if any.
pub fn ignore_file(dir: &Path) -> Option<PathBuf> {
    [".sh0ignore", ".dockerignore", ".gitignore"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
}

/// The matcher for `dir`: the always-excluded patterns plus the chosen ignore file.
pub fn matcher(dir: &Path) -> Result<Gitignore, PackError> {
    let mut b = GitignoreBuilder::new(dir);
    for p in ALWAYS_EXCLUDED {
        b.add_line(None, p).map_err(|e| PackError::Io(e.to_string()))?;
    }
    if let Some(f) = ignore_file(dir)
        && let Some(e) = b.add(&f)
    {
        return Err(PackError::Io(format!("{}: {e}", f.display())));
    }
    // The always-excluded patterns win over a `!` in the user's file: add them again last.
    for p in ALWAYS_EXCLUDED {
        b.add_line(None, p).map_err(|e| PackError::Io(e.to_string()))?;
    }
    b.build().map_err(|e| PackError::Io(e.to_string()))
}

/// The regular files under `dir`, with their paths relative to it (`/`-separated), in
/// the entries `keep(path, is_dir)` accepts. Symbolic links are not followed.
pub fn walk_files(
    dir: &Path,
    keep: impl Fn(&Path, bool) -> bool + Send + Sync + 'static,
) -> impl Iterator<Item = Result<(String, ignore::DirEntry), ignore::Error>> {
    let root = dir.to_path_buf();
    ignore::WalkBuilder::new(dir)
        .standard_filters(false)
        .hidden(false)
        .follow_links(false)
        .filter_entry(move |e| keep(e.path(), e.file_type().is_some_and(|t| t.is_dir())))
        .build()
        .filter(|e| e.as_ref().map_or(true, |e| e.file_type().is_some_and(|t| t.is_file())))
        .map(move |e| {
            e.map(|e| {
                let rel = e
                    .path()
                    .strip_prefix(&root)
                    .unwrap_or(e.path())
                    .to_string_lossy()
                    .replace('\\', "/");
                (rel, e)
            })
        })
}

/// A file to package: path relative to the root, and its size.
#[derive(Debug, Clone)]
pub struct PackFile {
    pub rel: String,
    pub abs: PathBuf,
    pub size: u64,
}

/// Lists the regular files to upload, with the guards applied before anything is read.
/// Symbolic links are not followed and not packaged.
pub fn collect(dir: &Path) -> Result<Vec<PackFile>, PackError> {
    let m = matcher(dir)?;
    let mut files = Vec::new();
    let mut total = 0u64;
    let walker = walk_files(dir, move |path, is_dir| {
        !m.matched_path_or_any_parents(path, is_dir).is_ignore()
    });
    for entry in walker {
        let (rel, entry) = entry.map_err(|e| PackError::Io(e.to_string()))?;
        let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
        total += size;
        if total > MAX_BYTES {
            return Err(PackError::TooLarge);
        }
        files.push(PackFile {
            rel,
            abs: entry.path().to_path_buf(),
            size,
        });
        if files.len() > MAX_FILES {
            return Err(PackError::TooManyFiles);
        }
    }
    if files.is_empty() {
        return Err(PackError::Empty);
    }
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(files)
}

/// An in-memory ZIP of `files`, keeping the executable bit.
pub fn zip(files: &[PackFile]) -> Result<Vec<u8>, PackError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |e: &dyn std::fmt::Display| PackError::Io(e.to_string());
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for f in files {
        let mode = std::fs::metadata(&f.abs)
            .map(|m| m.permissions().mode())
            .unwrap_or(0o644);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(if mode & 0o111 != 0 { 0o755 } else { 0o644 })
            .large_file(f.size > u32::MAX as u64);
        w.start_file(f.rel.as_str(), opts).map_err(|e| io(&e))?;
        let data = std::fs::read(&f.abs).map_err(|e| io(&format!("{}: {e}", f.rel)))?;
        w.write_all(&data).map_err(|e| io(&e))?;
    }
    Ok(w.finish().map_err(|e| io(&e))?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files_and_dependencies_never_travel() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        for f in [
            "index.html",
            ".env",
            ".env.staging",
            ".env.anything",
            "node_modules/x/y.js",
            "src/a.pyc",
            "keep.txt",
        ] {
            std::fs::create_dir_all(p.join(f).parent().unwrap()).unwrap();
            std::fs::write(p.join(f), "x").unwrap();
        }
        std::fs::write(p.join(".sh0ignore"), "keep.txt\n!.env.staging\n").unwrap();
        let names: Vec<String> = collect(p).unwrap().into_iter().map(|f| f.rel).collect();
        assert_eq!(names, vec![".sh0ignore", "index.html"]);
    }
}
