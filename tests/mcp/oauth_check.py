"""The official MCP Python SDK's OAuth client against sh0: the whole flow, then each refusal.

Environment: SH0_URL (the server, as 127.0.0.1), SH0_OTHER_URL (the same server as
localhost: another audience), SH0_EMAIL / SH0_PASSWORD (a developer limited to project
alpha). Exits non-zero on the first failed check.
"""

import asyncio
import base64
import hashlib
import os
import re
import secrets
import sys
from urllib.parse import parse_qs, urlencode, urlparse

import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata

URL = os.environ["SH0_URL"]
OTHER = os.environ["SH0_OTHER_URL"]
EMAIL = os.environ["SH0_EMAIL"]
PASSWORD = os.environ["SH0_PASSWORD"]
REDIRECT = "http://127.0.0.1:47123/callback"


def check(cond, what):
    if not cond:
        raise AssertionError(what)


class Memory:
    def __init__(self):
        self.tokens = None
        self.client = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client

    async def set_client_info(self, info):
        self.client = info


class Person:
    """A signed-in person in a browser: opens the consent page and answers it."""

    def __init__(self, base):
        self.base = base
        self.http = httpx2.AsyncClient(base_url=base, timeout=30, follow_redirects=False)
        self.csrf = None
        self.pages = []

    async def sign_in(self):
        r = await self.http.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
        check(r.status_code == 200, f"login: {r.status_code} {r.text}")
        self.csrf = r.json()["csrf_token"]

    async def open(self, url):
        r = await self.http.get(url)
        self.pages.append(r)
        return r

    async def consent(self, url, approve=True, scope=None):
        r = await self.open(url)
        check(r.status_code == 200, f"consent page: {r.status_code} {r.text[:300]}")
        check(r.headers.get("x-frame-options") == "DENY", "the consent page can be framed")
        m = re.search(r'data-request="(oar_[0-9a-f]{32})"', r.text)
        check(m, f"no request on the consent page: {r.text[:500]}")
        if self.csrf is None:
            await self.sign_in()
        answer = {"request": m.group(1), "decision": "approve" if approve else "deny"}
        if scope:
            answer["scope"] = scope
        r = await self.http.post("/api/v1/oauth/consent", json=answer, headers={"x-csrf-token": self.csrf})
        check(r.status_code in (200, 201), f"consent: {r.status_code} {r.text}")
        return r.json()["redirect_to"], r


def pkce():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


async def sdk_flow(scope):
    """The SDK discovers, registers, sends the person to consent, and gets tokens."""
    person = Person(URL)
    answer = {}

    async def on_redirect(url):
        to, _ = await person.consent(url, scope=scope)
        q = parse_qs(urlparse(to).query)
        answer["result"] = AuthorizationCodeResult(code=q["code"][0], state=q.get("state", [None])[0],
                                                   iss=q.get("iss", [None])[0])

    async def on_callback():
        return answer["result"]

    storage = Memory()
    provider = OAuthClientProvider(
        server_url=f"{URL}/mcp",
        client_metadata=OAuthClientMetadata(client_name=f"test agent ({scope})", redirect_uris=[REDIRECT],
                                            grant_types=["authorization_code", "refresh_token"],
                                            response_types=["code"], scope=scope),
        storage=storage, redirect_handler=on_redirect, callback_handler=on_callback,
    )
    http = httpx2.AsyncClient(auth=provider, timeout=30)
    async with Client(streamable_http_client(f"{URL}/mcp", http_client=http), mode="legacy") as client:
        tools = sorted(t.name for t in (await client.list_tools()).tools)
        apps = (await client.call_tool("app_list", {})).structured_content["apps"]
    page = person.pages[0].text
    # The SDK asks for every scope the server lists; the person grants less.
    check(f"test agent ({scope})" in page and "<b>admin</b>" in page and 'value="read"' in page,
          f"the consent page does not show the client, the scope asked and the choice: {page[:1500]}")
    return storage, tools, [a["name"] for a in apps], person


async def mcp_status(token, base=URL):
    async with httpx2.AsyncClient(timeout=30) as http:
        r = await http.post(f"{base}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}},
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"})
        return r.status_code


async def token(form, base=URL):
    async with httpx2.AsyncClient(timeout=30) as http:
        r = await http.post(f"{base}/oauth/token", data=form)
        return r.status_code, r.json()


async def manual_code(person, client_id, base=URL, resource=None, **extra):
    """An authorization request by hand, consented: (code, verifier)."""
    verifier, challenge = pkce()
    q = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "code_challenge": challenge,
         "code_challenge_method": "S256", "state": "s1", "scope": "read", "resource": resource or f"{base}/mcp"}
    q.update(extra)
    to, _ = await person.consent(f"{base}/oauth/authorize?{urlencode(q)}")
    query = parse_qs(urlparse(to).query)
    check(query.get("state") == ["s1"] and query.get("iss") == [base], f"redirect {to}")
    return query["code"][0], verifier


async def main():
    # Discovery from a 401.
    async with httpx2.AsyncClient(timeout=30) as http:
        r = await http.post(f"{URL}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                            headers={"Accept": "application/json, text/event-stream"})
        check(r.status_code == 401, f"unauthenticated: {r.status_code}")
        check("resource_metadata=" in r.headers.get("www-authenticate", ""), f"401 without resource_metadata: {r.headers}")
        prm = (await http.get(f"{URL}/.well-known/oauth-protected-resource/mcp")).json()
        check(prm["resource"] == f"{URL}/mcp" and prm["authorization_servers"] == [URL], f"PRM {prm}")
        asm = (await http.get(f"{URL}/.well-known/oauth-authorization-server")).json()
        check(asm["code_challenge_methods_supported"] == ["S256"] and asm["issuer"] == URL, f"AS metadata {asm}")

    # The whole flow with a read grant: no write tool is even listed.
    storage, tools, apps, person = await sdk_flow("read")
    check("app_list" in tools and "app_deploy" not in tools and "app_delete" not in tools, f"read grant tools {tools}")
    check(apps == ["web-a"], f"the developer's grant reaches only alpha: {apps}")
    # A write grant sees write tools, never key or account management.
    _, wtools, _, _ = await sdk_flow("write")
    check("app_deploy" in wtools and not {"key_create", "totp_enroll", "hook_create", "schedule_create"} & set(wtools),
          f"write grant tools {wtools}")

    access, refresh = storage.tokens.access_token, storage.tokens.refresh_token
    client_id = storage.client.client_id
    check(await mcp_status(access) == 200, "the access token works")
    # Audience: tokens are for /mcp only, not the REST API.
    async with httpx2.AsyncClient(timeout=30) as http:
        r = await http.get(f"{URL}/api/v1/apps", headers={"Authorization": f"Bearer {access}"})
        check(r.status_code == 401, f"the MCP token opened the REST API: {r.status_code}")

    # Wrong redirect URI: an error page, never a redirect.
    verifier, challenge = pkce()
    bad = {"response_type": "code", "client_id": client_id, "redirect_uri": "http://127.0.0.1:47123/evil",
           "code_challenge": challenge, "code_challenge_method": "S256"}
    r = await person.open(f"/oauth/authorize?{urlencode(bad)}")
    check(r.status_code == 400 and "location" not in r.headers, f"wrong redirect_uri: {r.status_code} {r.headers}")
    # Missing PKCE, or plain; a resource that is not this server's MCP endpoint: refused on
    # sh0's own page (never redirected before consent: registration is open to anyone).
    for extra, error in (({}, "invalid_request"),
                         ({"code_challenge": verifier, "code_challenge_method": "plain"}, "invalid_request"),
                         ({"code_challenge": challenge, "code_challenge_method": "S256",
                           "resource": "https://elsewhere.example/mcp"}, "invalid_target")):
        q = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "state": "x", **extra}
        r = await person.open(f"/oauth/authorize?{urlencode(q)}")
        check(r.status_code == 400 and "location" not in r.headers and error in r.text,
              f"{extra}: {r.status_code} {r.headers} {r.text[:300]}")
    # A loopback redirect URI may come back on another port (RFC 8252); another path may not.
    q = {"response_type": "code", "client_id": client_id, "redirect_uri": "http://127.0.0.1:50999/callback",
         "code_challenge": challenge, "code_challenge_method": "S256"}
    r = await person.open(f"/oauth/authorize?{urlencode(q)}")
    check(r.status_code == 200, f"loopback port: {r.status_code}")

    # Token endpoint refusals.
    code, verifier = await manual_code(person, client_id)
    base_form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "client_id": client_id}
    status, body = await token(base_form)
    check(status == 400 and body["error"] == "invalid_grant", f"missing verifier: {status} {body}")
    status, body = await token({**base_form, "code_verifier": pkce()[0]})
    check(status == 400 and body["error"] == "invalid_grant", f"wrong verifier: {status} {body}")
    status, body = await token({**base_form, "code_verifier": verifier, "redirect_uri": REDIRECT + "x"})
    check(status == 400 and body["error"] == "invalid_grant", f"other redirect_uri: {status} {body}")
    status, body = await token({**base_form, "code_verifier": verifier})
    check(status == 200 and body["token_type"] == "Bearer" and body["expires_in"] == 900, f"exchange: {status} {body}")
    first_access = body["access_token"]
    check(await mcp_status(first_access) == 200, "the exchanged token works")
    # The same code again: refused, and the grant it gave is revoked at once.
    status, body = await token({**base_form, "code_verifier": verifier})
    check(status == 400 and body["error"] == "invalid_grant", f"reused code: {status} {body}")
    check(await mcp_status(first_access) == 401, "a reused code left its grant alive")

    # Refresh: a request without client_id changes nothing; then rotation; a reused
    # refresh token revokes the grant.
    status, body = await token({"grant_type": "refresh_token", "refresh_token": refresh})
    check(status == 400 and body["error"] == "invalid_request", f"refresh without client_id: {status} {body}")
    status, body = await token({"grant_type": "refresh_token", "refresh_token": refresh, "client_id": client_id})
    check(status == 200 and body["refresh_token"] != refresh, f"refresh: {status} {body}")
    rotated_access = body["access_token"]
    check(await mcp_status(rotated_access) == 200, "the refreshed token works")
    status, body = await token({"grant_type": "refresh_token", "refresh_token": refresh, "client_id": client_id})
    check(status == 400 and body["error"] == "invalid_grant", f"reused refresh token: {status} {body}")
    check(await mcp_status(rotated_access) == 401, "a reused refresh token left its grant alive")

    # Another audience: a token granted at localhost is refused at 127.0.0.1 (and works where it was granted).
    other = Person(OTHER)
    code, verifier = await manual_code(other, client_id, base=OTHER)
    status, body = await token({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                "client_id": client_id, "code_verifier": verifier}, base=OTHER)
    check(status == 200, f"exchange at localhost: {status} {body}")
    check(await mcp_status(body["access_token"], base=OTHER) == 200, "the token fails at its own audience")
    check(await mcp_status(body["access_token"]) == 401, "a token for another audience was accepted")

    # Revocation by its user, visible in the list, effective at once.
    code, verifier = await manual_code(person, client_id)
    status, body = await token({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                "client_id": client_id, "code_verifier": verifier})
    live = body["access_token"]
    check(await mcp_status(live) == 200, "a fresh grant works")
    r = await person.http.get("/api/v1/oauth/grants")
    grants = r.json()["grants"]
    live_grants = [g for g in grants if g["revoked_at"] is None]
    check(len(live_grants) >= 2 and all(g["resource"].endswith("/mcp") for g in grants), f"grants {grants}")
    for g in live_grants:
        r = await person.http.delete(f"/api/v1/oauth/grants/{g['id']}", headers={"x-csrf-token": person.csrf})
        check(r.status_code == 200, f"revoke: {r.status_code} {r.text}")
    check(await mcp_status(live) == 401, "a revoked grant still works")

    # Declining sends the client an error and grants nothing.
    verifier, challenge = pkce()
    q = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "code_challenge": challenge,
         "code_challenge_method": "S256", "state": "d"}
    to, _ = await person.consent(f"{URL}/oauth/authorize?{urlencode(q)}", approve=False)
    check("error=access_denied" in to and "code=" not in to, f"declined: {to}")
    print("ok oauth")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except AssertionError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)
