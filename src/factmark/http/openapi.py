"""Corrections to what Litestar writes into the OpenAPI document, so that it says what the server
really does (clients are generated from it, and schemathesis checks the server against it)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import msgspec

# Litestar has no public hook for this: the plugin below extends its own msgspec Struct plugin.
from litestar._openapi.schema_generation import SchemaCreator
from litestar._openapi.schema_generation.plugins import (  # type: ignore[attr-defined]
    StructSchemaPlugin,
)
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import OpenAPI, Operation, Schema
from litestar.typing import FieldDefinition


class StrictStructSchemaPlugin(StructSchemaPlugin):
    """Struct schemas with ``additionalProperties: false`` when the Struct forbids unknown fields,
    as every request body of the API does (unknown fields give 422)."""

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        info = msgspec.inspect.type_info(field_definition.type_)
        if isinstance(info, msgspec.inspect.StructType) and info.forbid_unknown_fields:
            schema.additional_properties = False
        return schema


@dataclass
class PublicOperation(Operation):
    """An operation that needs no credentials: ``security: []`` overrides the document's global
    bearer requirement. (Litestar drops an empty ``security=[]`` on a route.)"""

    def __post_init__(self) -> None:
        self.security = []


@dataclass
class _Document(OpenAPI):
    def to_schema(self) -> dict[str, Any]:
        return tidy_document(super().to_schema())


@dataclass
class FactmarkOpenAPIConfig(OpenAPIConfig):
    """OpenAPIConfig whose document is tidied by :func:`tidy_document` when it is rendered."""

    def to_openapi_schema(self) -> OpenAPI:
        base = super().to_openapi_schema()
        return _Document(**{f.name: getattr(base, f.name) for f in fields(base)})


# What every operation that takes a JSON body may answer about the body itself
# (factmark.http.bodies and Litestar's body size limit), documented once here for all.
_BODY_PROBLEMS = {
    "413": "The request body is larger than the configured limit.",
    "415": "The body is not JSON (send Content-Type: application/json).",
    "422": "Validation failed; `errors` names each field.",
}


def tidy_document(document: dict[str, Any]) -> dict[str, Any]:
    """Last corrections to the rendered document:

    - parameters (query, header, path) are never ``null`` on the wire: an optional one is
      simply absent. Litestar writes ``oneOf: [T, {type: null}]`` for ``T | None``; keep ``T``;
    - every operation with a request body documents 413, 415 and 422 problem details.
    """
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                if "schema" in parameter:
                    parameter["schema"] = _without_null(parameter["schema"])
            if "requestBody" in operation:
                responses = operation.setdefault("responses", {})
                for status, description in _BODY_PROBLEMS.items():
                    responses.setdefault(status, _problem_response(description))
    return document


def _problem_response(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Problem"}
    return {"description": description, "content": {"application/problem+json": {"schema": schema}}}


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    for key in ("oneOf", "anyOf"):
        options = schema.get(key)
        if not isinstance(options, list):
            continue
        kept = [option for option in options if option != {"type": "null"}]
        if len(kept) == len(options):
            continue
        rest = {k: v for k, v in schema.items() if k != key}
        if len(kept) == 1:
            return {**kept[0], **rest}
        return {**rest, key: kept}
    return schema
