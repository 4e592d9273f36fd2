//! Git: an app's repository source, its deploy key's public half, its webhook, the
//! deliveries the webhook received, and preview apps. The secrets (access token, deploy
//! key, webhook secret) are sealed settings (`sealed:<what>:<app>`), re-sealed with every
//! other secret when the master key rotates.

use rusqlite::{OptionalExtension, params};
use schemars::JsonSchema;
use serde::Serialize;

use super::{Store, StoreResult, parse_col};
use crate::domain::{AppId, DeliveryVerdict, DeploymentId, Forge, GitBranch, GitUrl, HookId, RepoPath, Timestamp};

/// The sealed setting holding an app's git access token.
pub fn token_setting(app: &AppId) -> String {
    format!("sealed:git_token:{app}")
}
/// The sealed setting holding an app's deploy key (OpenSSH private key).
pub fn deploy_key_setting(app: &AppId) -> String {
    format!("sealed:deploy_key:{app}")
}
/// The sealed setting holding an app's webhook secret.
pub fn webhook_secret_setting(app: &AppId) -> String {
    format!("sealed:webhook_secret:{app}")
}

/// Where an app's code comes from.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct GitSource {
    pub url: GitUrl,
    pub branch: GitBranch,
    /// The folder of the repository to build (a monorepo's app); the root when absent.
    pub subdir: Option<RepoPath>,
    /// The Dockerfile to build, relative to `subdir`; stack detection when absent and
    /// there is no `Dockerfile`.
    pub dockerfile: Option<RepoPath>,
    pub submodules: bool,
    /// Whether an access token is kept (sealed) for HTTPS.
    pub has_token: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One delivery to an app's webhook, whatever became of it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Delivery {
    pub id: i64,
    pub received_at: Timestamp,
    pub forge: Forge,
    /// The forge's event name (`push`, `pull_request`, `Push Hook`, …), at most 64 characters.
    pub event: String,
    /// The forge's delivery id, when it sent one.
    pub delivery: Option<String>,
    pub verdict: DeliveryVerdict,
    /// What it started, or why nothing.
    pub outcome: String,
    pub deployment_id: Option<DeploymentId>,
}

/// A delivery to record.
pub struct NewDelivery<'a> {
    pub app: &'a AppId,
    pub forge: Forge,
    pub event: &'a str,
    pub delivery: Option<&'a str>,
    pub body_digest: Option<&'a str>,
    pub verdict: DeliveryVerdict,
    pub outcome: &'a str,
    pub deployment: Option<&'a DeploymentId>,
}

/// A preview app of a pull/merge request.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PreviewRow {
    pub app_id: AppId,
    pub parent_id: AppId,
    /// The pull/merge request's number.
    pub number: u32,
    pub branch: Option<GitBranch>,
    pub created_at: Timestamp,
}

impl Store {
    pub fn git_source_get(&self, app: &AppId) -> StoreResult<Option<GitSource>> {
        let conn = self.conn();
        let row = conn
            .query_row(
                "SELECT url, branch, subdir, dockerfile, submodules, has_token, created_at, updated_at \
                 FROM git_sources WHERE app_id = ?1",
                [app.as_str()],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, bool>(4)?,
                        r.get::<_, bool>(5)?,
                        r.get::<_, Timestamp>(6)?,
                        r.get::<_, Timestamp>(7)?,
                    ))
                },
            )
            .optional()?;
        row.map(
            |(url, branch, subdir, dockerfile, submodules, has_token, created_at, updated_at)| {
                Ok(GitSource {
                    url: parse_col(url)?,
                    branch: parse_col(branch)?,
                    subdir: subdir.map(parse_col).transpose()?,
                    dockerfile: dockerfile.map(parse_col).transpose()?,
                    submodules,
                    has_token,
                    created_at,
                    updated_at,
                })
            },
        )
        .transpose()
    }

    /// Sets the app's source; `token`: `Some(Some(sealed))` keeps a new token,
    /// `Some(None)` drops it, `None` leaves it as it is. One transaction.
    pub fn git_source_put(&self, app: &AppId, src: &GitSource, token: Option<Option<String>>) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let key = token_setting(app);
        let has_token = match token {
            Some(Some(sealed)) => {
                tx.execute(
                    "INSERT INTO settings (key, value) VALUES (?1, ?2) \
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    params![key, sealed],
                )?;
                true
            }
            Some(None) => {
                tx.execute("DELETE FROM settings WHERE key = ?1", [&key])?;
                false
            }
            None => {
                tx.query_row("SELECT COUNT(*) FROM settings WHERE key = ?1", [&key], |r| {
                    r.get::<_, i64>(0)
                })? > 0
            }
        };
        tx.execute(
            "INSERT INTO git_sources (app_id, url, branch, subdir, dockerfile, submodules, has_token, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
             ON CONFLICT(app_id) DO UPDATE SET url = excluded.url, branch = excluded.branch, subdir = excluded.subdir, \
             dockerfile = excluded.dockerfile, submodules = excluded.submodules, has_token = excluded.has_token, \
             updated_at = excluded.updated_at",
            params![
                app.as_str(),
                src.url.as_str(),
                src.branch.as_str(),
                src.subdir.as_ref().map(RepoPath::as_str),
                src.dockerfile.as_ref().map(RepoPath::as_str),
                src.submodules,
                has_token,
                src.created_at,
                src.updated_at
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Removes the app's source and its token. Returns whether it had one.
    pub fn git_source_delete(&self, app: &AppId) -> StoreResult<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = tx.execute("DELETE FROM git_sources WHERE app_id = ?1", [app.as_str()])?;
        tx.execute("DELETE FROM settings WHERE key = ?1", [token_setting(app)])?;
        tx.commit()?;
        Ok(n > 0)
    }

    pub fn deploy_key_public(&self, app: &AppId) -> StoreResult<Option<String>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT public_key FROM deploy_keys WHERE app_id = ?1",
                [app.as_str()],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Keeps a new deploy key: the public half, and the private half sealed (base64).
    pub fn deploy_key_put(&self, app: &AppId, public: &str, sealed_private: &str) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO deploy_keys (app_id, public_key, created_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT(app_id) DO UPDATE SET public_key = excluded.public_key, created_at = excluded.created_at",
            params![app.as_str(), public, Timestamp::now()],
        )?;
        tx.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![deploy_key_setting(app), sealed_private],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The hook that acts for the app's webhook.
    pub fn git_webhook_hook(&self, app: &AppId) -> StoreResult<Option<HookId>> {
        let id: Option<String> = self
            .conn()
            .query_row(
                "SELECT hook_id FROM git_webhooks WHERE app_id = ?1",
                [app.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        id.map(parse_col).transpose()
    }

    /// Records the app's webhook (the hook that acts for it and its sealed secret), in
    /// place of any earlier one (whose hook is deleted with it).
    pub fn git_webhook_put(&self, app: &AppId, hook: &HookId, sealed_secret: &str) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "DELETE FROM hooks WHERE id IN (SELECT hook_id FROM git_webhooks WHERE app_id = ?1) AND id != ?2",
            params![app.as_str(), hook.as_str()],
        )?;
        tx.execute(
            "INSERT INTO git_webhooks (app_id, hook_id, created_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT(app_id) DO UPDATE SET hook_id = excluded.hook_id, created_at = excluded.created_at",
            params![app.as_str(), hook.as_str(), Timestamp::now()],
        )?;
        tx.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![webhook_secret_setting(app), sealed_secret],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn delivery_insert(&self, d: &NewDelivery<'_>) -> StoreResult<i64> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO webhook_deliveries (app_id, received_at, forge, event, delivery, body_digest, verdict, outcome, deployment_id) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                d.app.as_str(),
                Timestamp::now(),
                d.forge.as_str(),
                d.event.chars().take(64).collect::<String>(),
                d.delivery.map(|s| s.chars().take(100).collect::<String>()),
                d.body_digest,
                d.verdict.as_str(),
                d.outcome,
                d.deployment.map(DeploymentId::as_str)
            ],
        )?;
        // Keep the newest 500 per app.
        conn.execute(
            "DELETE FROM webhook_deliveries WHERE app_id = ?1 AND id NOT IN \
             (SELECT id FROM webhook_deliveries WHERE app_id = ?1 ORDER BY id DESC LIMIT 500)",
            [d.app.as_str()],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// Completes a recorded delivery with what it started.
    pub fn delivery_set_outcome(&self, id: i64, outcome: &str, deployment: Option<&DeploymentId>) -> StoreResult<()> {
        self.conn().execute(
            "UPDATE webhook_deliveries SET outcome = ?2, deployment_id = ?3 WHERE id = ?1",
            params![id, outcome, deployment.map(DeploymentId::as_str)],
        )?;
        Ok(())
    }

    /// Claims `keys` (a delivery's body digest and id) for `app`: false, claiming nothing,
    /// when any was claimed before — a replay. One transaction, so two copies of one
    /// delivery arriving together cannot both pass.
    pub fn delivery_claim(&self, app: &AppId, keys: &[String]) -> StoreResult<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for key in keys {
            let seen: i64 = tx.query_row(
                "SELECT COUNT(*) FROM webhook_seen WHERE app_id = ?1 AND key = ?2",
                params![app.as_str(), key],
                |r| r.get(0),
            )?;
            if seen > 0 {
                return Ok(false);
            }
        }
        for key in keys {
            tx.execute(
                "INSERT INTO webhook_seen (app_id, key, seen_at) VALUES (?1, ?2, ?3)",
                params![app.as_str(), key, Timestamp::now()],
            )?;
        }
        tx.commit()?;
        Ok(true)
    }

    /// Gives claimed keys back (the delivery started nothing), so the forge may redeliver.
    pub fn delivery_release(&self, app: &AppId, keys: &[String]) -> StoreResult<()> {
        let conn = self.conn();
        for key in keys {
            conn.execute(
                "DELETE FROM webhook_seen WHERE app_id = ?1 AND key = ?2",
                params![app.as_str(), key],
            )?;
        }
        Ok(())
    }

    /// Newest first.
    pub fn delivery_list(&self, app: &AppId, limit: u32) -> StoreResult<Vec<Delivery>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, received_at, forge, event, delivery, verdict, outcome, deployment_id \
             FROM webhook_deliveries WHERE app_id = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![app.as_str(), limit], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Timestamp>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, Option<String>>(7)?,
            ))
        })?;
        rows.map(|row| {
            let (id, received_at, forge, event, delivery, verdict, outcome, dep) = row?;
            Ok(Delivery {
                id,
                received_at,
                forge: parse_col(forge)?,
                event,
                delivery,
                verdict: parse_col(verdict)?,
                outcome,
                deployment_id: dep.map(parse_col).transpose()?,
            })
        })
        .collect()
    }

    pub fn preview_insert(&self, p: &PreviewRow) -> StoreResult<()> {
        self.conn().execute(
            "INSERT INTO previews (app_id, parent_id, number, branch, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                p.app_id.as_str(),
                p.parent_id.as_str(),
                p.number,
                p.branch.as_ref().map(GitBranch::as_str),
                p.created_at
            ],
        )?;
        Ok(())
    }

    /// The previews of `parent`, by number.
    pub fn preview_list(&self, parent: &AppId) -> StoreResult<Vec<PreviewRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT app_id, parent_id, number, branch, created_at FROM previews WHERE parent_id = ?1 ORDER BY number",
        )?;
        let rows = stmt.query_map([parent.as_str()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, u32>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Timestamp>(4)?,
            ))
        })?;
        rows.map(|row| {
            let (app, parent, number, branch, created_at) = row?;
            Ok(PreviewRow {
                app_id: parse_col(app)?,
                parent_id: parse_col(parent)?,
                number,
                branch: branch.map(parse_col).transpose()?,
                created_at,
            })
        })
        .collect()
    }

    /// The preview row of app `app`, when it is one.
    pub fn preview_of(&self, app: &AppId) -> StoreResult<Option<PreviewRow>> {
        let parent: Option<String> = self
            .conn()
            .query_row(
                "SELECT parent_id FROM previews WHERE app_id = ?1",
                [app.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        match parent {
            Some(p) => Ok(self
                .preview_list(&parse_col(p)?)?
                .into_iter()
                .find(|r| &r.app_id == app)),
            None => Ok(None),
        }
    }
}
