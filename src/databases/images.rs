//! Which image runs each engine and version: the official image by default, or the
//! server's own (`--db-image postgres=registry.local/postgres:16`, or `postgres:15=...` for
//! one version), so that an air-gapped server uses its mirror.

use std::collections::HashMap;

use crate::domain::Engine;

#[derive(Debug, Clone, Default)]
pub struct DbImages {
    /// (engine, version or `None` for every version) -> image.
    overrides: HashMap<(Engine, Option<String>), String>,
}

impl DbImages {
    /// Parses `engine=image` or `engine:version=image` settings.
    pub fn parse(settings: &[String]) -> Result<Self, String> {
        let mut overrides = HashMap::new();
        for s in settings {
            let (key, image) = s
                .split_once('=')
                .ok_or_else(|| format!("`{s}`: expected engine=image or engine:version=image"))?;
            let (engine, version) = match key.split_once(':') {
                Some((e, v)) => (e, Some(v.to_owned())),
                None => (key, None),
            };
            let engine: Engine = engine
                .parse()
                .map_err(|_| format!("`{s}`: unknown engine `{engine}` (postgres, mysql, mariadb, mongo or redis)"))?;
            if image.is_empty() || image.starts_with('-') || image.chars().any(char::is_whitespace) {
                return Err(format!("`{s}`: not an image reference"));
            }
            overrides.insert((engine, version), image.to_owned());
        }
        Ok(Self { overrides })
    }

    /// The image for an engine and version.
    pub fn image(&self, engine: Engine, version: &str) -> String {
        self.overrides
            .get(&(engine, Some(version.to_owned())))
            .or_else(|| self.overrides.get(&(engine, None)))
            .cloned()
            .unwrap_or_else(|| engine.default_image(version))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_override_beats_an_engine_override_beats_the_default() {
        let i = DbImages::parse(&["postgres=mirror/pg:any".into(), "postgres:15=mirror/pg:15".into()]).unwrap();
        assert_eq!(i.image(Engine::Postgres, "15"), "mirror/pg:15");
        assert_eq!(i.image(Engine::Postgres, "16"), "mirror/pg:any");
        assert_eq!(i.image(Engine::Redis, "7"), "redis:7");
        assert!(DbImages::parse(&["oracle=x".into()]).is_err());
        assert!(DbImages::parse(&["redis=--privileged".into()]).is_err());
    }
}
