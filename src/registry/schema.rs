//! Schemas as the adapters publish them, computed once per tool. Subschemas are inlined
//! (no `$ref`), so the same JSON works unchanged as an MCP input schema, an OpenAPI 3.1
//! schema and a CLI flag source. Destructive tools gain the `confirm` property here, in
//! one place, rather than in every input type.

use serde_json::{Map, Value, json};
use std::sync::Arc;

use super::{DynTool, Safety, ToolMeta};

/// The argument that confirms a destructive call.
pub const CONFIRM_FIELD: &str = "confirm";

/// A draft 2020-12 schema for `T` with every subschema inlined.
pub fn schema_for<T: schemars::JsonSchema>() -> Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| {
            s.inline_subschemas = true;
        })
        .into_generator();
    let mut v = generator.into_root_schema_for::<T>().to_value();
    if let Some(obj) = v.as_object_mut() {
        obj.remove("title");
    }
    v
}

/// A registered tool: the code and its published, compiled schemas.
pub struct ToolDescriptor {
    pub tool: Arc<dyn DynTool>,
    meta: ToolMeta,
    /// `sh0 <group> <verb>`.
    cli: [String; 2],
    input_schema: Value,
    output_schema: Value,
    /// Compiled on first use: a CLI command validates one tool's input (on the server), and
    /// compiling all of them (their patterns are regexes) was most of every CLI start.
    /// `sh0 serve` compiles them all at start (`compile`), so a bad schema fails there.
    validator: std::sync::OnceLock<jsonschema::Validator>,
}

impl ToolDescriptor {
    pub(super) fn new(tool: Arc<dyn DynTool>) -> Self {
        let meta = tool.meta();
        let mut input_schema = tool.input_schema();
        let obj = input_schema.as_object_mut().expect("tool inputs are objects");
        assert_eq!(
            obj.get("type"),
            Some(&json!("object")),
            "{}: input must be an object",
            meta.name
        );
        obj.insert("additionalProperties".into(), Value::Bool(false));
        // An explicit (even empty) `properties` makes unknown fields fail with a message
        // naming them.
        let props = obj.entry("properties").or_insert_with(|| Value::Object(Map::new()));
        if meta.safety == Safety::Destructive {
            props.as_object_mut().expect("properties").insert(
                CONFIRM_FIELD.into(),
                json!({
                    "type": "string",
                    "maxLength": 255,
                    "description": "Confirmation: the exact name of the resource this call deletes. \
                                    Without it the call changes nothing and answers confirmation_required."
                }),
            );
        }
        let output_schema = tool.output_schema();
        assert_eq!(
            output_schema.get("type"),
            Some(&json!("object")),
            "{}: output must be an object",
            meta.name
        );
        let cli = match tool.cli() {
            Some([group, verb]) => [group.to_owned(), verb.to_owned()],
            None => {
                let (group, verb) = meta.name.split_once('_').unwrap_or((meta.name, "run"));
                [group.to_owned(), verb.replace('_', "-")]
            }
        };
        Self {
            tool,
            meta,
            cli,
            input_schema,
            output_schema,
            validator: std::sync::OnceLock::new(),
        }
    }

    /// The input validator, compiled now if it was not yet.
    pub fn compile(&self) -> &jsonschema::Validator {
        self.validator.get_or_init(|| {
            jsonschema::draft202012::new(&self.input_schema)
                .unwrap_or_else(|e| panic!("{}: invalid input schema: {e}", self.meta.name))
        })
    }

    /// The CLI path: `[group, verb]`.
    pub fn cli(&self) -> [&str; 2] {
        [&self.cli[0], &self.cli[1]]
    }

    /// The endpoints beside the tool call that this tool admits.
    pub fn transports(&self) -> &'static [super::Transport] {
        self.tool.transports()
    }

    pub fn meta(&self) -> &ToolMeta {
        &self.meta
    }

    pub fn input_schema(&self) -> &Value {
        &self.input_schema
    }

    pub fn output_schema(&self) -> &Value {
        &self.output_schema
    }

    /// Checks `args` against every constraint of the input schema (rmcp and axum do not),
    /// returning readable messages naming the offending field.
    /// `args` as the audit log would record them: write-only values redacted.
    pub fn redact(&self, args: &Value) -> Value {
        super::audit::redact(args, self.input_schema())
    }

    /// Whether `args` gives a value to a secret (write-only) input.
    pub fn holds_secret(&self, args: &Value) -> bool {
        super::audit::holds_write_only(args, self.input_schema())
    }

    /// Whether the caller could make this call now: its permission, a pending 2FA
    /// enrolment, a limited key's reach and the project the arguments name — what dispatch
    /// checks before running a tool (for tools that arrange a call for later).
    pub fn allows(
        &self,
        store: &crate::store::Store,
        principal: &super::Principal,
        args: &Value,
    ) -> Result<(), super::ToolError> {
        super::Dispatcher::authorize(principal, self.meta())?;
        super::access::check(store, principal, self.meta(), args)
    }

    pub fn validate(&self, args: &Value) -> Result<(), String> {
        let errors: Vec<String> = self
            .compile()
            .iter_errors(args)
            .take(5)
            .map(|e| {
                let path = e.instance_path.to_string();
                let field = path.trim_start_matches('/');
                let msg: String = e.to_string().chars().take(200).collect();
                if field.is_empty() {
                    return msg;
                }
                // A failed pattern says little by itself; the property's description says
                // what a valid value looks like.
                let top = field.split('/').next().unwrap_or(field);
                let hint = self.input_schema["properties"][top]["description"]
                    .as_str()
                    .filter(|_| !field.contains('/'));
                match hint {
                    Some(h) => format!("{field}: {msg} ({h})"),
                    None => format!("{field}: {msg}"),
                }
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// Property names of the input, with their schemas, in declaration order.
    pub fn input_properties(&self) -> Vec<(&str, &Value)> {
        self.input_schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.as_str(), v)).collect())
            .unwrap_or_default()
    }

    pub fn required_inputs(&self) -> Vec<&str> {
        self.input_schema
            .get("required")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }
}
