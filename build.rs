//! Recompiles sh0 when the dashboard's build changes: `include_dir!` embeds
//! `dashboard/build` at compile time, but the compiler does not know to look at it again.
//! The build's digest goes into an environment variable the embedding reads, so a
//! changed file changes the crate's inputs.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;

fn walk(dir: &Path, h: &mut DefaultHasher) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, h);
        } else if let Ok(bytes) = std::fs::read(&p) {
            p.hash(h);
            bytes.hash(h);
        }
    }
}

fn main() {
    let build = Path::new("dashboard/build");
    println!("cargo:rerun-if-changed=dashboard/build");
    let mut h = DefaultHasher::new();
    walk(build, &mut h);
    println!("cargo:rustc-env=SH0_DASHBOARD_DIGEST={:016x}", h.finish());
}
