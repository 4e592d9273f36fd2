//! DESIGN.md §2, enforced: dependencies run one way — domain <- store/docker/build/auth <-
//! jobs (the runner every kind of background work uses) <- proxy/deploy <- tools <- registry's dispatch <- adapters <- server/main — the
//! registry knows no tool (the composition root hands it the list), and the adapters reach
//! the platform only through the registry's public interface (never the store, Docker, the
//! deploy engine or the proxy), and never each other. The test reads every source file's
//! `crate::` paths; a new import across a line fails it with the file that made it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What each layer may use besides itself. `util` is usable by all.
fn allowed() -> BTreeMap<&'static str, &'static [&'static str]> {
    BTreeMap::from([
        ("domain", &[][..]),
        ("util", &[][..]),
        ("store", &["domain"][..]),
        ("docker", &["domain"][..]),
        ("build", &["domain"][..]),
        ("auth", &["domain"][..]),
        // The `git` program: fetches, archives, pushed repositories, deploy keys.
        ("git", &["domain"][..]),
        // The model connection: its settings are stored, its key sealed.
        ("ai", &["domain", "store", "auth"][..]),
        ("jobs", &["domain", "store"][..]),
        // Managed databases: containers of their engines, passwords sealed.
        ("databases", &["domain", "store", "docker", "auth"][..]),
        // Backups of databases: dumps, storage destinations, verification servers.
        (
            "backups",
            &["domain", "store", "docker", "auth", "databases", "jobs"][..],
        ),
        ("proxy", &["domain", "store", "auth", "jobs"][..]),
        (
            "deploy",
            &["domain", "store", "docker", "build", "auth", "jobs", "proxy", "git"][..],
        ),
        // Tools implement the registry's `Tool` trait and read its context: that is the
        // registry's public interface, which sits below dispatch.
        (
            "tools",
            &[
                "domain",
                "store",
                "docker",
                "build",
                "auth",
                "proxy",
                "deploy",
                "jobs",
                "registry",
                "ai",
                "git",
                "databases",
                "backups",
            ][..],
        ),
        (
            "registry",
            &[
                "domain",
                "store",
                "docker",
                "build",
                "auth",
                "proxy",
                "deploy",
                "jobs",
                "ai",
                "git",
                "databases",
                "backups",
            ][..],
        ),
        ("client", &["domain", "registry"][..]),
        // `adapters/mod.rs` only names the adapters.
        ("adapters", &[][..]),
        ("adapters/rest", &["domain", "registry"][..]),
        ("adapters/mcp", &["domain", "registry", "client"][..]),
        ("adapters/cli", &["domain", "registry", "client", "build"][..]),
        (
            "server",
            &[
                "domain",
                "store",
                "docker",
                "build",
                "auth",
                "proxy",
                "deploy",
                "jobs",
                "tools",
                "registry",
                "adapters",
                "client",
                "ai",
                "git",
                "databases",
                "backups",
            ][..],
        ),
    ])
}

/// The layer of a file under `src/`: its top-level module, or `adapters/<name>`.
fn layer_of(rel: &Path) -> Option<String> {
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    match parts.as_slice() {
        [top] if top == "main" || top == "lib" => None,
        [a, b, ..] if a == "adapters" && parts.len() > 2 => Some(format!("adapters/{b}")),
        [top, ..] => Some(top.clone()),
        [] => None,
    }
}

/// The `crate::x` (and `crate::adapters::y`) paths a file names, with the line.
fn imports(text: &str) -> Vec<(usize, String)> {
    let re = regex::Regex::new(r"crate::([a-z_]+)(?:::([a-z_]+))?").unwrap();
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        for c in re.captures_iter(code) {
            let top = c[1].to_owned();
            let target = if top == "adapters" {
                c.get(2).map_or(top.clone(), |m| format!("adapters/{}", m.as_str()))
            } else {
                top
            };
            out.push((n + 1, target));
        }
    }
    out
}

fn violations(src: &Path) -> Vec<String> {
    let rules = allowed();
    let mut out = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let rel = p.strip_prefix(src).unwrap();
            let Some(layer) = layer_of(rel) else { continue };
            let may = rules
                .get(layer.as_str())
                .unwrap_or_else(|| panic!("{}: the layer `{layer}` is not in the layering rules", rel.display()));
            let text = std::fs::read_to_string(&p).unwrap();
            // Unit tests may reach across layers to build what they test.
            let text = text.split("#[cfg(test)]").next().unwrap_or("");
            if layer.starts_with("adapters/") {
                // The domain services behind the registry are not the adapters' to touch.
                for (n, l) in text.lines().enumerate() {
                    if l.contains(".services()") {
                        out.push(format!(
                            "{}:{}: `{layer}` must not reach the services",
                            rel.display(),
                            n + 1
                        ));
                    }
                }
            }
            for (line, target) in imports(text) {
                let same = target == layer || (layer.starts_with("adapters/") && target == "adapters");
                let top = target.split('/').next().unwrap_or("");
                if same || target == "util" || may.contains(&target.as_str()) || may.contains(&top) && top == "adapters"
                {
                    continue;
                }
                out.push(format!("{}:{line}: `{layer}` must not use `{target}`", rel.display()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn dependencies_flow_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = violations(&src);
    assert!(found.is_empty(), "layering violations:\n{}", found.join("\n"));
}

/// The check itself can fail: a deliberate bad import in a copy of a file is reported.
#[test]
fn a_bad_import_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let rest = dir.path().join("adapters/rest");
    std::fs::create_dir_all(&rest).unwrap();
    std::fs::write(
        rest.join("mod.rs"),
        "use crate::store::Store;\nuse crate::registry::Dispatcher;\nfn f(d: &Dispatcher) { d.services(); }\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("registry")).unwrap();
    std::fs::write(
        dir.path().join("registry/mod.rs"),
        "pub fn all() { crate::tools::all(); }\n",
    )
    .unwrap();
    let found: BTreeSet<String> = violations(dir.path()).into_iter().collect();
    assert_eq!(
        found,
        BTreeSet::from([
            "adapters/rest/mod.rs:1: `adapters/rest` must not use `store`".to_owned(),
            "adapters/rest/mod.rs:3: `adapters/rest` must not reach the services".to_owned(),
            "registry/mod.rs:1: `registry` must not use `tools`".to_owned(),
        ])
    );
}
