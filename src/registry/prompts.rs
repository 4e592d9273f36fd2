//! Prompts: the words sh0 gives agents, as plain files in `prompts/` at the top of the
//! repository, embedded in the binary and versioned with the code. Each file is TOML front
//! matter between `+++` lines (name, title, description, arguments) and a body in which
//! `{{argument}}` is replaced by the argument's value. MCP serves them (`prompts/list`,
//! `prompts/get`), so any MCP client gets them; the built-in assistant will use the same.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::ToolError;

/// The files, in the order they are listed.
const FILES: &[(&str, &str)] = &[
    ("assistant.md", include_str!("../../prompts/assistant.md")),
    (
        "diagnose-deployment.md",
        include_str!("../../prompts/diagnose-deployment.md"),
    ),
    ("diagnose-app.md", include_str!("../../prompts/diagnose-app.md")),
    ("deploy-directory.md", include_str!("../../prompts/deploy-directory.md")),
    (
        "review-app-security.md",
        include_str!("../../prompts/review-app-security.md"),
    ),
];

/// The longest argument value accepted (they name apps and paths).
const MAX_VALUE: usize = 512;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptArg {
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub required: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    name: String,
    title: String,
    description: String,
    #[serde(default)]
    arguments: Vec<PromptArg>,
}

/// One prompt and its template.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub name: String,
    pub title: String,
    pub description: String,
    pub arguments: Vec<PromptArg>,
    body: String,
}

impl Prompt {
    fn parse(file: &str, text: &str) -> Result<Self, String> {
        let rest = text
            .strip_prefix("+++\n")
            .ok_or_else(|| format!("{file}: no front matter (`+++` first line)"))?;
        let (head, body) = rest
            .split_once("\n+++\n")
            .ok_or_else(|| format!("{file}: the front matter does not end with `+++`"))?;
        let fm: FrontMatter = toml::from_str(head).map_err(|e| format!("{file}: {e}"))?;
        Ok(Self {
            name: fm.name,
            title: fm.title,
            description: fm.description,
            arguments: fm.arguments,
            body: body.trim().to_owned(),
        })
    }

    /// The body with the arguments in place. A missing required argument, an unknown one,
    /// or a value that is not a short single line is refused; an optional argument left
    /// out reads as empty.
    pub fn render(&self, args: &Map<String, Value>) -> Result<String, ToolError> {
        if let Some(unknown) = args.keys().find(|k| !self.arguments.iter().any(|a| &a.name == *k)) {
            return Err(ToolError::invalid(format!(
                "prompt `{}` takes no argument `{}`",
                self.name,
                unknown.chars().take(64).collect::<String>()
            )));
        }
        let mut text = self.body.clone();
        for a in &self.arguments {
            let value = match args.get(&a.name) {
                Some(Value::String(s)) => s.as_str(),
                Some(_) => return Err(ToolError::invalid(format!("argument `{}` must be a string", a.name))),
                None if a.required => {
                    return Err(ToolError::invalid(format!(
                        "prompt `{}` needs the argument `{}`: {}",
                        self.name, a.name, a.description
                    )));
                }
                None => "",
            };
            if value.len() > MAX_VALUE || value.contains(['\n', '\r', '`']) {
                return Err(ToolError::invalid(format!(
                    "argument `{}` must be one line of at most {MAX_VALUE} bytes, without backquotes",
                    a.name
                )));
            }
            text = text.replace(&format!("{{{{{}}}}}", a.name), value);
        }
        Ok(text)
    }
}

/// Every prompt of `prompts/`. The files are part of the binary, so a malformed one is a
/// build defect, caught by the unit test below.
pub fn all() -> Vec<Prompt> {
    FILES
        .iter()
        .filter_map(|(file, text)| match Prompt::parse(file, text) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::error!(error = %e, "a prompt file is malformed");
                None
            }
        })
        .collect()
}

/// The prompt named `name`.
pub fn get(name: &str) -> Result<Prompt, ToolError> {
    all().into_iter().find(|p| p.name == name).ok_or_else(|| {
        ToolError::not_found(format!(
            "no prompt named `{}`",
            name.chars().take(64).collect::<String>()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_file_parses_and_every_placeholder_is_an_argument() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
        let on_disk = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(on_disk, FILES.len(), "every file of prompts/ is embedded");
        let placeholder = regex::Regex::new(r"\{\{([a-z_]+)\}\}").unwrap();
        for (file, text) in FILES {
            let p = Prompt::parse(file, text).unwrap();
            for c in placeholder.captures_iter(&p.body) {
                assert!(p.arguments.iter().any(|a| a.name == c[1]), "{file}: {{{{{}}}}}", &c[1]);
            }
        }
        assert_eq!(all().len(), FILES.len());
    }

    #[test]
    fn arguments_are_checked_and_filled_in() {
        let p = get("diagnose_app").unwrap();
        let text = p.render(json!({"app": "web"}).as_object().unwrap()).unwrap();
        assert!(text.contains("`web`") && !text.contains("{{"), "{text}");
        assert!(p.render(&Map::new()).is_err());
        assert!(p.render(json!({"app": "web", "x": "y"}).as_object().unwrap()).is_err());
        assert!(
            p.render(json!({"app": "a`\nignore previous"}).as_object().unwrap())
                .is_err()
        );
        assert!(get("nope").is_err());
    }
}
