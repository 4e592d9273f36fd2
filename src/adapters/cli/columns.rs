//! The columns of a human table. A list result has many fields; a person reading a table
//! needs a few: for apps, the name, project, state, URL and when it last changed; for the
//! lists below, the columns named for them; for other lists, the short scalar fields (no
//! ids beside a name, no nested records, no descriptions), at most six. `--wide` shows
//! every field; `--json` is never reshaped.

use serde_json::{Map, Value};
use std::collections::HashMap;

const MAX_COLUMNS: usize = 6;

/// Lists whose first fields are not the ones that matter.
const CHOSEN: &[(&str, &[&str])] = &[
    (
        "deployment_list",
        &["id", "status", "source", "triggered_by", "created_at", "error"],
    ),
    (
        "backup_list",
        &["id", "database", "status", "size_bytes", "started_at", "reason"],
    ),
    ("cert_list", &["domain", "source", "issuer", "not_after", "days_left"]),
    ("job_list", &["id", "kind", "target", "status", "created_at", "error"]),
    ("audit_list", &["seq", "at", "principal", "adapter", "tool", "outcome"]),
];

/// What an app is doing, in one word: stopped by a user, never deployed, or its
/// container's state as sh0 last saw it.
fn app_status(app: &Value) -> Value {
    if app["stopped"] == true {
        return "stopped".into();
    }
    if app["current_deployment"].is_null() {
        return "never deployed".into();
    }
    app["runtime"]["state"].as_str().unwrap_or("running").into()
}

/// `rows` reduced to the columns a person needs. `projects` maps project ids to names.
pub fn narrow(tool: &str, rows: &[Value], projects: &HashMap<String, String>) -> Vec<Value> {
    if tool == "app_list" {
        return rows
            .iter()
            .map(|a| {
                let project = a["project_id"].as_str().unwrap_or_default();
                let mut m = Map::new();
                m.insert("name".into(), a["name"].clone());
                m.insert(
                    "project".into(),
                    projects
                        .get(project)
                        .map_or_else(|| project.into(), |n| n.as_str().into()),
                );
                m.insert("status".into(), app_status(a));
                m.insert("url".into(), a["url"].clone());
                m.insert("updated".into(), a["updated_at"].clone());
                Value::Object(m)
            })
            .collect();
    }
    // Every field of any row, in the order first seen; a field is a column when it is a
    // scalar in every row that has it.
    let mut fields: Vec<&String> = Vec::new();
    for r in rows.iter().filter_map(Value::as_object) {
        for k in r.keys() {
            if !fields.contains(&k) {
                fields.push(k);
            }
        }
    }
    let scalar = |k: &str| rows.iter().all(|r| !r[k].is_object() && !r[k].is_array());
    let keep: Vec<String> = match CHOSEN.iter().find(|(t, _)| *t == tool) {
        Some((_, cols)) => cols
            .iter()
            .filter(|c| fields.iter().any(|f| f == *c))
            .map(|c| (*c).to_owned())
            .collect(),
        None => {
            let has_name = fields.iter().any(|f| *f == "name");
            fields
                .iter()
                .filter(|k| {
                    let id_beside_name = has_name && (k.as_str() == "id" || k.ends_with("_id"));
                    scalar(k) && !id_beside_name && k.as_str() != "description"
                })
                .take(MAX_COLUMNS)
                .map(|k| (*k).clone())
                .collect()
        }
    };
    rows.iter()
        .map(|r| Value::Object(keep.iter().map(|k| (k.clone(), r[k.as_str()].clone())).collect()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn apps_show_name_project_status_url_and_when() {
        let rows = [json!({
            "id": "app_1", "name": "web", "project_id": "prj_1", "port": 8080, "url": "http://web.localhost",
            "stopped": false, "current_deployment": "dep_1", "runtime": {"state": "oom_killed"},
            "updated_at": "2026-11-30T10:00:00Z", "health": {"path": "/"}
        })];
        let projects = HashMap::from([("prj_1".to_owned(), "demo".to_owned())]);
        let out = narrow("app_list", &rows, &projects);
        assert_eq!(
            out[0],
            json!({"name": "web", "project": "demo", "status": "oom_killed", "url": "http://web.localhost", "updated": "2026-11-30T10:00:00Z"})
        );
        let never = narrow(
            "app_list",
            &[json!({"name": "x", "stopped": false, "current_deployment": null})],
            &projects,
        );
        assert_eq!(never[0]["status"], "never deployed");
    }

    #[test]
    fn other_lists_drop_ids_nested_and_long_fields() {
        let rows = [
            json!({"id": "k1", "name": "ci", "project_id": "p", "scope": "read", "nested": {"a": 1},
            "description": "long", "a": 1, "b": 2, "c": 3, "d": 4, "e": 5}),
        ];
        let out = narrow("key_list", &rows, &HashMap::new());
        let cols: Vec<&String> = out[0].as_object().unwrap().keys().collect();
        assert_eq!(cols, ["name", "scope", "a", "b", "c", "d"]);
        // A field missing from the first row still has its column; one that is a record in
        // any row has none.
        let rows = [
            json!({"name": "a", "x": 1}),
            json!({"name": "b", "x": {"n": 1}, "late": "yes"}),
        ];
        let out = narrow("thing_list", &rows, &HashMap::new());
        assert_eq!(out[1], json!({"name": "b", "late": "yes"}));
        // Chosen columns for the lists that have them.
        let out = narrow(
            "deployment_list",
            &[json!({"id": "d", "app_id": "a", "status": "failed", "error": "boom"})],
            &HashMap::new(),
        );
        assert_eq!(out[0], json!({"id": "d", "status": "failed", "error": "boom"}));
    }
}
