//! sh0 as the OAuth 2.1 authorization server of its own MCP endpoint, for remote agents:
//! client registration (RFC 7591, or a Client ID Metadata Document), the authorization
//! request (code flow with PKCE S256 only, redirect URIs compared exactly, one resource:
//! RFC 8707), and the token endpoint (codes used once; short-lived access tokens; refresh
//! tokens rotated on every use, a reused one revoking its grant). The user's consent is a
//! tool (`oauth_consent`), called by a signed-in person from the consent page. A grant's
//! token acts as its user, never beyond their current role (see `authn`).

use serde::{Deserialize, Serialize};
use serde_json::json;
use time::Duration;

use super::{Dispatcher, ErrorKind, ToolError};
use crate::auth::hash_key;
use crate::auth::oauth::{
    check_redirect_uri, is_metadata_document_url, new_access_token, new_refresh_token, pkce_matches, valid_challenge,
};
use crate::domain::{AuthRequestId, ProjectId, Scope, Timestamp, UserId, rfc3339_after};
use crate::store::{ClientRow, GrantRefresh, NewGrant};

/// How an access token begins (adapters tell it from an API key by this).
pub use crate::auth::oauth::ACCESS_PREFIX as OAUTH_ACCESS_PREFIX;

/// Access tokens live 15 minutes; refresh tokens rotate on each use.
pub const OAUTH_ACCESS_TTL: Duration = Duration::minutes(15);
/// Codes are exchanged within a minute or never.
pub const CODE_TTL: Duration = Duration::minutes(1);
/// A consent page stays answerable for ten minutes.
const REQUEST_TTL: Duration = Duration::minutes(10);
/// Registered clients may list at most this many redirect URIs.
const MAX_REDIRECT_URIS: usize = 10;

/// An OAuth error as RFC 6749 §5.2 shapes it (and the HTTP status it is sent with).
#[derive(Debug, Clone, Serialize)]
pub struct OAuthError {
    #[serde(skip)]
    pub status: u16,
    pub error: &'static str,
    pub error_description: String,
}

impl OAuthError {
    fn new(status: u16, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            error_description: description.into(),
        }
    }
    fn request(d: impl Into<String>) -> Self {
        Self::new(400, "invalid_request", d)
    }
    fn grant(d: impl Into<String>) -> Self {
        Self::new(400, "invalid_grant", d)
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::new(500, "server_error", e.to_string())
    }
}

/// The URLs of this server as the client reached it: `https://host` (or `http://` on a
/// local listener) and its MCP endpoint, the one resource tokens are issued for.
#[derive(Debug, Clone)]
pub struct ServerUrls {
    pub issuer: String,
}

impl ServerUrls {
    /// From a request's `X-Forwarded-Proto` (which only sh0's own proxy can set) and
    /// `Host` (which the listener's guard accepts only when it is one of the server's names).
    pub fn of_request(forwarded_proto: Option<&str>, host: Option<&str>) -> Self {
        let https = forwarded_proto.is_some_and(|v| v.eq_ignore_ascii_case("https"));
        Self {
            issuer: format!(
                "{}://{}",
                if https { "https" } else { "http" },
                host.unwrap_or("localhost")
            ),
        }
    }

    pub fn resource(&self) -> String {
        format!("{}/mcp", self.issuer)
    }
}

/// What a client asks for: `read`, `write` or `admin` (the highest named wins), and
/// optionally `project:<name>` to reach one project only.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RequestedScope {
    pub scope: Scope,
    pub project: Option<String>,
}

impl RequestedScope {
    pub fn parse(s: Option<&str>) -> Result<Self, String> {
        let mut scope = None;
        let mut project = None;
        for word in s.unwrap_or("").split_whitespace() {
            match word {
                "read" => scope = scope.max(Some(Scope::Read)),
                "write" => scope = scope.max(Some(Scope::Write)),
                "admin" => scope = scope.max(Some(Scope::Admin)),
                w => match w.strip_prefix("project:") {
                    Some(p) if !p.is_empty() && project.is_none() => project = Some(p.to_owned()),
                    _ => {
                        return Err(format!(
                            "unknown scope `{w}`: use read, write or admin, and project:<name>"
                        ));
                    }
                },
            }
        }
        Ok(Self {
            scope: scope.unwrap_or(Scope::Read),
            project,
        })
    }

    pub fn as_string(&self) -> String {
        match &self.project {
            Some(p) => format!("{} project:{p}", self.scope.as_str()),
            None => self.scope.as_str().to_owned(),
        }
    }
}

/// A dynamic client registration request (RFC 7591), the fields sh0 reads.
#[derive(Debug, Deserialize)]
pub struct RegistrationRequest {
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    pub client_name: Option<String>,
    pub token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    pub grant_types: Vec<String>,
    #[serde(default)]
    pub response_types: Vec<String>,
}

/// The query of `GET /oauth/authorize`.
#[derive(Debug, Deserialize, Default)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub resource: Option<String>,
}

/// An authorization request waiting for its user's consent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingAuthorization {
    pub id: AuthRequestId,
    pub client_id: String,
    pub client_name: String,
    pub redirect_uri: String,
    /// Whether the request named it (then the token request must name it too).
    pub redirect_uri_given: bool,
    pub code_challenge: String,
    pub scope: RequestedScope,
    pub resource: String,
    pub state: Option<String>,
    pub issuer: String,
}

impl PendingAuthorization {
    /// Where the user's browser goes with the answer (RFC 6749 §4.1.2, RFC 9207 `iss`).
    pub fn redirect_with(&self, pairs: &[(&str, &str)]) -> String {
        let mut url = match url::Url::parse(&self.redirect_uri) {
            Ok(u) => u,
            Err(_) => return self.redirect_uri.clone(),
        };
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in pairs {
                q.append_pair(k, v);
            }
            if let Some(s) = &self.state {
                q.append_pair("state", s);
            }
            q.append_pair("iss", &self.issuer);
        }
        url.into()
    }
}

/// A code's content until it is exchanged.
#[derive(Debug, Serialize, Deserialize)]
pub struct CodeGrant {
    pub client_id: String,
    pub client_name: String,
    pub redirect_uri: String,
    pub redirect_uri_given: bool,
    pub code_challenge: String,
    pub user_id: UserId,
    pub scope: Scope,
    pub project_id: Option<ProjectId>,
    pub resource: String,
}

/// Why an authorization request cannot go on, shown to the person on sh0's own page.
#[derive(Debug)]
pub enum AuthorizeError {
    Show(String),
}

/// The body of the token endpoint (`application/x-www-form-urlencoded`).
#[derive(Debug, Deserialize, Default)]
pub struct TokenForm {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub client_id: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub resource: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub refresh_token: String,
    pub scope: String,
}

impl Dispatcher {
    /// RFC 7591 registration of a public client (PKCE, no secret).
    pub fn oauth_register(&self, req: RegistrationRequest) -> Result<serde_json::Value, OAuthError> {
        let invalid = |d: String| OAuthError::new(400, "invalid_client_metadata", d);
        if req.redirect_uris.is_empty() || req.redirect_uris.len() > MAX_REDIRECT_URIS {
            return Err(OAuthError::new(
                400,
                "invalid_redirect_uri",
                format!("give 1 to {MAX_REDIRECT_URIS} redirect_uris"),
            ));
        }
        for uri in &req.redirect_uris {
            check_redirect_uri(uri).map_err(|e| OAuthError::new(400, "invalid_redirect_uri", e))?;
        }
        if req.token_endpoint_auth_method.as_deref().is_some_and(|m| m != "none") {
            return Err(invalid(
                "sh0 registers public clients: token_endpoint_auth_method must be `none` (PKCE protects the code)"
                    .into(),
            ));
        }
        if req
            .grant_types
            .iter()
            .any(|g| g != "authorization_code" && g != "refresh_token")
        {
            return Err(invalid("grant_types: only authorization_code and refresh_token".into()));
        }
        if req.response_types.iter().any(|r| r != "code") {
            return Err(invalid("response_types: only code".into()));
        }
        let name: String = req
            .client_name
            .as_deref()
            .unwrap_or("an unnamed client")
            .chars()
            .filter(|c| !c.is_control())
            .take(100)
            .collect();
        let id = format!("oac_{}", uuid::Uuid::now_v7().simple());
        self.services().store.oauth_client_put(&ClientRow {
            id: id.clone(),
            name: name.clone(),
            redirect_uris: req.redirect_uris.clone(),
            source: "registered".into(),
        })?;
        self.oauth_audit("oauth_register", json!({ "client_id": id, "client_name": name }), None);
        Ok(json!({
            "client_id": id,
            "client_id_issued_at": time::OffsetDateTime::now_utc().unix_timestamp(),
            "client_name": name,
            "redirect_uris": req.redirect_uris,
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        }))
    }

    /// Checks an authorization request and keeps it for the user's consent.
    pub async fn oauth_authorize(
        &self,
        p: AuthorizeParams,
        urls: &ServerUrls,
    ) -> Result<PendingAuthorization, AuthorizeError> {
        let Some(client_id) = p.client_id.as_deref().filter(|c| !c.is_empty()) else {
            return Err(AuthorizeError::Show("the request names no client (client_id)".into()));
        };
        let client = self.oauth_client(client_id).await.map_err(AuthorizeError::Show)?;
        let redirect_uri = match (&p.redirect_uri, client.redirect_uris.as_slice()) {
            (Some(r), uris) if uris.iter().any(|u| redirect_matches(u, r)) => r.clone(),
            (None, [only]) => only.clone(),
            (Some(r), _) => {
                return Err(AuthorizeError::Show(format!(
                    "`{r}` is not a redirect URI registered by {}; nothing was sent to it",
                    client.name
                )));
            }
            (None, _) => return Err(AuthorizeError::Show("the request names no redirect_uri".into())),
        };
        let mut pending = PendingAuthorization {
            id: AuthRequestId::generate(),
            client_id: client.id.clone(),
            client_name: client.name.clone(),
            redirect_uri,
            redirect_uri_given: p.redirect_uri.is_some(),
            code_challenge: String::new(),
            scope: RequestedScope {
                scope: Scope::Read,
                project: None,
            },
            resource: urls.resource(),
            state: p.state.clone(),
            issuer: urls.issuer.clone(),
        };
        // Before the person has seen anything, errors are shown here rather than sent to
        // the redirect URI: registration is open, so redirecting would make sh0 an open
        // redirector (RFC 9700 §4.11.2).
        let back = |_: &PendingAuthorization, error: &str, d: &str| AuthorizeError::Show(format!("{error}: {d}"));
        if p.response_type.as_deref() != Some("code") {
            return Err(back(&pending, "unsupported_response_type", "only response_type=code"));
        }
        match (p.code_challenge.as_deref(), p.code_challenge_method.as_deref()) {
            (Some(c), Some("S256")) if valid_challenge(c) => pending.code_challenge = c.to_owned(),
            _ => {
                return Err(back(
                    &pending,
                    "invalid_request",
                    "PKCE is required: code_challenge with method S256",
                ));
            }
        }
        if let Some(r) = &p.resource
            && r.trim_end_matches('/') != pending.resource
        {
            return Err(back(
                &pending,
                "invalid_target",
                "this server issues tokens only for its own MCP endpoint",
            ));
        }
        pending.scope = match RequestedScope::parse(p.scope.as_deref()) {
            Ok(s) => s,
            Err(e) => return Err(back(&pending, "invalid_scope", &e)),
        };
        self.services()
            .store
            .oauth_request_put(&pending.id, &pending, &rfc3339_after(REQUEST_TTL))
            .map_err(|e| AuthorizeError::Show(format!("could not keep the request: {e}")))?;
        Ok(pending)
    }

    /// A pending request, for the consent page.
    pub fn oauth_pending(&self, id: &AuthRequestId) -> Result<Option<PendingAuthorization>, ToolError> {
        Ok(self.services().store.oauth_request_get(id)?)
    }

    /// A registered client, or one described by the metadata document at its id's URL.
    async fn oauth_client(&self, client_id: &str) -> Result<ClientRow, String> {
        if is_metadata_document_url(client_id) {
            let client = super::oauth_cimd::fetch(client_id).await?;
            self.services()
                .store
                .oauth_client_put(&client)
                .map_err(|e| e.to_string())?;
            return Ok(client);
        }
        match self.services().store.oauth_client_get(client_id) {
            Ok(Some(c)) => Ok(c),
            Ok(None) => Err(format!(
                "`{client_id}` is not a client of this server; register it first"
            )),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The token endpoint: a code (with its PKCE verifier) or a refresh token for tokens.
    pub fn oauth_token(&self, form: TokenForm) -> Result<TokenResponse, OAuthError> {
        let grant_type = form.grant_type.clone().unwrap_or_default();
        let result = match grant_type.as_str() {
            "authorization_code" => self.exchange_code(&form),
            "refresh_token" => self.refresh_grant(&form),
            "" => Err(OAuthError::request("grant_type is missing")),
            _ => Err(OAuthError::new(
                400,
                "unsupported_grant_type",
                "use authorization_code or refresh_token",
            )),
        };
        let outcome = result.as_ref().err().map(|e| e.error);
        let args = json!({ "grant_type": grant_type, "client_id": form.client_id });
        self.oauth_audit("oauth_token", args, outcome);
        result
    }

    fn exchange_code(&self, form: &TokenForm) -> Result<TokenResponse, OAuthError> {
        let store = &self.services().store;
        let code = form
            .code
            .as_deref()
            .ok_or_else(|| OAuthError::request("code is missing"))?;
        let code_hash = hash_key(code);
        let Some((c, live, used)) = store.oauth_code_get::<CodeGrant>(&code_hash)? else {
            return Err(OAuthError::grant("unknown code"));
        };
        if let Some(grant) = used {
            // A code presented twice: whoever holds it may be an attacker. Revoke what it gave.
            store.oauth_grant_revoke(&grant)?;
            return Err(OAuthError::grant(
                "the code was used already; the grant it gave is revoked",
            ));
        }
        if !live {
            return Err(OAuthError::grant("the code expired"));
        }
        if form.client_id.as_deref() != Some(c.client_id.as_str()) {
            return Err(OAuthError::grant("the code was issued to another client"));
        }
        if form.redirect_uri.as_deref() != Some(c.redirect_uri.as_str()) {
            return Err(OAuthError::grant(
                "redirect_uri differs from the authorization request's",
            ));
        }
        let verifier = form
            .code_verifier
            .as_deref()
            .ok_or_else(|| OAuthError::grant("code_verifier is missing (PKCE)"))?;
        if !pkce_matches(verifier, &c.code_challenge) {
            return Err(OAuthError::grant("code_verifier does not match the code_challenge"));
        }
        check_resource(form.resource.as_deref(), &c.resource)?;
        let (access, refresh) = (new_access_token(), new_refresh_token());
        let new = NewGrant {
            user_id: &c.user_id,
            client_id: &c.client_id,
            client_name: &c.client_name,
            scope: c.scope,
            project_id: c.project_id.as_ref(),
            resource: &c.resource,
            access_hash: &hash_key(&access),
            access_expires_at: Timestamp::after(OAUTH_ACCESS_TTL),
            refresh_hash: &hash_key(&refresh),
        };
        if store.oauth_code_exchange(&code_hash, &new)?.is_none() {
            return Err(OAuthError::grant("the code was used already"));
        }
        Ok(self.token_response(access, refresh, c.scope, c.project_id.as_ref()))
    }

    fn refresh_grant(&self, form: &TokenForm) -> Result<TokenResponse, OAuthError> {
        let store = &self.services().store;
        let token = form
            .refresh_token
            .as_deref()
            .ok_or_else(|| OAuthError::request("refresh_token is missing"))?;
        let digest = hash_key(token);
        // Checked before anything rotates: a malformed request changes nothing.
        if let Some(g) = store.oauth_grant_by_refresh(&digest)? {
            let Some(client) = form.client_id.as_deref() else {
                return Err(OAuthError::request("client_id is missing"));
            };
            if client != g.client_id {
                store.oauth_grant_revoke(&g.id)?;
                return Err(OAuthError::grant(
                    "the refresh token belongs to another client; the grant is revoked",
                ));
            }
            check_resource(form.resource.as_deref(), &g.resource)?;
        }
        let (access, refresh) = (new_access_token(), new_refresh_token());
        let rotated = store.oauth_grant_refresh(
            &digest,
            &hash_key(&access),
            Timestamp::after(OAUTH_ACCESS_TTL),
            &hash_key(&refresh),
        )?;
        let grant = match rotated {
            GrantRefresh::Rotated(g) => g,
            GrantRefresh::Reused => {
                return Err(OAuthError::grant(
                    "the refresh token was used already; the grant is revoked",
                ));
            }
            GrantRefresh::Invalid => return Err(OAuthError::grant("unknown or revoked refresh token")),
        };
        Ok(self.token_response(access, refresh, grant.scope, grant.project_id.as_ref()))
    }

    fn token_response(
        &self,
        access: String,
        refresh: String,
        scope: Scope,
        project: Option<&ProjectId>,
    ) -> TokenResponse {
        let project = project
            .and_then(|p| {
                self.services()
                    .store
                    .project_find(&crate::domain::ResourceRef::Project(p.clone()))
                    .ok()
            })
            .map(|p| p.name.to_string());
        TokenResponse {
            access_token: access,
            token_type: "Bearer",
            expires_in: OAUTH_ACCESS_TTL.whole_seconds(),
            refresh_token: refresh,
            scope: RequestedScope { scope, project }.as_string(),
        }
    }

    fn oauth_audit(&self, flow: &'static str, args: serde_json::Value, error: Option<&'static str>) {
        let result: Result<(), ToolError> = match error {
            None => Ok(()),
            Some(e) => Err(ToolError::new(ErrorKind::Unauthenticated, e)),
        };
        let _ = self.record_as(
            "oauth",
            super::Adapter::Rest,
            flow,
            &args,
            &result,
            std::time::Instant::now(),
        );
    }
}

/// Redirect URIs are compared exactly, except the port of a loopback `http` one, which a
/// native app picks when it starts (RFC 8252 §7.3).
fn redirect_matches(registered: &str, given: &str) -> bool {
    if registered == given {
        return true;
    }
    let (Ok(r), Ok(g)) = (url::Url::parse(registered), url::Url::parse(given)) else {
        return false;
    };
    let loopback = |u: &url::Url| u.scheme() == "http" && matches!(u.host_str(), Some("127.0.0.1" | "[::1]"));
    loopback(&r) && loopback(&g) && r.host_str() == g.host_str() && r.path() == g.path() && r.query() == g.query()
}

/// A `resource` on the token request must name the one the grant is for (RFC 8707).
fn check_resource(asked: Option<&str>, granted: &str) -> Result<(), OAuthError> {
    match asked {
        Some(r) if r.trim_end_matches('/') != granted => Err(OAuthError::new(
            400,
            "invalid_target",
            "the token would be for another resource than the one granted",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::RequestedScope;
    use crate::domain::Scope;

    #[test]
    fn scopes() {
        let s = |x: Option<&str>| RequestedScope::parse(x);
        assert_eq!(s(None).unwrap().scope, Scope::Read);
        assert_eq!(s(Some("read write")).unwrap().scope, Scope::Write);
        assert_eq!(s(Some("admin read")).unwrap().scope, Scope::Admin);
        let p = s(Some("write project:shop")).unwrap();
        assert_eq!((p.scope, p.project.as_deref()), (Scope::Write, Some("shop")));
        assert!(s(Some("root")).is_err());
        assert!(s(Some("project:")).is_err());
        assert_eq!(p.as_string(), "write project:shop");
    }
}
