//! The OpenAPI 3.1 document, generated from the same schemas the registry publishes to MCP:
//! one operation per tool route, operationId = tool name.

use serde_json::{Map, Value, json};

use crate::registry::{Registry, ToolDescriptor};

fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["kind", "message"],
                "properties": {
                    "kind": { "type": "string", "enum": ["invalid_input", "unauthenticated", "forbidden", "not_found",
                              "conflict", "confirmation_required", "unprocessable", "unavailable", "internal",
                              "rate_limited", "second_factor_required"] },
                    "message": { "type": "string" },
                    "confirm": { "type": "string", "description": "For confirmation_required: the value to pass as confirm." }
                }
            }
        }
    })
}

/// Strips the keys that only belong at a schema document's root.
fn embeddable(schema: &Value) -> Value {
    let mut s = schema.clone();
    if let Some(o) = s.as_object_mut() {
        o.remove("$schema");
    }
    s
}

fn operation(desc: &ToolDescriptor) -> (String, String, Value) {
    let meta = desc.meta();
    let route = meta.http.expect("only routed tools");
    let path_params = route.path_params();
    let required = desc.required_inputs();
    let mut parameters = Vec::new();
    let mut body_props = Map::new();
    let mut body_required = Vec::new();
    for (name, schema) in desc.input_properties() {
        if path_params.contains(&name) {
            parameters.push(json!({ "name": name, "in": "path", "required": true, "schema": embeddable(schema) }));
        } else if route.method.args_in_query() {
            parameters.push(json!({
                "name": name, "in": "query", "required": required.contains(&name), "schema": embeddable(schema),
                "description": schema.get("description").cloned().unwrap_or(Value::Null),
            }));
        } else {
            body_props.insert(name.to_owned(), embeddable(schema));
            if required.contains(&name) {
                body_required.push(name);
            }
        }
    }
    for p in &mut parameters {
        if p["description"].is_null()
            && let Some(o) = p.as_object_mut()
        {
            o.remove("description");
        }
    }
    let ok_status = if route.method.as_str() == "POST" && !meta.idempotent {
        "201"
    } else {
        "200"
    };
    let err = json!({ "description": "Error", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    let mut op = json!({
        "operationId": meta.name,
        "summary": meta.title,
        "description": meta.description,
        "tags": [desc.cli()[0]],
        "parameters": parameters,
        "responses": {
            ok_status: { "description": "Success", "content": { "application/json": { "schema": embeddable(desc.output_schema()) } } },
            "400": err, "401": err, "403": err, "404": err, "409": err, "500": err,
        },
        "x-sh0-safety": format!("{:?}", meta.safety).to_lowercase(),
        "x-sh0-permission": meta.permission.as_str(),
    });
    if meta.safety == crate::registry::Safety::Destructive {
        op["responses"]["428"] = err.clone();
    }
    if !route.method.args_in_query() {
        op["requestBody"] = json!({
            "required": !body_required.is_empty(),
            "content": { "application/json": { "schema": {
                "type": "object", "properties": body_props, "required": body_required, "additionalProperties": false
            } } }
        });
    }
    (route.path.to_owned(), route.method.as_str().to_lowercase(), op)
}

pub fn openapi_document(registry: &Registry) -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for desc in registry.iter().filter(|d| d.meta().http.is_some()) {
        let (path, method, op) = operation(desc);
        paths.entry(path).or_insert_with(|| json!({}))[method] = op;
    }
    let err = json!({ "description": "Error", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    paths.insert(
        "/api/v1/tools".into(),
        json!({ "get": {
            "operationId": "tools_catalog", "summary": "The tools this credential may call",
            "description": "The catalog of tools visible to the caller, with their schemas.",
            "tags": ["tools"],
            "responses": { "200": { "description": "Catalog", "content": { "application/json": { "schema": {
                "type": "object", "required": ["tools"], "properties": { "tools": { "type": "array", "items": { "type": "object" } } } } } } },
                "401": err }
        } }),
    );
    for (path, item) in super::openapi_auth::paths() {
        paths.insert(path.into(), item);
    }
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "sh0 API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Every operation is a tool of sh0's registry; the same tools are served over MCP at /mcp \
                            and by the sh0 CLI. Authenticate with `Authorization: Bearer sh0_...`.",
        },
        "servers": [{ "url": "/" }],
        "security": [{ "bearer": [] }],
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": { "Error": error_schema() },
        },
    })
}
