//! Property tests of the class "a tree sh0 did not write reaches outside its root".
//!
//! Generated archives (tar and zip) with random trees of files, directories, symbolic links
//! (chains, links to links, `..` segments, absolute targets), hard links and `..` names are
//! unpacked; whatever unpacks is then run through stack detection, the health check,
//! Dockerfile generation and context packing. Generated trees made directly on disk (what
//! `sh0 check` and `sh0 push` read on a user's machine) go through the same readers. A
//! folder beside the root holds bait (a `package.json`, a `Dockerfile`, a secret) and is
//! watched with inotify: any open, read, write, creation or change there — or any new
//! entry beside the root — fails the case. The kernel reports the accesses, so a read that
//! leaks nothing into the output is caught too.

use std::io::Write;
use std::path::{Path, PathBuf};

use inotify::{Inotify, WatchMask};
use proptest::prelude::*;
use sh0::build::BaseImages;
use sh0::deploy::{archive, context};

/// Names entries and link targets are made of. `outside` and `..` let links reach the bait.
const PARTS: &[&str] = &[
    "a",
    "b",
    "s",
    "Dockerfile",
    "package.json",
    "Cargo.toml",
    "secret",
    "outside",
    "sub",
    "..",
    ".",
];

#[derive(Debug, Clone)]
enum Kind {
    Dir,
    File(String),
    Symlink(String),
    HardLink(String),
}

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    kind: Kind,
}

fn path_of(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PARTS), 1..=max).prop_map(|p| p.join("/"))
}

/// A link target: relative with `..`s, through other links, or absolute into the bait.
fn target() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => path_of(8),
        1 => path_of(3).prop_map(|p| format!("../../outside/{p}")),
        1 => path_of(2).prop_map(|p| format!("{{ABS}}/{p}")),
        1 => Just("{ABS}".to_string()),
    ]
}

fn entry() -> impl Strategy<Value = Entry> {
    let kind = prop_oneof![
        1 => Just(Kind::Dir),
        2 => prop::sample::select(vec![
            "{\"name\":\"x\",\"main\":\"server.js\",\"scripts\":{\"start\":\"node server.js\"}}",
            "FROM scratch\nEXPOSE 9000\n",
            "[package]\nname = \"app\"\n",
            "hello",
        ])
        .prop_map(|t| Kind::File(t.to_string())),
        3 => target().prop_map(Kind::Symlink),
        1 => path_of(3).prop_map(Kind::HardLink),
    ];
    (path_of(3), kind).prop_map(|(name, kind)| Entry { name, kind })
}

/// The scene: `base/outside` (bait, watched) beside `base/work` (where sh0 works).
struct Scene {
    base: tempfile::TempDir,
    inotify: Inotify,
}

const BAIT_PACKAGE: &str = "{\"name\":\"bait\",\"main\":\"LEAKED_FROM_OUTSIDE.js\",\"scripts\":{\"start\":\"LEAKED\"}}";

impl Scene {
    fn new() -> Self {
        let base = tempfile::tempdir().unwrap();
        let outside = base.path().join("outside");
        std::fs::create_dir_all(outside.join("sub")).unwrap();
        std::fs::write(outside.join("secret"), "LEAKED_SECRET").unwrap();
        std::fs::write(outside.join("package.json"), BAIT_PACKAGE).unwrap();
        std::fs::write(outside.join("Dockerfile"), "FROM leaked\nEXPOSE 1\n").unwrap();
        std::fs::write(outside.join("sub/Cargo.toml"), "[package]\nname = \"leaked\"\n").unwrap();
        std::fs::create_dir(base.path().join("work")).unwrap();
        let inotify = Inotify::init().unwrap();
        let all = WatchMask::ALL_EVENTS;
        inotify.watches().add(&outside, all).unwrap();
        inotify.watches().add(outside.join("sub"), all).unwrap();
        inotify
            .watches()
            .add(base.path(), WatchMask::CREATE | WatchMask::MOVED_TO | WatchMask::DELETE)
            .unwrap();
        Self { base, inotify }
    }

    fn abs(&self) -> String {
        self.base.path().join("outside").display().to_string()
    }

    fn work(&self) -> PathBuf {
        self.base.path().join("work")
    }

    /// Every event the kernel reported on the bait and beside the root.
    fn events(&mut self) -> Vec<String> {
        let mut buf = [0u8; 8192];
        let mut out = Vec::new();
        while let Ok(events) = self.inotify.read_events(&mut buf) {
            let mut any = false;
            for e in events {
                any = true;
                out.push(format!("{:?} {:?}", e.mask, e.name));
            }
            if !any {
                break;
            }
        }
        out
    }
}

fn tar_of(entries: &[Entry], abs: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(0);
        let name = e.name.as_bytes();
        if name.len() > 99 {
            continue;
        }
        let data: &[u8] = match &e.kind {
            Kind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                &[]
            }
            Kind::File(t) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(t.len() as u64);
                t.as_bytes()
            }
            Kind::Symlink(t) | Kind::HardLink(t) => {
                let t = t.replace("{ABS}", abs);
                if t.len() > 99 {
                    continue;
                }
                h.set_entry_type(if matches!(e.kind, Kind::Symlink(_)) {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                });
                h.as_gnu_mut().unwrap().linkname[..t.len()].copy_from_slice(t.as_bytes());
                &[]
            }
        };
        // Raw names: the tar crate's safe setters refuse `..`, an attacker's tool does not.
        h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

fn zip_of(entries: &[Entry], abs: &str) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    for e in entries {
        let ok = match &e.kind {
            Kind::Dir => w.add_directory(e.name.as_str(), opts).is_ok(),
            Kind::File(t) => w.start_file(e.name.as_str(), opts).is_ok() && w.write_all(t.as_bytes()).is_ok(),
            Kind::Symlink(t) => w.add_symlink(e.name.as_str(), t.replace("{ABS}", abs), opts).is_ok(),
            Kind::HardLink(_) => true,
        };
        if !ok {
            return Vec::new();
        }
    }
    w.finish().map(|c| c.into_inner()).unwrap_or_default()
}

/// Runs every reader and writer sh0 has for an uploaded tree over `archive`.
fn exercise_archive(scene: &Scene, archive_bytes: &[u8], n: usize) {
    let staged = scene.work().join(format!("upload-{n}"));
    std::fs::write(&staged, archive_bytes).unwrap();
    let tree = scene.work().join(format!("tree-{n}"));
    if archive::extract(&staged, &tree).is_ok() {
        let _ = sh0::build::detect(&tree);
        let _ = sh0::build::check::check(&tree);
        let _ = archive::pack_context(&tree, &scene.work().join(format!("packed-{n}.tar")));
    }
    let _ = context::prepare(&staged, &scene.work().join(format!("ctx-{n}")), &BaseImages::default());
    let _ = context::check_upload(&staged, &scene.work().join(format!("check-{n}")));
}

/// The same readers over a tree written straight to disk, with nothing refused up front.
fn exercise_tree(scene: &Scene, entries: &[Entry]) {
    let root = scene.work().join("disk");
    std::fs::create_dir_all(&root).unwrap();
    let abs = scene.abs();
    for e in entries {
        // Names with `..` would place the entry itself outside: not what this property is about.
        if e.name.split('/').any(|p| p == "..") {
            continue;
        }
        let p = root.join(&e.name);
        if let Some(parent) = p.parent()
            && !inside(&root, parent)
        {
            continue;
        }
        let _ = match &e.kind {
            Kind::Dir => std::fs::create_dir_all(&p),
            // create_new: the test's own writes never follow a link either.
            Kind::File(t) => std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&p)
                .and_then(|mut f| f.write_all(t.as_bytes())),
            Kind::Symlink(t) => std::os::unix::fs::symlink(t.replace("{ABS}", &abs), &p),
            Kind::HardLink(_) => Ok(()),
        };
    }
    let _ = sh0::build::detect(&root);
    let report = sh0::build::check::check(&root);
    let text = serde_json::to_string(&report).unwrap();
    assert!(!text.contains("LEAKED"), "a finding quotes a host file: {text}");
    let _ = context::build_context(&root, &scene.work().join("disk.tar"), &BaseImages::default());
}

/// Whether `p` (which exists) is really beneath `root`, following links (test-side oracle).
fn inside(root: &Path, p: &Path) -> bool {
    match (root.canonicalize(), p.canonicalize()) {
        (Ok(r), Ok(p)) => p.starts_with(r),
        _ => false,
    }
}

fn assert_untouched(scene: &mut Scene) {
    let events = scene.events();
    assert!(events.is_empty(), "outside the root: {events:?}");
    let mut beside: Vec<String> = std::fs::read_dir(scene.base.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    beside.sort();
    assert_eq!(beside, ["outside", "work"]);
    let out = scene.base.path().join("outside");
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["Dockerfile", "package.json", "secret", "sub"]);
    assert_eq!(std::fs::read_to_string(out.join("package.json")).unwrap(), BAIT_PACKAGE);
}

fn cases() -> u32 {
    std::env::var("SH0_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn uploaded_archives_stay_beneath_their_root(entries in prop::collection::vec(entry(), 1..14)) {
        let mut scene = Scene::new();
        let abs = scene.abs();
        exercise_archive(&scene, &tar_of(&entries, &abs), 0);
        let zip = zip_of(&entries, &abs);
        if !zip.is_empty() {
            exercise_archive(&scene, &zip, 1);
        }
        assert_untouched(&mut scene);
    }

    #[test]
    fn trees_on_disk_are_read_beneath_their_root(entries in prop::collection::vec(entry(), 1..14)) {
        let mut scene = Scene::new();
        exercise_tree(&scene, &entries);
        assert_untouched(&mut scene);
    }
}

/// The reproduced attack, fixed: `s -> .`, a link through `s/s/s/...` with enough `..` to
/// leave, and `Dockerfile` a link to a link to that. Refused at unpack; nothing outside.
#[test]
fn the_reported_chain_is_refused() {
    let mut scene = Scene::new();
    let up = "../".repeat(12);
    let target = format!(
        "s/s/s/s/s/s/{up}{}/created-by-upload",
        scene.abs().trim_start_matches('/')
    );
    let entries = vec![
        Entry {
            name: "package.json".into(),
            kind: Kind::File("{\"name\":\"x\",\"main\":\"$(touch /tmp/pwned).js\"}".into()),
        },
        Entry {
            name: "s".into(),
            kind: Kind::Symlink(".".into()),
        },
        Entry {
            name: "d/X".into(),
            kind: Kind::Symlink(format!("../{target}")),
        },
        Entry {
            name: "d/Y".into(),
            kind: Kind::Symlink("X".into()),
        },
        Entry {
            name: "Dockerfile".into(),
            kind: Kind::Symlink("d/Y".into()),
        },
    ];
    let staged = scene.work().join("upload");
    std::fs::write(&staged, tar_of(&entries, &scene.abs())).unwrap();
    let err = context::prepare(&staged, &scene.work().join("ctx"), &BaseImages::default()).unwrap_err();
    assert!(err.to_string().contains("outside the project directory"), "{err}");
    assert!(!scene.work().join("ctx/src").exists());
    assert_untouched(&mut scene);
}

/// Generated exec-form arguments are JSON strings: quotes and backslashes from
/// package.json stay inside their argument.
#[test]
fn generated_cmd_is_json_escaped() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("package.json"),
        r#"{"name":"x","main":"a\"b\\c\",\"$(id).js"}"#,
    )
    .unwrap();
    let d = sh0::build::detect(dir.path());
    let text = sh0::build::generate(&d, &BaseImages::default()).unwrap();
    let line = text.lines().find(|l| l.starts_with("CMD ")).unwrap();
    let args: Vec<String> = serde_json::from_str(line.trim_start_matches("CMD ")).unwrap();
    assert_eq!(args, ["node", r#"a"b\c","$(id).js"#]);
}
