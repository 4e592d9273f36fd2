//! Certificates: list what the edge serves, upload one the user brings (validated before
//! anything is stored), delete one, or renew an automatic one now.

use crate::domain::Timestamp;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::{CertSource, CertificateId, DomainName, SecretString};
use crate::registry::HttpMethod::{Delete, Get, Post};
use crate::registry::{HttpRoute, Permission, Safety, Target, Tool, ToolContext, ToolError, ToolMeta};
use crate::store::CertRow;

pub struct CertList;
pub struct CertUpload;
pub struct CertDelete;
pub struct CertRenew;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CertListInput {}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CertUploadInput {
    /// The domain the certificate is for; it must cover it (exactly or by wildcard).
    pub domain: DomainName,
    /// The certificate chain in PEM, leaf first, then intermediates.
    #[schemars(length(min = 1, max = 65536), extend("contentMediaType" = "application/x-pem-file"))]
    pub certificate_pem: String,
    /// The private key in PEM (PKCS#8, PKCS#1 or SEC1). Stored encrypted, never shown again.
    #[schemars(extend("contentMediaType" = "application/x-pem-file"))]
    pub private_key_pem: SecretString,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CertDeleteInput {
    /// Certificate id, from cert_list.
    pub certificate: CertificateId,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CertRenewInput {
    /// A domain attached to an app, or the panel's domain.
    pub domain: DomainName,
}

#[derive(Serialize, JsonSchema)]
pub struct CertView {
    pub id: String,
    /// The domain it was issued or uploaded for.
    pub domain: String,
    pub source: CertSource,
    /// Every name it covers.
    pub names: Vec<String>,
    pub issuer: String,
    /// Serial number, hex.
    pub serial: String,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    /// Whole days of validity left (negative once expired).
    pub days_left: i64,
}

impl CertView {
    fn of(c: CertRow) -> Self {
        let days_left = (c.not_after.at() - OffsetDateTime::now_utc()).whole_days();
        Self {
            id: c.id.to_string(),
            domain: c.hostname.to_string(),
            source: c.source,
            names: c.names,
            issuer: c.issuer,
            serial: c.serial,
            not_before: c.not_before,
            not_after: c.not_after,
            days_left,
        }
    }
}

#[derive(Serialize, JsonSchema)]
pub struct CertListOutput {
    pub certificates: Vec<CertView>,
}

#[derive(Serialize, JsonSchema)]
pub struct CertDeleteOutput {
    pub deleted: String,
}

#[async_trait]
impl Tool for CertList {
    type Input = CertListInput;
    type Output = CertListOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "cert_list",
            title: "List certificates",
            description: "List the TLS certificates this server holds, automatic (ACME) and uploaded, with the \
                          names they cover, issuer and validity. Private keys are never returned.",
            safety: Safety::Read,
            permission: Permission::SystemRead,
            target: Target::Server,
            http: Some(HttpRoute::new(Get, "/api/v1/certificates")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, _: CertListInput) -> Result<CertListOutput, ToolError> {
        // Owners and admins see every certificate; others those of their projects' domains.
        let mut certificates = Vec::new();
        for c in ctx.store().cert_list()? {
            let shown = ctx.principal.access.unlimited()
                || match ctx.store().domain_get(&c.hostname)? {
                    Some(d) => ctx.reaches_app(&d.app_id)?,
                    None => false,
                };
            if shown {
                certificates.push(CertView::of(c));
            }
        }
        Ok(CertListOutput { certificates })
    }
}

#[async_trait]
impl Tool for CertUpload {
    type Input = CertUploadInput;
    type Output = CertView;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "cert_upload",
            title: "Upload a certificate",
            description: "Serve a certificate you bring (a PEM chain and its private key) for a domain, instead of \
                          an automatic one. It is refused, and nothing changes, when the key does not match, when \
                          it is expired or not yet valid, or when it does not cover the domain. It replaces an \
                          earlier upload for the same domain and is never renewed by sh0.",
            safety: Safety::Write,
            permission: Permission::CertsWrite,
            target: Target::Server,
            http: Some(HttpRoute::new(Post, "/api/v1/certificates")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: CertUploadInput) -> Result<CertView, ToolError> {
        let row = ctx
            .edge()
            .upload(&input.domain, &input.certificate_pem, input.private_key_pem.expose())?;
        Ok(CertView::of(row))
    }
}

#[async_trait]
impl Tool for CertDelete {
    type Input = CertDeleteInput;
    type Output = CertDeleteOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "cert_delete",
            title: "Delete a certificate",
            description: "Delete a certificate. Its names fall back to an automatic certificate (ordered again if \
                          needed) or to plain HTTP. Destructive: needs confirm equal to the certificate's domain.",
            safety: Safety::Destructive,
            permission: Permission::CertsWrite,
            target: Target::Server,
            http: Some(HttpRoute::new(Delete, "/api/v1/certificates/{certificate}")),
            idempotent: false,
        }
    }

    async fn confirmation_target(&self, ctx: &ToolContext, input: &CertDeleteInput) -> Result<String, ToolError> {
        let cert = ctx
            .store()
            .cert_get(&input.certificate)?
            .ok_or_else(|| ToolError::not_found(format!("certificate {} not found", input.certificate)))?;
        Ok(cert.hostname.to_string())
    }

    async fn call(&self, ctx: &ToolContext, input: CertDeleteInput) -> Result<CertDeleteOutput, ToolError> {
        if !ctx.edge().delete_cert(&input.certificate)? {
            return Err(ToolError::not_found(format!(
                "certificate {} not found",
                input.certificate
            )));
        }
        Ok(CertDeleteOutput {
            deleted: input.certificate.to_string(),
        })
    }
}

#[async_trait]
impl Tool for CertRenew {
    type Input = CertRenewInput;
    type Output = CertView;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "cert_renew",
            title: "Renew a certificate now",
            description: "Order a new automatic certificate for a domain now, instead of waiting for the renewal \
                          window or the retry after a failure. Waits for the order (usually seconds) and returns \
                          the new certificate, or the certificate authority's reason for refusing it.",
            safety: Safety::Write,
            permission: Permission::CertsWrite,
            target: Target::Server,
            http: Some(HttpRoute::new(Post, "/api/v1/certificates/renew")),
            idempotent: false,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: CertRenewInput) -> Result<CertView, ToolError> {
        let project = match ctx.store().domain_get(&input.domain)? {
            Some(d) => Some(
                ctx.store()
                    .app_find(&crate::domain::ResourceRef::App(d.app_id))?
                    .project_id,
            ),
            None if ctx.edge().is_panel(&input.domain) => None,
            None => {
                return Err(ToolError::not_found(format!(
                    "domain {} is not attached to an app",
                    input.domain
                )));
            }
        };
        let issued = ctx
            .edge()
            .issue(&input.domain, project.as_ref(), &ctx.initiator())
            .await?;
        Ok(CertView::of(issued))
    }
}
