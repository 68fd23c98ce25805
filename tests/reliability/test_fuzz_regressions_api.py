"""Every failure schemathesis found, kept as a regular test (see tests/RELIABILITY.md)."""

from __future__ import annotations

import gc
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from factmark.accounts.models import Workspace
from factmark.app import Database, create_app
from factmark.db import DatabaseUrls, create_engine, create_sessionmaker
from factmark.settings import Settings
from tests.annotations.conftest import TEXT, create_claim, span_of
from tests.conftest import World

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["code"]
    if field is not None:
        assert field in {e["field"] for e in body.get("errors", [])}, body


async def _document(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/workspaces/acme/documents",
        json={"title": "Speech", "text": TEXT},
        headers=world["editor"].headers,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


# --- 500s ---------------------------------------------------------------------------------


async def test_workspace_settings_written_by_the_seed_are_listed_not_500(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    """The seed stores settings with snake_case keys, as exports read them; the API used to
    expect camelCase keys and answered 500 on GET /workspaces."""
    workspace = await session.get(Workspace, world.workspace_id)
    assert workspace is not None
    workspace.settings = {
        "organisation_name": "Acme Fact Check",
        "claim_url_template": "https://acme.example/c/{id}",
        "legacy_key": "ignored",
    }
    await session.commit()
    response = await client.get("/api/v1/workspaces", headers=world["admin"].headers)
    assert response.status_code == 200, response.text
    assert response.json()["items"][0]["settings"] == {
        "organisationName": "Acme Fact Check",
        "claimUrlTemplate": "https://acme.example/c/{id}",
    }


async def test_workspace_settings_sent_through_the_api_are_stored_as_exports_read_them(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    response = await client.patch(
        "/api/v1/workspaces/acme",
        json={"settings": {"organisationName": "Acme", "claimUrlTemplate": "https://a.b/{id}"}},
        headers={**world["admin"].headers, "If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    stored = await session.scalar(
        select(Workspace.settings).where(Workspace.id == world.workspace_id)
    )
    assert stored == {"organisation_name": "Acme", "claim_url_template": "https://a.b/{id}"}
    assert response.json()["settings"] == {
        "organisationName": "Acme",
        "claimUrlTemplate": "https://a.b/{id}",
    }


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/tokens", {"name": "a\u0000b"}, "name"),
        ("/api/v1/workspaces", {"name": "a\u0000b", "slug": "nul-ws"}, "name"),
        ("/api/v1/workspaces/acme/tokens", {"name": "a\u0000b"}, "name"),
        ("/api/v1/workspaces/acme/members", {"email": "a\u0000@x.test", "role": "viewer"}, "email"),
    ],
)
async def test_nul_in_an_accounts_string_field_is_422_not_500(
    client: httpx.AsyncClient, world: World, path: str, body: dict[str, Any], field: str
) -> None:
    response = await client.post(path, json=body, headers=world["admin"].headers)
    assert_problem(response, 422, field)


async def test_nul_in_the_login_email_is_422_not_500(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/login", json={"email": "\u0000x@example.com", "password": "secret"}
    )
    assert_problem(response, 422, "email")


async def test_nul_in_a_change_reason_is_422_not_500(
    client: httpx.AsyncClient, world: World
) -> None:
    document = await _document(client, world)
    purge = await client.post(
        f"/api/v1/documents/{document['id']}/purge",
        json={"reason": "court order\u0000"},
        headers=world["admin"].headers,
    )
    assert_problem(purge, 422, "reason")
    claim = await client.post(
        f"/api/v1/documents/{document['id']}/claims",
        json={"spans": [span_of(TEXT, "unemployment")], "reason": "why\u0000"},
        headers=world["editor"].headers,
    )
    assert_problem(claim, 422, "reason")
    still_there = await client.get(
        f"/api/v1/documents/{document['id']}", headers=world["viewer"].headers
    )
    assert still_there.status_code == 200


async def test_overlaps_beyond_32_bit_offsets_is_422_not_500(
    client: httpx.AsyncClient, world: World
) -> None:
    document = await _document(client, world)
    response = await client.get(
        f"/api/v1/documents/{document['id']}/claims",
        params={"overlaps": "932337,7182388629"},
        headers=world["viewer"].headers,
    )
    assert_problem(response, 422, "overlaps")


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/workspaces/acme/claims?tag=a%00b",
        "/api/v1/workspaces/acme/claims?claimant=%00",
        "/api/v1/workspaces/acme/documents?publisher=x%00",
        "/api/v1/workspaces/acme/exports/claims?tag=%00",
        "/api/v1/workspaces/acme/audit?actor=%00",
        "/api/v1/workspaces/ac%00me/documents",
    ],
)
async def test_nul_in_a_query_or_path_parameter_is_422_not_500(
    client: httpx.AsyncClient, world: World, url: str
) -> None:
    response = await client.get(url, headers=world["admin"].headers)
    assert_problem(response, 422)


async def test_a_bad_token_on_a_route_with_a_read_session_leaks_no_connection(
    own_db: DatabaseUrls, settings: Settings
) -> None:
    """Litestar does not clean up generator dependencies when a later one raises: a 401 on a
    list route (whose dependencies resolve in a task group) kept its pooled connection checked
    out until the garbage collector terminated it."""
    engine = create_engine(own_db.app, pool_size=2)
    app = create_app(
        settings, Database(engine=engine, sessionmaker=create_sessionmaker(engine), owned=False)
    )
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            gc.disable()  # the leak showed only until a collection
            try:
                for _ in range(10):
                    response = await client.get(
                        "/api/v1/workspaces/acme/claims",
                        headers={"Authorization": "Bearer fm_not-a-token"},
                    )
                    assert response.status_code == 401
                assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
            finally:
                gc.enable()
    finally:
        await engine.dispose()


# --- what the OpenAPI document says -------------------------------------------------------


@pytest.fixture
async def openapi(client: httpx.AsyncClient) -> dict[str, Any]:
    return dict((await client.get("/schema/openapi.json")).json())


def _operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        op["operationId"]: op
        for item in document["paths"].values()
        for method, op in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    }


def test_public_operations_say_they_need_no_credentials(openapi: dict[str, Any]) -> None:
    ops = _operations(openapi)
    for operation_id in ("live", "ready", "metrics", "login"):
        assert ops[operation_id]["security"] == [], operation_id
    assert "security" not in ops["getMe"]  # the document's bearer requirement applies
    assert openapi["security"] == [{"BearerToken": []}]


def test_login_documents_its_401(openapi: dict[str, Any]) -> None:
    assert "401" in _operations(openapi)["login"]["responses"]


def test_request_bodies_forbid_unknown_fields_in_the_schema(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    for operation_id, op in _operations(openapi).items():
        if "requestBody" not in op:
            continue
        for content in op["requestBody"]["content"].values():
            schema = content["schema"]
            options = schema.get("oneOf", [schema])
            refs = [o["$ref"].rsplit("/", 1)[-1] for o in options if "$ref" in o]
            assert refs, (operation_id, schema)
            for name in refs:
                assert schemas[name]["additionalProperties"] is False, (operation_id, name)


def test_if_match_is_a_required_header_where_its_absence_is_428(openapi: dict[str, Any]) -> None:
    for operation_id, op in _operations(openapi).items():
        if "428" not in op["responses"]:
            continue
        headers = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "header"}
        assert headers["If-Match"]["required"] is True, operation_id
        assert headers["If-Match"]["schema"]["type"] == "string", operation_id


def test_operations_with_validated_parameters_document_422(openapi: dict[str, Any]) -> None:
    for operation_id, op in _operations(openapi).items():
        validated = [
            p
            for p in op.get("parameters", [])
            if p["name"] != "If-Match"
            and not (p["in"] == "path" and p["schema"].get("format") == "uuid")
        ]
        if validated or "requestBody" in op:
            assert "422" in op["responses"], operation_id


def test_no_parameter_is_documented_as_nullable(openapi: dict[str, Any]) -> None:
    for operation_id, op in _operations(openapi).items():
        for parameter in op.get("parameters", []):
            assert "null" not in str(parameter["schema"]), (operation_id, parameter)


# --- lenient query parsing that accepted what the document forbids ------------------------


@pytest.mark.parametrize(
    "query",
    [
        "updatedSince=0.5",
        "updatedSince=1700000000",
        "updatedSince=2026-11-25T10:00:00",
        "updatedSince=yesterday",
    ],
)
async def test_a_timestamp_that_is_not_rfc3339_with_offset_is_422(
    client: httpx.AsyncClient, world: World, query: str
) -> None:
    response = await client.get(
        f"/api/v1/workspaces/acme/claims?{query}", headers=world["viewer"].headers
    )
    assert_problem(response, 422, "updatedSince")


async def test_an_rfc3339_timestamp_is_accepted(client: httpx.AsyncClient, world: World) -> None:
    for value in ("2026-11-25T10:00:00Z", "2026-11-25T10:00:00.123456+01:00"):
        response = await client.get(
            "/api/v1/workspaces/acme/claims",
            params={"updatedSince": value},
            headers=world["viewer"].headers,
        )
        assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/workspaces/acme/documents?q=&q=budget", "q"),
        ("/api/v1/workspaces/acme/documents?limit=5&limit=7", "limit"),
        ("/api/v1/workspaces/acme/exports/claims?format=null", "format"),
        ("/api/v1/workspaces/acme/claims?offsetUnit=null", "offsetUnit"),
    ],
)
async def test_a_single_valued_parameter_given_twice_or_as_null_is_422(
    client: httpx.AsyncClient, world: World, url: str, field: str
) -> None:
    response = await client.get(url, headers=world["viewer"].headers)
    assert_problem(response, 422, field)


async def test_repeatable_parameters_still_repeat(client: httpx.AsyncClient, world: World) -> None:
    document = await _document(client, world)
    await create_claim(client, world["editor"], document["id"], tags=["economy"])
    response = await client.get(
        "/api/v1/workspaces/acme/claims?tag=economy&tag=health&status=open&status=in_review",
        headers=world["viewer"].headers,
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) == 1


async def test_a_string_parameter_may_be_the_word_null(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.get(
        "/api/v1/workspaces/acme/documents?q=null", headers=world["viewer"].headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["items"] == []


async def test_a_request_without_credentials_is_401_before_its_body_is_validated(
    client: httpx.AsyncClient, world: World
) -> None:
    """Schemathesis: PATCH with an invalid body and no Authorization header answered 422, telling
    an anonymous caller about the schema instead of asking for credentials."""
    document = await _document(client, world)
    for method, url, body in (
        ("PATCH", f"/api/v1/documents/{document['id']}", {"If-Match": "0", "title": 12}),
        ("POST", "/api/v1/workspaces/acme/documents", {"unknown": True}),
        ("GET", "/api/v1/workspaces/acme/claims?limit=100000&updatedSince=0.5", None),
    ):
        response = await client.request(method, url, json=body)
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")
    malformed = await client.post(
        "/api/v1/workspaces/acme/documents",
        content=b"{",
        headers={"Content-Type": "application/json"},
    )
    assert_problem(malformed, 401)


@pytest.mark.parametrize("value", [-1_000_000.0, 1_000_000.0, 999_999.99995])
async def test_a_rating_value_beyond_what_the_column_holds_is_422_not_500(
    client: httpx.AsyncClient, world: World, value: float
) -> None:
    """Found by schemathesis: NUMERIC(10, 4) holds magnitudes below 1,000,000 only (and
    999,999.99995 rounds up to 1,000,000)."""
    url = "/api/v1/workspaces/acme/ratings"
    body = {"key": "too-far", "label": "Too far", "value": value}
    assert_problem(await client.post(url, json=body, headers=world["editor"].headers), 422)
    edge = {"key": "edge", "label": "Edge", "value": -999_999.9999}
    created = await client.post(url, json=edge, headers=world["editor"].headers)
    assert created.status_code == 201, created.text
    assert created.json()["value"] == -999_999.9999
