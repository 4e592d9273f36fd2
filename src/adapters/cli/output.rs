//! Human output: a table when the result holds one list of records, a two-column table
//! otherwise. `--json` prints the result unchanged.

use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use serde_json::{Map, Value};

pub fn print(v: &Value, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
        return;
    }
    let Some(obj) = v.as_object() else {
        println!("{v}");
        return;
    };
    let lists: Vec<(&String, &Vec<Value>)> = obj
        .iter()
        .filter_map(|(k, v)| v.as_array().filter(|a| a.iter().all(Value::is_object)).map(|a| (k, a)))
        .collect();
    if let [(_, rows)] = lists.as_slice() {
        if rows.is_empty() {
            println!("(none)");
        } else {
            println!("{}", rows_table(rows));
        }
        return;
    }
    println!("{}", kv_table(obj));
}

fn cell(v: &Value) -> String {
    let s = match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(59).collect::<String>())
    } else {
        s
    }
}

fn rows_table(rows: &[Value]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY);
    let cols: Vec<&String> = rows[0].as_object().map(|o| o.keys().collect()).unwrap_or_default();
    t.set_header(cols.iter().map(|c| c.to_uppercase()));
    for r in rows {
        t.add_row(cols.iter().map(|c| cell(&r[c.as_str()])));
    }
    t
}

fn kv_table(obj: &Map<String, Value>) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY);
    for (k, v) in obj {
        t.add_row(vec![k.clone(), cell(v)]);
    }
    t
}
