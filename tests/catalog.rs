//! The generated contracts under `tools/` match this build: the tool catalog, its readable
//! reference and the OpenAPI document. Regenerate with `SH0_BLESS=1 cargo test --test catalog`.

use std::path::Path;

use sh0::adapters::rest::openapi_document;
use sh0::registry::{Catalog, reference_markdown};

fn check(file: &str, expected: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools").join(file);
    if std::env::var("SH0_BLESS").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, expected).unwrap();
        return;
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "tools/{file} is stale: the tool surface changed. Review the change and run \
         `SH0_BLESS=1 cargo test --test catalog` to regenerate it."
    );
}

#[test]
fn checked_in_contracts_are_current() {
    let registry = sh0::tools::registry();
    let catalog = Catalog::of(&registry, |_| true);
    check(
        "catalog.json",
        &(serde_json::to_string_pretty(&catalog).unwrap() + "\n"),
    );
    check("REFERENCE.md", &reference_markdown(&catalog));
    check(
        "openapi.json",
        &(serde_json::to_string_pretty(&openapi_document(&registry)).unwrap() + "\n"),
    );
}

/// CLI starts compile no validator; `sh0 serve` compiles them all at start. Every input
/// schema must compile (this panics naming the tool if one does not).
#[test]
fn every_input_schema_compiles_to_a_validator() {
    sh0::tools::registry().compile_all();
}

#[test]
fn every_routed_tool_is_in_the_openapi_document() {
    let registry = sh0::tools::registry();
    let doc = openapi_document(&registry);
    for d in registry.iter() {
        let Some(route) = d.meta().http else { continue };
        let op = &doc["paths"][route.path][route.method.as_str().to_lowercase()];
        assert_eq!(
            op["operationId"],
            d.meta().name,
            "{} missing from OpenAPI",
            d.meta().name
        );
    }
}

#[test]
fn every_tool_has_a_description_a_cli_path_and_object_schemas() {
    let mut paths = std::collections::BTreeSet::new();
    let word = regex::Regex::new("^[a-z][a-z0-9-]*$").unwrap();
    for d in sh0::tools::registry().iter() {
        let m = d.meta();
        assert!(m.description.len() > 20, "{}: describe it for a model", m.name);
        let [group, verb] = d.cli();
        assert!(
            word.is_match(group) && word.is_match(verb),
            "{}: cli path {group} {verb}",
            m.name
        );
        assert!(
            paths.insert((group, verb)),
            "{}: `sh0 {group} {verb}` is another tool's",
            m.name
        );
        assert_eq!(d.input_schema()["type"], "object");
        assert_eq!(d.output_schema()["type"], "object");
        assert_eq!(d.input_schema()["additionalProperties"], false);
    }
}
