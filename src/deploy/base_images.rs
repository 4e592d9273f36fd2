//! The base images of generated Dockerfiles as a build sees them: the built-in defaults,
//! then the server's `--base-image` flags, then what an admin stored with
//! `base_images_set`. Stored choices outlive restarts and win over the flags, so a server
//! can be moved to a private registry from the dashboard without editing its unit file.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

use super::{DeployError, Deployer};
use crate::build::BaseImages;
use crate::store::StoreError;

/// The setting holding the stored choices, a JSON object of key to image.
pub const BASE_IMAGES_SETTING: &str = "base_images";

/// Where a base image comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BaseImageSource {
    /// sh0's built-in default.
    Default,
    /// The server's `--base-image` flag.
    Flag,
    /// Stored with `base_images_set`.
    Settings,
}

/// One role's base image, and what it would be without the stored choice.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BaseImageView {
    /// The role, e.g. `node`, `python`, `runtime`, `static`.
    pub key: String,
    /// The image the next generated Dockerfile uses for it.
    pub image: String,
    pub source: BaseImageSource,
    /// The image that applies when the stored choice is reset (the flag's, or the default).
    pub server_image: String,
}

/// A change: images to store per key, and keys whose stored choice is removed.
#[derive(Debug, Default)]
pub struct BaseImagesChange {
    pub set: BTreeMap<String, String>,
    pub reset: Vec<String>,
}

fn parse(stored: Option<&str>) -> Result<BTreeMap<String, String>, StoreError> {
    stored.map_or(Ok(BTreeMap::new()), |s| {
        serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("{BASE_IMAGES_SETTING}: {e}")))
    })
}

/// The flags with the stored choices over them. A stored key the flags no longer know (an
/// older version's role) is skipped rather than failing every build.
fn layered(flags: &BaseImages, stored: &BTreeMap<String, String>) -> Result<BaseImages, String> {
    let known = stored.iter().filter(|(k, _)| flags.keys().any(|f| f == k.as_str()));
    let pairs: Vec<String> = known.map(|(k, v)| format!("{k}={v}")).collect();
    flags.clone().with_overrides(pairs.iter().map(String::as_str))
}

impl Deployer {
    /// The images the next build uses.
    pub fn base_images(&self) -> Result<BaseImages, DeployError> {
        Ok(self.read_base_images()?.0)
    }

    /// Every role with its image and where that comes from.
    pub fn base_images_view(&self) -> Result<Vec<BaseImageView>, DeployError> {
        let (current, stored) = self.read_base_images()?;
        Ok(self.view(&current, &stored))
    }

    /// The images in force and the stored choices they come from, from one read.
    fn read_base_images(&self) -> Result<(BaseImages, BTreeMap<String, String>), DeployError> {
        let stored = parse(self.inner.store.setting_get(BASE_IMAGES_SETTING)?.as_deref())?;
        let current = layered(&self.inner.settings.base_images, &stored)
            .map_err(|e| StoreError::Corrupt(format!("{BASE_IMAGES_SETTING}: {e}")))?;
        Ok((current, stored))
    }

    fn view(&self, current: &BaseImages, stored: &BTreeMap<String, String>) -> Vec<BaseImageView> {
        let (defaults, flags) = (BaseImages::default(), &self.inner.settings.base_images);
        flags
            .keys()
            .map(|k| BaseImageView {
                key: k.to_string(),
                image: current.get(k).to_string(),
                source: if stored.contains_key(k) {
                    BaseImageSource::Settings
                } else if flags.get(k) != defaults.get(k) {
                    BaseImageSource::Flag
                } else {
                    BaseImageSource::Default
                },
                server_image: flags.get(k).to_string(),
            })
            .collect()
    }

    /// Applies a change atomically: an unknown key or a bad image fails the whole change
    /// and the stored choices stay as they were (the new images are made and checked
    /// before anything is written). A key both set and reset is refused.
    pub fn base_images_change(&self, change: BaseImagesChange) -> Result<Vec<BaseImageView>, DeployError> {
        let flags = &self.inner.settings.base_images;
        let known = || flags.keys().collect::<Vec<_>>().join(", ");
        for k in change.set.keys().chain(&change.reset) {
            if !flags.keys().any(|f| f == k) {
                return Err(DeployError::Invalid(format!(
                    "unknown base image `{k}` (known: {})",
                    known()
                )));
            }
        }
        if let Some(k) = change.reset.iter().find(|k| change.set.contains_key(*k)) {
            return Err(DeployError::Invalid(format!("`{k}` is both set and reset")));
        }
        let mut result = None;
        self.inner
            .store
            .setting_update(BASE_IMAGES_SETTING, |old| -> Result<_, DeployError> {
                let mut map = parse(old.as_deref())?;
                map.extend(change.set);
                for k in &change.reset {
                    map.remove(k);
                }
                let current = layered(flags, &map).map_err(DeployError::Invalid)?;
                let value = (!map.is_empty()).then(|| serde_json::to_string(&map).expect("a map of strings"));
                result = Some((current, map));
                Ok(value)
            })?;
        let (current, stored) = result.expect("set by the update");
        Ok(self.view(&current, &stored))
    }
}
