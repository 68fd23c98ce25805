"""Property: whatever the text and span, the quote the server stores equals the text at the
span, in both offset units."""

from __future__ import annotations

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import World

# Letters, combining marks, right-to-left scripts and astral emoji; no NUL or lone surrogates,
# which the API rejects by design.
ALPHABET = st.characters(
    codec="utf-8",
    exclude_categories=("Cs", "Cc"),
) | st.sampled_from(["👍🏽", "🇺🇦", "e\u0301", "ש", "ق", "\n", " "])


@st.composite
def text_and_span(draw: st.DrawFn) -> tuple[str, int, int]:
    parts = draw(st.lists(ALPHABET, min_size=1, max_size=60))
    text = "".join(parts)
    start = draw(st.integers(0, len(text) - 1))
    end = draw(st.integers(start + 1, len(text)))
    return text, start, end


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=text_and_span())
async def test_stored_quote_equals_the_text_at_the_span_in_both_units(
    client: httpx.AsyncClient, world: World, case: tuple[str, int, int]
) -> None:
    text, start, end = case
    doc = await client.post(
        "/api/v1/workspaces/acme/documents?allowDuplicates=true",
        json={"title": "property", "text": text},
        headers=world["editor"].headers,
    )
    assert doc.status_code == 201, doc.text
    created = await client.post(
        f"/api/v1/documents/{doc.json()['id']}/claims",
        json={"spans": [{"start": start, "end": end}]},
        headers=world["reviewer"].headers,
    )
    assert created.status_code == 201, created.text
    span = created.json()["spans"][0]
    assert span["exact"] == text[start:end]
    assert span["prefix"] == text[max(0, start - 32) : start]
    assert span["suffix"] == text[end : end + 32]
    utf16 = await client.get(
        f"/api/v1/claims/{created.json()['id']}?offsetUnit=utf16", headers=world["viewer"].headers
    )
    u = utf16.json()["spans"][0]
    units = text.encode("utf-16-le")
    assert units[u["start"] * 2 : u["end"] * 2].decode("utf-16-le") == text[start:end]
