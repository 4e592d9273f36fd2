//! The dashboard's message catalogs: every language has every key English has (and no
//! other), with the same `{placeholders}`; and every key the dashboard's code names
//! literally exists in English. A missing translation fails here, before any browser runs.

use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const LOCALES: &[&str] = &["fr", "es", "pt", "sw"];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboard/src/lib/i18n")
}

fn catalog(locale: &str) -> Map<String, Value> {
    let path = dir().join(format!("{locale}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match serde_json::from_str(&text) {
        Ok(Value::Object(m)) => m,
        other => panic!("{locale}.json is not a JSON object: {other:?}"),
    }
}

fn placeholders(text: &str) -> BTreeSet<String> {
    let re = regex::Regex::new(r"\{(\w+)\}").unwrap();
    re.captures_iter(text).map(|c| c[1].to_owned()).collect()
}

#[test]
fn every_language_has_every_english_key_with_its_placeholders() {
    let en = catalog("en");
    assert!(en.len() > 200, "the English catalog looks truncated: {} keys", en.len());
    for locale in LOCALES {
        let other = catalog(locale);
        let missing: Vec<&String> = en.keys().filter(|k| !other.contains_key(*k)).collect();
        let extra: Vec<&String> = other.keys().filter(|k| !en.contains_key(*k)).collect();
        assert!(
            missing.is_empty(),
            "{locale}.json lacks {} keys English has: {missing:?}",
            missing.len()
        );
        assert!(extra.is_empty(), "{locale}.json has keys English does not: {extra:?}");
        for (k, v) in &en {
            let theirs = other[k]
                .as_str()
                .unwrap_or_else(|| panic!("{locale}.json {k} is not text"));
            assert!(!theirs.trim().is_empty(), "{locale}.json {k} is empty");
            assert_eq!(
                placeholders(v.as_str().unwrap()),
                placeholders(theirs),
                "{locale}.json {k}: the placeholders differ from English"
            );
        }
    }
}

/// Keys named literally in the code (`t('nav.overview')`), and those built from a prefix
/// (`t(\`role.${r}\`)`) whose every value the code can give is listed here.
#[test]
fn every_key_the_code_names_exists_in_english() {
    let en = catalog("en");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboard/src");
    let literal = regex::Regex::new(r#"\bt\(\s*'([a-z0-9_.]+)'"#).unwrap();
    let mut used = BTreeSet::new();
    let mut stack = vec![src];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "svelte" || x == "ts") {
                let text = std::fs::read_to_string(&p).unwrap();
                for c in literal.captures_iter(&text) {
                    used.insert((c[1].to_owned(), p.display().to_string()));
                }
            }
        }
    }
    assert!(used.len() > 100, "found only {} keys in the code", used.len());
    let missing: Vec<_> = used.iter().filter(|(k, _)| !en.contains_key(k)).collect();
    assert!(missing.is_empty(), "keys used but not in en.json: {missing:?}");
    for (prefix, values) in [
        ("role", &["viewer", "developer", "admin", "owner"][..]),
        ("log", &["connecting", "live", "ended", "retrying"][..]),
        ("job", &["schedule_run", "deploy", "certificate_order", "backup"][..]),
        ("deploy.step", &["queued", "building", "starting", "running"][..]),
    ] {
        for v in values {
            assert!(en.contains_key(&format!("{prefix}.{v}")), "en.json lacks {prefix}.{v}");
        }
    }
}
