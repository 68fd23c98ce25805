"""Mass assignment (fields a client may not set are refused) and secrets (tokens and passwords
never leave the server except the one-time token issue: not in responses, logs or the audit
log)."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from factmark.http.requests import JsonFormatter
from tests.conftest import World
from tests.reliability.openapi_ops import operations
from tests.reliability.valid_requests import url_of

PROTECTED = (
    "id",
    "status",
    "state",
    "version",
    "createdBy",
    "approvedBy",
    "approvedAt",
    "workspaceId",
    "documentId",
    "createdAt",
    "updatedAt",
    "verifiedAt",
)

WRITES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "createDocument": ("POST", "/api/v1/workspaces/acme/documents", {"title": "T", "text": "x"}),
    "updateDocument": ("PATCH", "/api/v1/documents/{documentId}", {"title": "T"}),
    "createClaim": (
        "POST",
        "/api/v1/documents/{documentId}/claims",
        {"spans": [{"start": 0, "end": 3}]},
    ),
    "updateClaim": ("PATCH", "/api/v1/claims/{claimId}", {"tags": ["x"]}),
    "submitVerdict": (
        "POST",
        "/api/v1/claims/{claimId}/verdicts",
        {"rating": "false", "summary": "No."},
    ),
    "updateVerdict": ("PATCH", "/api/v1/verdicts/{verdictId}", {"summary": "No."}),
}


async def test_fields_the_server_owns_cannot_be_set_by_a_client(
    client: httpx.AsyncClient,
    world: World,
    resources: dict[str, str],
    connection: AsyncConnection,
) -> None:
    before = (await connection.execute(text("SELECT count(*) FROM audit_events"))).scalar_one()
    accepted = []
    for operation_id, (method, path, body) in WRITES.items():
        for name, value in resources.items():
            path = path.replace("{" + name + "}", value)
        headers = dict(world["editor"].headers)
        if method == "PATCH":
            current = await client.get(path, headers=headers)
            headers["If-Match"] = current.headers["etag"]
        for protected in PROTECTED:
            value: Any = {"version": 99, "id": "01a00000-0000-7000-8000-000000000000"}.get(
                protected, "verified" if protected in ("status", "state") else "x"
            )
            response = await client.request(
                method, path, json={**body, protected: value}, headers=headers
            )
            fields = [e["field"] for e in response.json().get("errors", [])]
            if response.status_code != 422 or fields != [protected]:
                accepted.append(f"{operation_id} {protected}: {response.status_code} {fields}")
    after = (await connection.execute(text("SELECT count(*) FROM audit_events"))).scalar_one()
    assert accepted == []
    assert after == before


async def test_tokens_and_passwords_appear_in_no_response_log_or_audit_event(
    client: httpx.AsyncClient,
    world: World,
    resources: dict[str, str],
    connection: AsyncConnection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    password = "correct horse battery"  # the fixture users' password
    login = await client.post(
        "/api/v1/auth/login", json={"email": "admin@acme.test", "password": password}
    )
    assert login.status_code == 201, login.text
    session_token = login.json()["token"]
    headers = {"Authorization": f"Bearer {session_token}"}
    issued = await client.post("/api/v1/tokens", json={"name": "ci"}, headers=headers)
    assert issued.status_code == 201
    personal = issued.json()["token"]
    service = await client.post(
        "/api/v1/workspaces/acme/tokens",
        json={"name": "exports", "role": "viewer"},
        headers=headers,
    )
    assert service.status_code == 201
    service_token = service.json()["token"]
    secrets = {
        "password": password,
        "login token": session_token,
        "personal token": personal,
        "service token": service_token,
        "fixture token": world["admin"].token,
    }
    hashes = (
        await connection.execute(text("SELECT password_hash FROM users WHERE password_hash <> ''"))
    ).scalars()
    secrets.update({f"password hash {i}": h for i, h in enumerate(hashes)})

    # Every GET operation of the API, as the admin who holds all those tokens.
    bodies = []
    for op in operations():
        if op.method != "GET":
            continue
        response = await client.get(url_of(op, resources), headers=headers)
        bodies.append((op.operation_id, response.text + json.dumps(dict(response.headers))))
    assert len(bodies) >= 25
    for operation_id, body in bodies:
        for what, secret in secrets.items():
            assert secret not in body, f"{what} in the response of {operation_id}"

    lines = [JsonFormatter().format(record) for record in caplog.records]
    assert any("POST /api/v1/auth/login 201" in line for line in lines)  # logs were captured
    for what, secret in secrets.items():
        assert not any(secret in line for line in lines), f"{what} in the logs"

    audit = (
        await connection.execute(text("SELECT row_to_json(e)::text FROM audit_events e"))
    ).scalars()
    events = list(audit)
    assert any("api_tokens" in e or '"token"' in e for e in events)
    for what, secret in secrets.items():
        assert not any(secret in e for e in events), f"{what} in the audit log"
        assert not any(secret[3:] in e for e in events if what.endswith("token"))
