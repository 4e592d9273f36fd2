//! From a staged upload to what the engine uses: a build context (unpacked with every
//! guard, a Dockerfile generated when there is none, packed into a tar) or a health-check
//! report. These are the only places sh0 reads or writes inside a tree it did not write,
//! and they do it through [`SourceTree`] — beneath the root, never following a link out.
//! Blocking: callers run them on a blocking thread.

use std::io::Write;
use std::path::{Path, PathBuf};

use cap_std::fs::OpenOptions;

use super::{DeployError, archive};
use crate::build::tree::SourceTree;
use crate::build::{BaseImages, Detection, check};

/// A build context ready to deploy.
#[derive(Debug)]
pub struct Prepared {
    pub context: PathBuf,
    /// What sh0 detected when it generated the Dockerfile (none: the upload had one).
    pub generated: Option<Detection>,
}

/// Unpacks `staged` into `work/src`, makes sure it has a Dockerfile and packs the context
/// into `work/context.tar`. The unpacked tree is removed either way; on failure the caller
/// removes `work`.
pub fn prepare(staged: &Path, work: &Path, images: &BaseImages) -> Result<Prepared, DeployError> {
    prepare_with(staged, work, images, None)
}

/// Like [`prepare`], building `dockerfile` (a path inside the tree) when given: it
/// becomes the context's `Dockerfile`, read beneath the root like everything else.
pub fn prepare_with(
    staged: &Path,
    work: &Path,
    images: &BaseImages,
    dockerfile: Option<&str>,
) -> Result<Prepared, DeployError> {
    let src = work.join("src");
    let result = prepare_in(staged, work, &src, images, dockerfile);
    let _ = std::fs::remove_dir_all(&src);
    result
}

fn prepare_in(
    staged: &Path,
    work: &Path,
    src: &Path,
    images: &BaseImages,
    dockerfile: Option<&str>,
) -> Result<Prepared, DeployError> {
    super::private_dir(work).map_err(|e| DeployError::Io(e.to_string()))?;
    archive::extract(staged, src)?;
    if let Some(rel) = dockerfile.filter(|r| *r != "Dockerfile") {
        use_dockerfile(src, rel)?;
    }
    let tar = work.join("context.tar");
    let generated = build_context(src, &tar, images)?;
    Ok(Prepared {
        context: tar,
        generated,
    })
}

/// Makes sure the tree at `src` has a Dockerfile — any entry of that name (a file, or a
/// link the unpacker proved stays inside) is the project's own, and sh0 writes one only
/// where nothing stands — then packs it into `tar`. Returns what was detected when sh0
/// wrote the Dockerfile.
pub fn build_context(src: &Path, tar: &Path, images: &BaseImages) -> Result<Option<Detection>, DeployError> {
    let tree = SourceTree::open(src).map_err(|e| DeployError::Io(e.to_string()))?;
    let generated = if tree.has_entry("Dockerfile") {
        None
    } else {
        let detection = crate::build::detect_tree(&tree);
        let text = crate::build::generate(&detection, images).map_err(|e| DeployError::NoDockerfile(e.to_string()))?;
        write_new(&tree, "Dockerfile", text.as_bytes())?;
        Some(detection)
    };
    archive::pack_context(src, tar).map_err(|e| DeployError::Io(e.to_string()))?;
    Ok(generated)
}

/// Writes a new file beneath the tree's root: create-new, so it never follows or replaces
/// a link or a file the archive put there.
fn write_new(tree: &SourceTree, rel: &str, data: &[u8]) -> Result<(), DeployError> {
    use cap_std::fs::PermissionsExt;
    let mut f = tree
        .dir()
        .open_with(rel, OpenOptions::new().write(true).create_new(true))
        .map_err(|e| DeployError::Io(format!("{rel}: {e}")))?;
    f.write_all(data).map_err(|e| DeployError::Io(e.to_string()))?;
    f.set_permissions(cap_std::fs::Permissions::from_mode(0o644))
        .map_err(|e| DeployError::Io(e.to_string()))
}

/// Makes the file at `rel` (beneath the tree's root: a link out is refused) the tree's
/// `Dockerfile`, in place of any there.
fn use_dockerfile(src: &Path, rel: &str) -> Result<(), DeployError> {
    let tree = SourceTree::open(src).map_err(|e| DeployError::Io(e.to_string()))?;
    let text = tree.dir().read(rel).map_err(|e| {
        DeployError::NoDockerfile(format!("the Dockerfile `{rel}` cannot be read in the repository: {e}"))
    })?;
    match tree.dir().remove_file("Dockerfile") {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(DeployError::Io(format!("Dockerfile: {e}"))),
    }
    write_new(&tree, "Dockerfile", &text)
}

/// Unpacks `staged` into `work` only to run the project health check on it; `work` is
/// removed afterwards.
pub fn check_upload(staged: &Path, work: &Path) -> Result<check::Report, DeployError> {
    let result = archive::extract(staged, work).map_err(DeployError::from).and_then(|_| {
        let tree = SourceTree::open(work).map_err(|e| DeployError::Io(e.to_string()))?;
        Ok(check::check_tree(&tree))
    });
    let _ = std::fs::remove_dir_all(work);
    result
}
