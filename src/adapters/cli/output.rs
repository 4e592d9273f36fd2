//! Human output: a table when the result holds one list of records, a two-column table
//! otherwise. `--json` prints the result unchanged.

use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use serde_json::{Map, Value};

/// Text from apps (logs, build output) made safe for an operator's terminal: escape
/// sequences (colours, but also cursor moves, title changes, hyperlinks, clipboard writes)
/// and other control characters are removed, tabs and line ends kept. `--json` output is
/// escaped by JSON itself.
pub fn printable(text: &str) -> String {
    // The stripper drops tabs: strip between them.
    text.split('\t')
        .map(|part| {
            strip_ansi_escapes::strip_str(part)
                .chars()
                .filter(|c| !c.is_control() || *c == '\n')
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\t")
}

pub fn print(v: &Value, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
        return;
    }
    let Some(obj) = v.as_object() else {
        println!("{}", printable(&v.to_string()));
        return;
    };
    // A diagnosis reads as a report, alone or beside the deployment it explains.
    if obj.contains_key("findings") && obj.contains_key("summary") {
        print!("{}", report(v));
        return;
    }
    if let Some(d) = obj.get("diagnosis").filter(|d| d.is_object()) {
        let mut rest = obj.clone();
        rest.remove("diagnosis");
        println!("{}", kv_table(&rest));
        print!("{}", report(d));
        return;
    }
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

/// A diagnosis as text: its summary, then each finding with its evidence (app text made
/// printable), what to change, and the tool calls that fix it.
fn report(d: &Value) -> String {
    use std::fmt::Write;
    let text = |v: &Value| printable(v.as_str().unwrap_or_default());
    let mut out = format!("Diagnosis: {}\n", text(&d["summary"]));
    let findings = d["findings"].as_array().cloned().unwrap_or_default();
    for (i, f) in findings.iter().enumerate() {
        let _ = writeln!(out, "\n{}. [{}] {}", i + 1, text(&f["cause"]), text(&f["summary"]));
        for e in f["evidence"].as_array().into_iter().flatten() {
            let _ = write!(out, "   - {}: {}", text(&e["source"]), text(&e["detail"]));
            if let Some(q) = e["quote"].as_str() {
                let _ = write!(out, "\n       | {}", printable(q));
            }
            out.push('\n');
        }
        if let Some(a) = f["advice"].as_str() {
            let _ = writeln!(out, "   advice: {}", printable(a));
        }
        for c in f["fixes"].as_array().into_iter().flatten() {
            let _ = writeln!(
                out,
                "   fix: {} {}  ({})",
                text(&c["tool"]),
                printable(&c["arguments"].to_string()),
                text(&c["why"])
            );
        }
    }
    out
}

fn cell(v: &Value) -> String {
    let s = match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let s = printable(&s);
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

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn escape_sequences_and_controls_do_not_reach_the_terminal() {
        let hostile =
            "ok \u{1b}[2J\u{1b}]0;owned\u{7}\u{1b}]52;c;ZWNobyBwd25lZA==\u{7}red\u{1b}[31m!\r\u{8}\u{9b}31m\tend";
        assert_eq!(printable(hostile), "ok red!31m\tend");
    }
}
