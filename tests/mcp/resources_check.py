"""Resources, subscriptions, completions, progress and logging of sh0's MCP server, driven by
the official MCP Python SDK over streamable HTTP, in both protocol generations.

The server has an owner key (every project) and a developer key limited to project `alpha`;
app `web-a` (in alpha) serves a real container with a secret `API_SECRET`; `web-b` is in
`beta`. Environment: SH0_URL, SH0_OWNER_KEY, SH0_DEV_KEY. Exits non-zero on the first
failed check.
"""

import asyncio
import json
import os
import sys

import anyio
import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import PromptReference, ResourceTemplateReference, ResourceUpdatedNotification

URL = os.environ["SH0_URL"]
OWNER = os.environ["SH0_OWNER_KEY"]
DEV = os.environ["SH0_DEV_KEY"]


def transport(key):
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=120)
    return streamable_http_client(f"{URL}/mcp", http_client=http)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


async def expect_error(coro, code, what):
    try:
        await coro
    except MCPError as e:
        check(code is None or e.code == code, f"{what}: error code {e.code} ({e.message}), expected {code}")
        return e
    raise AssertionError(f"{what}: no error")


async def wait_finished(client, dep):
    for _ in range(600):
        r = await client.call_tool("deployment_get", {"deployment": dep, "log_limit": 1})
        if not r.structured_content["active"]:
            return r.structured_content["deployment"]["status"]
        await asyncio.sleep(0.2)
    raise AssertionError(f"deployment {dep} never finished")


async def resources(mode):
    label = f"resources {mode}"
    logs = []
    updates = []

    async def on_log(params):
        logs.append(params)

    async def on_message(message):
        if isinstance(message, ResourceUpdatedNotification):
            updates.append(message.params.uri)

    async with Client(transport(OWNER), mode=mode, logging_callback=on_log, message_handler=on_message,
                      cache=None, log_level="debug" if mode != "legacy" else None) as client:
        if mode == "legacy":  # a pinned 2026-07-28 client has no handshake to learn them from
            caps = client.server_capabilities
            check(caps.resources is not None and caps.completions is not None, f"{label}: capabilities {caps}")

        # Listing: the catalog and each app the caller reaches; three templates.
        listed = {r.uri for r in (await client.list_resources()).resources}
        for uri in ("sh0://catalog", "sh0://apps/web-a", "sh0://apps/web-a/logs", "sh0://apps/web-b"):
            check(uri in listed, f"{label}: {uri} not listed: {sorted(listed)}")
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
        check(templates == {"sh0://apps/{app}", "sh0://apps/{app}/logs", "sh0://deployments/{deployment}/log"},
              f"{label}: templates {templates}")

        # Reading each.
        catalog = json.loads((await client.read_resource("sh0://catalog")).contents[0].text)
        check(any(t["name"] == "app_deploy" for t in catalog["tools"]), f"{label}: catalog")
        config_text = (await client.read_resource("sh0://apps/web-a")).contents[0].text
        config = json.loads(config_text)
        check(config["name"] == "web-a" and config["env"] == ["API_SECRET"], f"{label}: config {config}")
        check("s3cr3t" not in config_text, f"{label}: a secret value in the configuration resource")
        applogs = (await client.read_resource("sh0://apps/web-a/logs")).contents[0]
        check(applogs.mime_type == "text/plain" and "<untrusted-data>" in applogs.text,
              f"{label}: app logs not fenced: {applogs.text[:300]}")
        deps = (await client.call_tool("deployment_list", {"app": "web-a"})).structured_content["deployments"]
        first = deps[-1]["id"]
        deplog = (await client.read_resource(f"sh0://deployments/{first}/log")).contents[0].text
        check("(finished)" in deplog and "<untrusted-data>" in deplog and "Step" in deplog,
              f"{label}: deployment log {deplog[:400]}")

        # Not found: the protocol's code, the URI in data.
        code = -32002 if mode == "legacy" else -32602
        for uri in ("sh0://apps/nope/logs", "sh0://nothing", "test://static-text", "sh0://deployments/dep_00/log"):
            e = await expect_error(client.read_resource(uri), code, f"{label}: read {uri}")
            check((e.data or {}).get("uri") == uri, f"{label}: not-found data {e.data}")

        # Completions: everything the owner reaches.
        apps = (await client.complete(ResourceTemplateReference(type="ref/resource", uri="sh0://apps/{app}/logs"),
                                      {"name": "app", "value": "web"})).completion.values
        check(apps == ["web-a", "web-b"], f"{label}: owner app completion {apps}")
        ids = (await client.complete(PromptReference(type="ref/prompt", name="diagnose_deployment"),
                                     {"name": "deployment", "value": "dep_"}, {"app": "web-a"})).completion.values
        check(first in ids, f"{label}: deployment completion {ids}")
        await expect_error(client.complete(PromptReference(type="ref/prompt", name="no_such_prompt"),
                                           {"name": "app", "value": ""}), -32602, f"{label}: unknown prompt")

        # Logging: a failed call is told at warning, a call at debug.
        if mode == "legacy":
            await client.set_logging_level("debug")
        await client.call_tool("app_get", {"app": "no-such-app"})
        await asyncio.sleep(0.3)
        check(any(str(l.level) in ("warning", "LoggingLevel.warning") or getattr(l.level, "value", l.level) == "warning"
                  for l in logs), f"{label}: no warning log for a failed call: {logs}")

        # Progress: a deployment followed to its end, build lines as progress.
        progress = []

        async def on_progress(p, total, message):
            progress.append((p, message))

        r = await client.call_tool("app_deploy", {"app": "web-a"}, progress_callback=on_progress)
        check(not r.is_error, f"{label}: app_deploy {r.content}")
        check(r.structured_content["status"] == "running", f"{label}: deploy result after progress {r.structured_content}")
        check(len(progress) >= 3, f"{label}: progress notifications {progress}")
        check([p for p, _ in progress] == sorted(p for p, _ in progress), f"{label}: progress not increasing")
        check(any("untrusted" in (m or "") for _, m in progress), f"{label}: build lines not marked {progress}")
        check(any("running" in (m or "") for _, m in progress[-1:]), f"{label}: last progress {progress[-1]}")

        # Subscriptions: a deployment's log, followed until the deployment ends.
        r = await client.call_tool("app_deploy", {"app": "web-a"})
        dep = r.structured_content["deployment_id"]
        uri = f"sh0://deployments/{dep}/log"
        if mode == "legacy":
            await client.subscribe_resource(uri)
            status = await wait_finished(client, dep)
            await asyncio.sleep(1.0)
            check(uri in updates, f"{label}: no resources/updated for {uri}: {updates}")
            await client.unsubscribe_resource(uri)
        else:
            events = []
            with anyio.fail_after(120):
                async with client.listen(resource_subscriptions=[uri]) as sub:
                    check(uri in (sub.honored.resource_subscriptions or []), f"{label}: not honored {sub.honored}")
                    async for event in sub:
                        events.append(event.uri)
            # The stream closed by itself: the deployment ended.
            check(events and all(e == uri for e in events), f"{label}: listen events {events}")
            status = await wait_finished(client, dep)
        check(status == "running", f"{label}: followed deployment {status}")
        text = (await client.read_resource(uri)).contents[0].text
        check("running (finished)" in text, f"{label}: the log after the end {text[:200]}")

    # A developer limited to alpha: only alpha's names, and beta's app is out of reach.
    async with Client(transport(DEV), mode=mode, cache=None) as client:
        listed = {r.uri for r in (await client.list_resources()).resources}
        check("sh0://apps/web-a" in listed and not any("web-b" in u for u in listed), f"{label}: dev lists {listed}")
        apps = (await client.complete(ResourceTemplateReference(type="ref/resource", uri="sh0://apps/{app}"),
                                      {"name": "app", "value": ""})).completion.values
        check(apps == ["web-a"], f"{label}: developer's app completion {apps}")
        e = await expect_error(client.read_resource("sh0://apps/web-b/logs"), None, f"{label}: dev reads web-b")
        check("web-b" not in (e.message or "") or "forbidden" in e.message or "not_found" in e.message.lower()
              or "not found" in e.message.lower(), f"{label}: dev error {e.message}")
        catalog = json.loads((await client.read_resource("sh0://catalog")).contents[0].text)
        check(not any(t["name"] == "user_invite" for t in catalog["tools"]), f"{label}: dev catalog has admin tools")
    print(f"ok {label}")


async def client_leaves_mid_deploy():
    """A client that cancels its call while following a deployment: the deployment goes on."""
    started = asyncio.Event()

    async def on_progress(p, total, message):
        started.set()

    async with Client(transport(OWNER), mode="legacy", cache=None) as client:
        before = {d["id"] for d in (await client.call_tool("deployment_list", {"app": "web-a"})).structured_content["deployments"]}
        call = asyncio.create_task(client.call_tool("app_deploy", {"app": "web-a"}, progress_callback=on_progress))
        await asyncio.wait_for(started.wait(), 60)
        call.cancel()
        try:
            await call
        except (asyncio.CancelledError, Exception):
            pass
    async with Client(transport(OWNER), mode="legacy", cache=None) as client:
        deps = (await client.call_tool("deployment_list", {"app": "web-a"})).structured_content["deployments"]
        new = [d["id"] for d in deps if d["id"] not in before]
        check(len(new) == 1, f"the cancelled call's deployment: {new}")
        status = await wait_finished(client, new[0])
        check(status == "running", f"a client that left cancelled its deployment: {status}")
    print("ok client left, deployment finished")


async def over_stdio():
    """The same resources through `sh0 mcp` (stdio, calling the server over REST)."""
    params = StdioServerParameters(command=os.environ["SH0_BIN"], args=["mcp"],
                                   env={"SH0_API_URL": URL, "SH0_API_TOKEN": DEV, "SH0_LOG": "warn"})
    async with Client(params, mode="legacy", cache=None) as client:
        listed = {r.uri for r in (await client.list_resources()).resources}
        check("sh0://apps/web-a/logs" in listed and not any("web-b" in u for u in listed), f"stdio lists {listed}")
        config = json.loads((await client.read_resource("sh0://apps/web-a")).contents[0].text)
        check(config["name"] == "web-a" and config["env"] == ["API_SECRET"], f"stdio config {config}")
        apps = (await client.complete(ResourceTemplateReference(type="ref/resource", uri="sh0://apps/{app}"),
                                      {"name": "app", "value": ""})).completion.values
        check(apps == ["web-a"], f"stdio completion {apps}")
        progress = []

        async def on_progress(p, total, message):
            progress.append(message)

        r = await client.call_tool("app_deploy", {"app": "web-a"}, progress_callback=on_progress)
        check(not r.is_error and r.structured_content["status"] == "running" and len(progress) >= 3,
              f"stdio deploy with progress: {r.structured_content} {progress}")
    print("ok resources stdio")


async def main():
    for mode in ("legacy", "2026-07-28"):
        await resources(mode)
    await client_leaves_mid_deploy()
    await over_stdio()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except AssertionError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)
