"""Operations: health probes, metrics, request ids, access logs, CORS, and the OpenAPI document
the frontend generates its client from."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
from typing import Any

import httpx
import pytest
from litestar import Litestar, get
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from factmark.app import Database, create_app
from factmark.http.metrics import RequestMetrics
from factmark.http.requests import JsonFormatter, RequestContextMiddleware
from factmark.settings import Settings
from tests.conftest import World

CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


async def test_health_probes_answer_200(client: httpx.AsyncClient) -> None:
    live = await client.get("/health/live")
    assert live.status_code == 200
    assert live.json() == {"status": "ok"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "database": "ok"}


async def test_metrics_are_served_in_prometheus_text_format(
    client: httpx.AsyncClient, world: World
) -> None:
    await client.get("/api/v1/me", headers=world["viewer"].headers)
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE litestar_requests_total counter" in response.text
    assert re.search(r'litestar_requests_total\{[^}]*path="/api/v1/me"[^}]*\} \d', response.text)


def _series(name: str, **labels: str) -> float | None:
    """The sample's value, None when there is no such series."""
    return REGISTRY.get_sample_value(name, {"app_name": "factmark", **labels})


def _sample(name: str, **labels: str) -> float:
    """The sample's value, 0 when there is no such series (yet)."""
    return _series(name, **labels) or 0.0


async def test_metrics_count_each_route_template_by_status_and_time_it(
    client: httpx.AsyncClient, world: World
) -> None:
    template = "/api/v1/workspaces/{workspace}"
    found = {"method": "GET", "path": template, "status_code": "200"}
    missing = {**found, "status_code": "404"}
    before = (
        _sample("litestar_requests_total", **found),
        _sample("litestar_requests_total", **missing),
    )
    timed = _sample("litestar_request_duration_seconds_count", **found)

    headers = world["viewer"].headers
    assert (await client.get("/api/v1/workspaces/acme", headers=headers)).status_code == 200
    for slug in ("no-such-desk", "nor-this-one"):
        assert (await client.get(f"/api/v1/workspaces/{slug}", headers=headers)).status_code == 404

    # One series per route template, not per document id.
    assert _sample("litestar_requests_total", **found) == before[0] + 1
    assert _sample("litestar_requests_total", **missing) == before[1] + 2
    assert _sample("litestar_request_duration_seconds_count", **found) == timed + 1
    assert _sample("litestar_request_duration_seconds_sum", **found) > 0
    # Litestar labels the in-progress gauge with status 200 whatever the answer: so here.
    assert _series("litestar_requests_in_progress", **found) == 0  # there, and back to 0
    assert _series("litestar_requests_error_total", **missing) is None  # a 404 is no error
    text = (await client.get("/metrics")).text
    assert f'path="{template}"' in text
    assert "no-such-desk" not in text


async def test_metrics_count_server_errors_apart() -> None:
    in_flight = {"method": "GET", "path": "/boom", "status_code": "200"}
    seen_in_flight: list[float | None] = []

    @get("/boom", sync_to_thread=False)
    def boom() -> None:
        seen_in_flight.append(_series("litestar_requests_in_progress", **in_flight))
        raise RuntimeError("a bug")

    app = Litestar([boom], middleware=[RequestMetrics])
    labels = {"method": "GET", "path": "/boom", "status_code": "500"}
    before = (
        _sample("litestar_requests_error_total", **labels),
        _sample("litestar_requests_total", **labels),
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        assert (await client.get("/boom")).status_code == 500
        assert (await client.get("/boom")).status_code == 500
    assert _sample("litestar_requests_error_total", **labels) == before[0] + 2
    assert _sample("litestar_requests_total", **labels) == before[1] + 2
    assert seen_in_flight == [1.0, 1.0]  # counted while it ran
    assert _series("litestar_requests_in_progress", **in_flight) == 0


async def test_metrics_count_a_timed_out_request_as_the_503_it_gets() -> None:
    @get("/slow")
    async def slow() -> None:
        await asyncio.sleep(5)

    app = RequestContextMiddleware(
        Litestar([slow], middleware=[RequestMetrics]), timeout_seconds=0.05
    )
    labels = {"method": "GET", "path": "/slow"}
    before = _sample("litestar_requests_total", **labels, status_code="503")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        assert (await client.get("/slow")).status_code == 503
    assert _sample("litestar_requests_total", **labels, status_code="503") == before + 1
    assert _series("litestar_requests_total", **labels, status_code="500") is None
    assert _series("litestar_requests_in_progress", **labels, status_code="200") == 0


async def test_every_response_carries_a_request_id(client: httpx.AsyncClient, world: World) -> None:
    responses = [
        await client.get("/health/live"),
        await client.get("/api/v1/me"),  # 401
        await client.get("/api/v1/nowhere", headers=world["viewer"].headers),  # no route
        await client.put("/api/v1/me", headers=world["viewer"].headers),  # 405
        await client.post(
            "/api/v1/auth/login", content=b"{", headers={"Content-Type": "application/json"}
        ),
    ]
    ids = [r.headers["x-request-id"] for r in responses]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)


async def test_a_client_request_id_is_echoed_and_a_bad_one_replaced(
    client: httpx.AsyncClient,
) -> None:
    echoed = await client.get("/health/live", headers={"X-Request-ID": "trace-42.abc:1"})
    assert echoed.headers["x-request-id"] == "trace-42.abc:1"
    for bad in ("has spaces in it", "x" * 129, "semi;colon"):
        replaced = await client.get("/health/live", headers={"X-Request-ID": bad})
        assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"])


async def test_each_request_is_logged_as_one_json_line_with_its_actor(
    client: httpx.AsyncClient, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="factmark.access")
    await client.get("/api/v1/me", headers={**world["editor"].headers, "X-Request-ID": "log-me"})
    records = [r for r in caplog.records if r.name == "factmark.access"]
    assert len(records) == 1
    line = JsonFormatter().format(records[0])
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["method"] == "GET"
    assert entry["path"] == "/api/v1/me"
    assert entry["status"] == 200
    assert entry["requestId"] == "log-me"
    assert entry["actor"].startswith("user:")
    assert isinstance(entry["durationMs"], float | int)


async def test_cors_allows_only_the_configured_origins(
    settings: Settings, engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    configured = dataclasses.replace(settings, cors_origins=("https://app.example.org",))
    app = create_app(configured, Database(engine=engine, sessionmaker=sessionmaker, owned=False))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        preflight = {
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "if-match",
        }
        allowed = await client.options(
            "/api/v1/documents/x", headers={"Origin": "https://app.example.org", **preflight}
        )
        assert allowed.status_code in {200, 204}
        assert allowed.headers["access-control-allow-origin"] == "https://app.example.org"
        refused = await client.options(
            "/api/v1/documents/x", headers={"Origin": "https://evil.example", **preflight}
        )
        assert refused.headers.get("access-control-allow-origin") != "https://evil.example"
        simple = await client.get("/health/live", headers={"Origin": "https://app.example.org"})
        assert "etag" in simple.headers["access-control-expose-headers"].lower()


# --- OpenAPI ------------------------------------------------------------------------------


@pytest.fixture
async def openapi(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


async def test_openapi_is_3_1_with_an_operation_id_and_summary_everywhere(
    openapi: dict[str, Any],
) -> None:
    assert openapi["openapi"].startswith("3.1")
    ops = operations(openapi)
    assert len(ops) >= 20
    ids = [op.get("operationId") for _, _, op in ops]
    assert all(ids), [(m, p) for m, p, op in ops if not op.get("operationId")]
    assert len(set(ids)) == len(ids)
    assert all(CAMEL.match(i) for i in ids), [i for i in ids if not CAMEL.match(i)]
    missing = [(m, p) for m, p, op in ops if not op.get("summary")]
    assert missing == []


async def test_openapi_types_every_error_response_as_a_problem(openapi: dict[str, Any]) -> None:
    wrong = []
    for method, path, op in operations(openapi):
        for status, response in op["responses"].items():
            if int(status) >= 400:
                content = response.get("content", {})
                if list(content) != ["application/problem+json"] or (
                    content["application/problem+json"]["schema"] != PROBLEM_REF
                ):
                    wrong.append((method, path, status))
    assert wrong == []
    problem = openapi["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "code", "detail"} <= set(problem["required"])


async def test_openapi_path_parameters_and_component_names_are_readable(
    openapi: dict[str, Any],
) -> None:
    for path in openapi["paths"]:
        for name in re.findall(r"\{([^}]+)\}", path):
            assert CAMEL.match(name), path
    for name in openapi["components"]["schemas"]:
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", name), name


async def test_openapi_documents_etag_link_and_the_json_shapes(openapi: dict[str, Any]) -> None:
    get_doc = openapi["paths"]["/api/v1/documents/{documentId}"]["get"]
    assert get_doc["responses"]["200"]["headers"]["ETag"]["schema"]["type"] == "string"
    patch_doc = openapi["paths"]["/api/v1/documents/{documentId}"]["patch"]
    assert "ETag" in patch_doc["responses"]["200"]["headers"]
    listing = openapi["paths"]["/api/v1/workspaces/{workspace}/documents"]["get"]
    assert "Link" in listing["responses"]["200"]["headers"]
    create = openapi["paths"]["/api/v1/workspaces/{workspace}/documents"]["post"]
    assert {"ETag", "Location"} <= set(create["responses"]["201"]["headers"])
    assert {"415", "413", "409"} <= set(create["responses"])
    schemas = openapi["components"]["schemas"]
    assert set(schemas["DocumentCreate"]["required"]) == {"title", "text"}
    assert "text" not in schemas["DocumentPatch"].get("required", [])
    assert "nextCursor" in schemas["DocumentPage"]["properties"]
    metrics = openapi["paths"]["/metrics"]["get"]
    assert metrics["operationId"] == "metrics"
    assert "text/plain" in metrics["responses"]["200"]["content"]


async def test_openapi_is_deterministic_without_generated_examples(
    settings: Settings, openapi: dict[str, Any]
) -> None:
    again = create_app(settings).openapi_schema.to_schema()
    assert json.dumps(again, sort_keys=True) == json.dumps(openapi, sort_keys=True)


async def test_docs_lead_to_an_interactive_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs", follow_redirects=True)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "scalar" in response.text.lower()
    assert "/schema/openapi.json" in response.text
