//! Backup destinations: where backups are written. Every server has `local` (its data
//! directory); others — S3-compatible buckets or directories — are added by
//! administrators, each shown to work before it is saved. Their secret keys are sealed and
//! never shown again.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::{Destination, DestinationKind, ResourceName, SecretString};
use crate::registry::HttpMethod::{Delete, Get, Post};
use crate::registry::{HttpRoute, Permission, Safety, Target, Tool, ToolContext, ToolError, ToolMeta};

pub struct DestinationAdd;
pub struct DestinationList;
pub struct DestinationTest;
pub struct DestinationRemove;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DestinationAddInput {
    /// Its name, used by backup_create's destination.
    pub name: ResourceName,
    pub kind: DestinationKind,
    /// Local: an absolute directory of the server.
    #[serde(default)]
    #[schemars(length(min = 1, max = 1024), regex(pattern = r"^/"))]
    pub path: Option<String>,
    /// S3: the endpoint URL, e.g. `https://s3.eu-west-1.amazonaws.com` or a MinIO server's.
    #[serde(default)]
    #[schemars(length(min = 1, max = 1024), regex(pattern = r"^https?://"))]
    pub endpoint: Option<String>,
    /// S3: the bucket.
    #[serde(default)]
    #[schemars(length(min = 3, max = 63), regex(pattern = r"^[a-z0-9][a-z0-9.-]*$"))]
    pub bucket: Option<String>,
    /// S3: the region (default `us-east-1`).
    #[serde(default)]
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[a-z0-9-]+$"))]
    pub region: Option<String>,
    /// S3: the access key id.
    #[serde(default)]
    #[schemars(length(min = 1, max = 256))]
    pub access_key_id: Option<String>,
    /// S3: the secret access key; stored encrypted, never shown again.
    #[serde(default)]
    pub secret_access_key: Option<SecretString>,
    /// A folder inside the bucket or directory.
    #[serde(default)]
    #[schemars(length(min = 1, max = 256), regex(pattern = r"^[A-Za-z0-9._/-]+$"))]
    pub prefix: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DestinationRefInput {
    pub destination: ResourceName,
}

#[derive(Serialize, JsonSchema)]
pub struct DestinationListOutput {
    pub destinations: Vec<Destination>,
}

#[derive(Serialize, JsonSchema)]
pub struct DestinationTestOutput {
    pub destination: String,
    /// A test object was written, read back and deleted.
    pub ok: bool,
}

#[async_trait]
impl Tool for DestinationAdd {
    type Input = DestinationAddInput;
    type Output = Destination;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "backup_destination_add",
            title: "Add a backup destination",
            description: "Add a place to store backups: an S3-compatible bucket (endpoint, bucket, region, keys) or \
                          a directory of the server. sh0 writes, reads back and deletes a test object first and \
                          refuses a destination that does not work. The secret key is stored encrypted.",
            safety: Safety::Write,
            permission: Permission::BackupStorage,
            target: Target::Server,
            http: Some(HttpRoute::new(Post, "/api/v1/backup-destinations")),
            idempotent: false,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: DestinationAddInput) -> Result<Destination, ToolError> {
        let dotted = |p: &str| p.split('/').any(|s| s == ".." || s == ".");
        if input.path.as_deref().is_some_and(dotted) {
            return Err(ToolError::invalid("path: no `.` or `..` components"));
        }
        // The prefix is a folder inside the destination, never a way out of it.
        if input
            .prefix
            .as_deref()
            .is_some_and(|p| dotted(p) || p.starts_with('/') || p.contains("//"))
        {
            return Err(ToolError::invalid(
                "prefix: a relative folder, without `.`, `..` or empty components",
            ));
        }
        let d = Destination {
            name: input.name,
            kind: input.kind,
            path: input.path,
            endpoint: input.endpoint,
            bucket: input.bucket,
            region: input.region,
            access_key_id: input.access_key_id,
            prefix: input.prefix,
        };
        ctx.backups()
            .add_destination(d.clone(), input.secret_access_key)
            .await?;
        Ok(d)
    }
}

#[async_trait]
impl Tool for DestinationList {
    type Input = super::NoInput;
    type Output = DestinationListOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "backup_destination_list",
            title: "List backup destinations",
            description: "The places backups can be stored (never their secret keys); `local` is built in. Only \
                          administrators see where they are (paths, endpoints, buckets).",
            safety: Safety::Read,
            permission: Permission::DatabasesRead,
            target: Target::Server,
            http: Some(HttpRoute::new(Get, "/api/v1/backup-destinations")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, _: super::NoInput) -> Result<DestinationListOutput, ToolError> {
        let mut destinations = ctx.backups().destinations()?;
        // Where they are (paths, endpoints, buckets, key ids) is for those who manage them.
        if !ctx.principal.holds(Permission::BackupStorage) {
            for d in &mut destinations {
                d.path = None;
                d.endpoint = None;
                d.bucket = None;
                d.region = None;
                d.access_key_id = None;
                d.prefix = None;
            }
        }
        Ok(DestinationListOutput { destinations })
    }
}

#[async_trait]
impl Tool for DestinationTest {
    type Input = DestinationRefInput;
    type Output = DestinationTestOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "backup_destination_test",
            title: "Test a backup destination",
            description: "Write, read back and delete a test object at a destination; the error says what failed \
                          (credentials, bucket, network).",
            safety: Safety::Read,
            permission: Permission::BackupStorage,
            target: Target::Server,
            http: Some(HttpRoute::new(Post, "/api/v1/backup-destinations/{destination}/test")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: DestinationRefInput) -> Result<DestinationTestOutput, ToolError> {
        ctx.backups().test_destination(input.destination.as_str()).await?;
        Ok(DestinationTestOutput {
            destination: input.destination.to_string(),
            ok: true,
        })
    }
}

#[async_trait]
impl Tool for DestinationRemove {
    type Input = DestinationRefInput;
    type Output = DestinationTestOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "backup_destination_remove",
            title: "Remove a backup destination",
            description: "Forget a destination that holds no backups (delete them first). Destructive: needs \
                          confirm equal to its name.",
            safety: Safety::Destructive,
            permission: Permission::BackupStorage,
            target: Target::Server,
            http: Some(HttpRoute::new(Delete, "/api/v1/backup-destinations/{destination}")),
            idempotent: false,
        }
    }

    async fn confirmation_target(&self, _: &ToolContext, input: &DestinationRefInput) -> Result<String, ToolError> {
        Ok(input.destination.to_string())
    }

    async fn call(&self, ctx: &ToolContext, input: DestinationRefInput) -> Result<DestinationTestOutput, ToolError> {
        ctx.backups().remove_destination(input.destination.as_str())?;
        Ok(DestinationTestOutput {
            destination: input.destination.to_string(),
            ok: true,
        })
    }
}
