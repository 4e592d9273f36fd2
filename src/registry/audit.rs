//! Redaction of arguments before they are written to the audit log: every value whose
//! schema is marked `writeOnly` (see `domain::SecretString`) becomes `[redacted]`, and long
//! strings are cut, so the log can neither hold a secret nor be inflated by one call.

use serde_json::Value;

const MAX_AUDIT_STRING: usize = 256;

/// Whether `args` gives a value to a property whose schema is marked `writeOnly`.
pub fn holds_write_only(args: &Value, schema: &Value) -> bool {
    if schema.get("writeOnly") == Some(&Value::Bool(true)) {
        return true;
    }
    match args {
        Value::Object(map) => map.iter().any(|(k, v)| {
            let sub = schema.get("properties").and_then(|p| p.get(k)).unwrap_or(&Value::Null);
            holds_write_only(v, sub)
        }),
        Value::Array(items) => {
            let sub = schema.get("items").unwrap_or(&Value::Null);
            items.iter().any(|v| holds_write_only(v, sub))
        }
        _ => false,
    }
}

pub fn redact(args: &Value, schema: &Value) -> Value {
    if schema.get("writeOnly") == Some(&Value::Bool(true)) {
        return Value::String("[redacted]".into());
    }
    match args {
        Value::Object(map) => {
            let props = schema.get("properties");
            Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        let sub = props.and_then(|p| p.get(k)).unwrap_or(&Value::Null);
                        (k.chars().take(64).collect(), redact(v, sub))
                    })
                    .take(64)
                    .collect(),
            )
        }
        Value::Array(items) => {
            let sub = schema.get("items").unwrap_or(&Value::Null);
            Value::Array(items.iter().take(64).map(|v| redact(v, sub)).collect())
        }
        Value::String(s) if s.len() > MAX_AUDIT_STRING => Value::String(format!(
            "{}... ({} bytes)",
            s.chars().take(64).collect::<String>(),
            s.len()
        )),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn write_only_values_are_redacted() {
        let schema = json!({"properties": {"key": {"type": "string"}, "value": {"type": "string", "writeOnly": true}}});
        let out = redact(&json!({"key": "A", "value": "hunter2"}), &schema);
        assert_eq!(out, json!({"key": "A", "value": "[redacted]"}));
        // Unknown fields with no schema are kept (they were refused anyway) but bounded.
        let out = redact(&json!({"x": "y".repeat(1000)}), &schema);
        assert!(out["x"].as_str().unwrap().len() < 100);
    }
}
