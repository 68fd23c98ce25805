"""The operations of the API, read from the OpenAPI document the app serves, so that tests
written over "every operation" cover a new endpoint without being told about it."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from factmark.app import create_app
from factmark.settings import Settings

METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path: str
    operation: dict[str, Any] = field(compare=False, repr=False)
    document: dict[str, Any] = field(compare=False, repr=False)

    @property
    def responses(self) -> set[int]:
        return {int(status) for status in self.operation["responses"]}

    @property
    def public(self) -> bool:
        return self.operation.get("security") == []

    @property
    def path_params(self) -> list[str]:
        return [p["name"] for p in self.operation.get("parameters", []) if p["in"] == "path"]

    @property
    def headers(self) -> dict[str, dict[str, Any]]:
        params = self.operation.get("parameters", [])
        return {p["name"]: p for p in params if p["in"] == "header"}

    @property
    def body_schema(self) -> dict[str, Any] | None:
        """The JSON request body's schema, resolved (``None`` without a body)."""
        body = self.operation.get("requestBody")
        if body is None:
            return None
        schema = body["content"]["application/json"]["schema"]
        for option in schema.get("oneOf", [schema]):
            if "$ref" in option:
                return self.resolve(option)
        return dict(schema)

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            schema = self.document["components"]["schemas"][name]
        return schema


@cache
def openapi_document() -> dict[str, Any]:
    """The document as /schema/openapi.json serves it (building it needs no database)."""
    settings = Settings(
        database_url="postgresql+asyncpg://openapi@localhost/none",
        log_level="WARNING",
        log_format="console",
    )
    app = create_app(settings)
    return dict(app.openapi_schema.to_schema())


@cache
def operations() -> tuple[Operation, ...]:
    document = openapi_document()
    return tuple(
        Operation(op["operationId"], method.upper(), path, op, document)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in METHODS
    )


def with_body() -> list[Operation]:
    return [op for op in operations() if op.body_schema is not None]
