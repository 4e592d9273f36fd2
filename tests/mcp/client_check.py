"""Drives sh0 with the official MCP Python SDK, as Claude Desktop / Code or Cursor would.

For each transport (streamable HTTP at /mcp, stdio through `sh0 mcp`) and each protocol
generation (2025-11-25 with initialize, 2026-07-28 stateless) it lists the tools and checks
their schemas and annotations, calls read and write tools, and checks that a destructive
tool changes nothing until the user confirms: declined elicitation, a client that cannot
elicit, then a confirmed call.

Environment: SH0_URL, SH0_TOKEN, SH0_BIN. Exits non-zero on the first failed check.
"""

import asyncio
import json
import os
import sys
import uuid

import httpx2
from jsonschema import Draft202012Validator
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp_types import ElicitResult

URL = os.environ["SH0_URL"]
TOKEN = os.environ["SH0_TOKEN"]
BIN = os.environ["SH0_BIN"]
EXPECTED = json.loads(os.environ["SH0_EXPECTED_TOOLS"])


def transport(kind):
    if kind == "http":
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        return streamable_http_client(f"{URL}/mcp", http_client=http)
    return StdioServerParameters(
        command=BIN, args=["mcp"], env={"SH0_API_URL": URL, "SH0_API_TOKEN": TOKEN, "SH0_LOG": "warn"}
    )


def answer_with(name_or_action):
    async def callback(context, params):
        if name_or_action in ("decline", "cancel"):
            return ElicitResult(action=name_or_action)
        return ElicitResult(action="accept", content={"confirm": name_or_action})

    return callback


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def text_of(result):
    return " ".join(getattr(c, "text", "") for c in result.content)


async def scenario(kind, mode):
    label = f"{kind}/{mode}"
    suffix = uuid.uuid4().hex[:8]
    project, app = f"p-{suffix}", f"a-{suffix}"

    async with Client(transport(kind), mode=mode) as client:
        check(client.protocol_version == ("2025-11-25" if mode == "legacy" else mode), f"{label}: protocol {client.protocol_version}")
        tools = (await client.list_tools()).tools
        names = sorted(t.name for t in tools)
        check(names == sorted(EXPECTED), f"{label}: tools {names}")
        for t in tools:
            Draft202012Validator.check_schema(t.input_schema)
            check(t.input_schema.get("type") == "object", f"{label}: {t.name} input type")
            check(t.output_schema is not None, f"{label}: {t.name} has no output schema")
            Draft202012Validator.check_schema(t.output_schema)
            a = t.annotations
            check(a is not None and a.read_only_hint is not None and a.destructive_hint is not None, f"{label}: {t.name} annotations")
            if t.name.endswith("_delete") or t.name == "env_unset":
                check(a.destructive_hint and not a.read_only_hint, f"{label}: {t.name} destructive")
                check("confirm" in t.input_schema["properties"], f"{label}: {t.name} has no confirm")
            if t.name.endswith("_list") or t.name.endswith("_get"):
                check(a.read_only_hint and not a.destructive_hint, f"{label}: {t.name} read-only")

        info = await client.call_tool("system_info", {})
        check(not info.is_error and info.structured_content["version"], f"{label}: system_info {text_of(info)}")

        r = await client.call_tool("project_create", {"name": project})
        check(not r.is_error and r.structured_content["name"] == project, f"{label}: project_create {text_of(r)}")
        r = await client.call_tool("app_create", {"name": app, "project": project, "port": 8080})
        check(not r.is_error, f"{label}: app_create {text_of(r)}")
        r = await client.call_tool("env_set", {"app": app, "key": "SECRET_TOKEN", "value": "s3cr3t-" + suffix})
        check(not r.is_error and "s3cr3t" not in json.dumps(r.structured_content), f"{label}: env_set {text_of(r)}")
        r = await client.call_tool("env_list", {"app": app})
        check(r.structured_content["vars"][0]["value"] is None, f"{label}: env_list redacts")

        # Bad input: a clear tool error, never a protocol failure.
        for bad in ({"name": "Bad Name", "project": project}, {"name": app + "x", "project": project, "nope": 1},
                    {"name": 5, "project": project}, {"name": "x" * 64, "project": project}, {"name": "名字", "project": project}):
            r = await client.call_tool("app_create", bad)
            check(r.is_error and "invalid_input" in text_of(r), f"{label}: bad input accepted {bad}: {text_of(r)}")

        # No elicitation capability: refused until confirm is given, nothing changes.
        r = await client.call_tool("app_delete", {"app": app})
        check(r.is_error and "confirm" in text_of(r), f"{label}: delete without confirm {text_of(r)}")
        check(not (await client.call_tool("app_get", {"app": app})).is_error, f"{label}: app survived")

    # An elicitation-capable client whose user declines: nothing changes.
    async with Client(transport(kind), mode=mode, elicitation_callback=answer_with("decline")) as client:
        r = await client.call_tool("app_delete", {"app": app})
        check(r.is_error and "cancelled" in text_of(r), f"{label}: declined delete {text_of(r)}")
        check(not (await client.call_tool("app_get", {"app": app})).is_error, f"{label}: app survived decline")

    # A user who types the wrong name: nothing changes.
    async with Client(transport(kind), mode=mode, elicitation_callback=answer_with("wrong-name")) as client:
        r = await client.call_tool("app_delete", {"app": app})
        check(r.is_error, f"{label}: wrong confirmation accepted {text_of(r)}")
        check(not (await client.call_tool("app_get", {"app": app})).is_error, f"{label}: app survived wrong name")

    # A user who confirms: deleted.
    async with Client(transport(kind), mode=mode, elicitation_callback=answer_with(app)) as client:
        r = await client.call_tool("app_delete", {"app": app})
        check(not r.is_error and r.structured_content["deleted"] == app, f"{label}: confirmed delete {text_of(r)}")
        r = await client.call_tool("app_get", {"app": app})
        check(r.is_error and "not_found" in text_of(r), f"{label}: app gone")
        # The confirm argument works without elicitation too.
        r = await client.call_tool("project_delete", {"project": project, "confirm": project})
        check(not r.is_error, f"{label}: project_delete with confirm {text_of(r)}")
    print(f"ok {label}")


async def unauthenticated():
    async with httpx2.AsyncClient() as http:
        r = await http.post(f"{URL}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                            headers={"Accept": "application/json, text/event-stream"})
        check(r.status_code == 401, f"unauthenticated /mcp answered {r.status_code}")
    print("ok unauthenticated")


async def main():
    await unauthenticated()
    for kind in ("http", "stdio"):
        for mode in ("legacy", "2026-07-28"):
            await scenario(kind, mode)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except AssertionError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)
