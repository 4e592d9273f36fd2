//! From an input schema to clap arguments, and from parsed arguments back to JSON input.
//! Property `port` becomes `--port <PORT>`; booleans are flags (`true|false` when they may
//! be left unset); enums list their values; objects take JSON and lists take `a,b` or
//! JSON; required properties are required flags. Type checks beyond that are dispatch's job.
//! A property whose schema names a `contentMediaType` (a PEM file, say) also takes `@FILE`,
//! or `@-` for standard input, so a file's content never has to sit in the command line.

use clap::{Arg, ArgAction, ArgMatches, Command};
use serde_json::{Map, Value, json};

use crate::registry::{ToolDescriptor, ToolError};

fn types_of(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    }
}

fn flag_name(prop: &str) -> String {
    prop.replace('_', "-")
}

pub fn command_for(verb: &str, desc: &ToolDescriptor) -> Command {
    let meta = desc.meta();
    let required = desc.required_inputs();
    let mut cmd = Command::new(verb.to_owned())
        .about(meta.title)
        .long_about(meta.description)
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("Print the result as JSON"),
        )
        .arg(
            Arg::new("wide")
                .long("wide")
                .action(ArgAction::SetTrue)
                .conflicts_with("json")
                .help("Show every field of a list, not only the main columns"),
        );
    for (prop, schema) in desc.input_properties() {
        let mut help = schema
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("")
            .replace('\n', " ");
        if takes_file(schema) {
            help.push_str(" Give @FILE to read it from a file, @- from standard input.");
        }
        let mut arg = Arg::new(prop.to_owned()).long(flag_name(prop)).help(help);
        let types = types_of(schema);
        if types.contains(&"boolean") && !types.contains(&"null") {
            arg = arg.action(ArgAction::SetTrue);
        } else if types.contains(&"boolean") {
            // A boolean that may be left unset (keep as is) takes `true` or `false`.
            arg = arg.value_name(prop.to_uppercase()).value_parser(["true", "false"]);
        } else {
            arg = arg.value_name(prop.to_uppercase()).required(required.contains(&prop));
            if let Some(values) = schema.get("enum").and_then(Value::as_array) {
                let values: Vec<String> = values.iter().filter_map(Value::as_str).map(str::to_owned).collect();
                arg = arg.value_parser(values);
            }
        }
        cmd = cmd.arg(arg);
    }
    cmd
}

pub fn input_from(desc: &ToolDescriptor, m: &ArgMatches) -> Result<Value, ToolError> {
    let mut out = Map::new();
    for (prop, schema) in desc.input_properties() {
        let types = types_of(schema);
        if types.contains(&"boolean") && !types.contains(&"null") {
            if m.get_flag(prop) {
                out.insert(prop.to_owned(), Value::Bool(true));
            }
            continue;
        }
        let Some(raw) = m.get_one::<String>(prop) else {
            continue;
        };
        let value = if types.contains(&"boolean") {
            Value::Bool(raw == "true")
        } else if types.contains(&"object") || (types.contains(&"array") && raw.trim_start().starts_with('[')) {
            serde_json::from_str(raw)
                .map_err(|e| ToolError::invalid(format!("--{}: not valid JSON: {e}", flag_name(prop))))?
        } else if types.contains(&"array") {
            // `--projects a,b` for a list of names.
            Value::Array(
                raw.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(|p| Value::String(p.to_owned()))
                    .collect(),
            )
        } else if types.contains(&"integer") {
            raw.parse::<i64>()
                .map(|n| json!(n))
                .map_err(|_| ToolError::invalid(format!("--{}: `{raw}` is not a whole number", flag_name(prop))))?
        } else if types.contains(&"number") {
            raw.parse::<f64>()
                .map(|n| json!(n))
                .map_err(|_| ToolError::invalid(format!("--{}: `{raw}` is not a number", flag_name(prop))))?
        } else if takes_file(schema)
            && let Some(path) = raw.strip_prefix('@')
        {
            Value::String(read_file_arg(prop, path)?)
        } else {
            Value::String(raw.clone())
        };
        out.insert(prop.to_owned(), value);
    }
    Ok(Value::Object(out))
}

fn takes_file(schema: &Value) -> bool {
    schema.get("contentMediaType").is_some()
}

fn read_file_arg(prop: &str, path: &str) -> Result<String, ToolError> {
    let read = if path == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    };
    read.map_err(|e| ToolError::invalid(format!("--{} @{path}: {e}", flag_name(prop))))
}
