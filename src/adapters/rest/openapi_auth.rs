//! The account endpoints in the OpenAPI document. They are not tools (a browser has no
//! credential yet when it calls them), so they are described here, next to their routes'
//! module, and fuzzed with the rest.

use serde_json::{Value, json};

fn body(properties: Value, required: &[&str]) -> Value {
    json!({
        "required": true,
        "content": { "application/json": { "schema": {
            "type": "object", "properties": properties, "required": required, "additionalProperties": false
        } } }
    })
}

fn session(status: &str, description: &str) -> Value {
    let err = json!({ "description": "Error", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    json!({
        status: {
            "description": description,
            "headers": { "Set-Cookie": { "schema": { "type": "string" },
                "description": "The access, refresh and CSRF cookies (`__Host-` prefixed over HTTPS)." } },
            "content": { "application/json": { "schema": {
                "type": "object",
                "required": ["user", "csrf_token", "access_expires_in"],
                "properties": {
                    "user": { "type": "object", "properties": {
                        "id": { "type": "string" }, "email": { "type": "string" }, "name": { "type": "string" },
                        "role": { "type": "string", "enum": ["viewer", "developer", "admin", "owner"] },
                        "two_factor": { "type": "boolean" } } },
                    "csrf_token": { "type": "string", "description": "Echo it in X-CSRF-Token on changes." },
                    "access_expires_in": { "type": "integer" }
                }
            } } }
        },
        "400": err, "401": err, "403": err, "409": err, "429": err,
    })
}

/// The `/api/v1/auth/*` paths.
pub fn paths() -> Vec<(&'static str, Value)> {
    let email = json!({ "type": "string", "maxLength": 254 });
    let password = json!({ "type": "string", "maxLength": 1024, "writeOnly": true });
    let name = json!({ "type": "string", "maxLength": 128 });
    let err = json!({ "description": "Error", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    let op = |id: &str, summary: &str, description: &str| json!({ "operationId": id, "summary": summary, "description": description, "tags": ["auth"] });
    let with = |mut o: Value, k: &str, v: Value| {
        o[k] = v;
        o
    };
    vec![
        (
            "/api/v1/auth/setup",
            json!({ "post": with(with(op("auth_setup", "Create the owner",
                "With the bootstrap token as bearer, once, while the server has no user: creates the owner and \
                 signs them in."),
                "requestBody", body(json!({ "email": email, "password": password, "name": name }), &["email", "password"])),
                "responses", session("201", "The owner, signed in")) }),
        ),
        (
            "/api/v1/auth/login",
            json!({ "post": with(with(op("auth_login", "Sign in",
                "Email and password, and a TOTP or backup code for accounts with 2FA (401 second_factor_required \
                 asks for it). Five failures lock the account, twenty an address, for 15 minutes (429)."),
                "requestBody", body(json!({ "email": email, "password": password, "name": name,
                    "code": { "type": ["string", "null"], "maxLength": 32, "writeOnly": true } }), &["email", "password"])),
                "responses", session("200", "Signed in")) }),
        ),
        (
            "/api/v1/auth/refresh",
            json!({ "post": with(op("auth_refresh", "Renew the session",
                "With the refresh cookie: a new access token and a new refresh token (the old one is spent; using \
                 it again ends the session)."), "responses", session("200", "Renewed")) }),
        ),
        (
            "/api/v1/auth/logout",
            json!({ "post": with(op("auth_logout", "Sign out", "Ends the session of the cookies sent, and clears them."),
                "responses", json!({ "204": { "description": "Signed out" }, "401": err })) }),
        ),
        (
            "/api/v1/auth/me",
            json!({ "get": with(op("auth_me", "Who am I", "The user, role, scope and projects of the credential sent."),
                "responses", json!({ "200": { "description": "The caller", "content": { "application/json": {
                    "schema": { "type": "object", "required": ["role", "scope"] } } } }, "401": err })) }),
        ),
        (
            "/api/v1/auth/invites/accept",
            json!({ "post": with(with(op("auth_accept_invite", "Accept an invitation",
                "The invitation token and a password: creates the account and signs it in."),
                "requestBody", body(json!({ "token": { "type": "string", "maxLength": 256, "writeOnly": true },
                    "password": password, "name": name }), &["token", "password"])),
                "responses", session("201", "The new user, signed in")) }),
        ),
    ]
}
