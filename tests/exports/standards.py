"""Checkers for the standard formats: the official W3C Web Annotation test suite's MUST
assertions (JSON Schemas in /work/shared/standards/w3c-annotation-model, run as its README
says), and a JSON Schema of Google's documented ClaimReview requirements."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

W3C_SUITE = Path("/work/shared/standards/w3c-annotation-model")
CLAIMREVIEW_SCHEMA = Path(__file__).with_name("claimreview.schema.json")

# ajv 4's "fast" format patterns, which the suite's own runner used (see the suite's README).
_URI = re.compile(r"^(?:[a-z][a-z0-9+\-.]*)?(?:\:|\/)\/?[^\s]*$", re.IGNORECASE)
_DATE_TIME = re.compile(
    r"^\d\d\d\d-[0-1]\d-[0-3]\d[t\s][0-2]\d:[0-5]\d:[0-5]\d(?:\.\d+)?(?:z|[+-]\d\d:\d\d)$",
    re.IGNORECASE,
)

_formats = FormatChecker(formats=())


@_formats.checks("uri")
def _is_uri(value: object) -> bool:
    return not isinstance(value, str) or bool(_URI.match(value))


@_formats.checks("date-time")
def _is_date_time(value: object) -> bool:
    return not isinstance(value, str) or bool(_DATE_TIME.match(value))


@cache
def _registry() -> Registry:
    definitions = [
        json.loads(p.read_text(encoding="utf-8"))
        for p in sorted((W3C_SUITE / "definitions").glob("*.json"))
    ]
    assert len(definitions) == 7
    return Registry().with_resources(
        (d["id"], Resource.from_contents(d, default_specification=DRAFT4)) for d in definitions
    )


@cache
def _assertions(test_file: str) -> tuple[tuple[str, dict[str, Any]], ...]:
    test = json.loads((W3C_SUITE / "tests" / test_file).read_text(encoding="utf-8"))
    return tuple(
        (path, json.loads((W3C_SUITE / "tests" / path).read_text(encoding="utf-8")))
        for path in test["assertions"]
    )


def _failures(instance: dict[str, Any], assertions: Any) -> list[str]:
    failed = []
    for path, assertion in assertions:
        validator = Draft4Validator(assertion, registry=_registry(), format_checker=_formats)
        valid = validator.is_valid(instance)
        if valid != (assertion.get("expectedResult", "valid") == "valid"):
            failed.append(f"{path}: {assertion.get('errorMessage', '').strip()}")
    return failed


ANNOTATION_MUSTS = "annotations/annotationMusts.test"
PAGE_MUSTS = "collections/pages/pageMusts.test"
COLLECTION_MUSTS = "collections/collectionMusts.test"
SINGLE_MOTIVATION = "annotations/3.3.5-annotationSingleMotivationImplemented.json"


def w3c_failures(instance: dict[str, Any], test_file: str) -> list[str]:
    """The failed MUST assertions of one .test file (the factmark profile adds, for
    annotations, the SHOULD of a single motivation from the model's list)."""
    assertions = list(_assertions(test_file))
    assert len(assertions) >= 10
    if test_file == ANNOTATION_MUSTS:
        path = W3C_SUITE / "tests" / SINGLE_MOTIVATION
        assertions.append((SINGLE_MOTIVATION, json.loads(path.read_text(encoding="utf-8"))))
    return _failures(instance, assertions)


def claimreview_errors(review: dict[str, Any]) -> list[str]:
    schema = json.loads(CLAIMREVIEW_SCHEMA.read_text(encoding="utf-8"))
    validator = Draft202012Validator(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(review)
    ]
