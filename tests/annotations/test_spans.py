"""Unit and property-based tests for span offsets, validation and quote anchoring."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from factmark.annotations.spans import (
    QUOTE_CONTEXT,
    OffsetUnit,
    ResolvedSpan,
    SpanError,
    TextIndex,
    find_quote,
    resolve_span,
    to_unit,
)

THUMBS_UP_MEDIUM = "\U0001f44d\U0001f3fd"  # 👍🏽: 2 code points, 4 UTF-16 units
FLAG_UA = "\U0001f1fa\U0001f1e6"  # 🇺🇦: 2 regional indicators, 4 UTF-16 units
E_COMBINING = "e\u0301"  # é as e + COMBINING ACUTE ACCENT: 2 code points, 2 UTF-16 units
ARABIC = "مرحبا بالعالم"
HEBREW = "שלום עולם"


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def error_of(excinfo: pytest.ExceptionInfo[SpanError]) -> SpanError:
    return excinfo.value


# --- strategies -------------------------------------------------------------------------------

# Mix arbitrary characters with a few interesting ones (astral, combining, RTL) so that astral
# characters and repeated substrings show up often.
interesting_chars = st.sampled_from(
    [
        "a",
        "b",
        " ",
        "\U0001f44d",
        "\U0001f3fd",
        "\U0001f1fa",
        "\U0001f1e6",
        "\U00020000",
        "e",
        "\u0301",
        "\u0627",  # ARABIC LETTER ALEF
        "ש",
        "\u200f",
        "é",
    ]
)
# Lone surrogates (category Cs) are excluded, like st.text() does: they cannot be encoded as UTF-16.
texts = st.text(
    alphabet=st.one_of(st.characters(exclude_categories=["Cs"]), interesting_chars), max_size=80
)


# Longer texts so that offsets cross the index's internal block boundaries.
long_texts = st.lists(
    st.sampled_from(["a", " ", "\u0301", "\u05e9", "\U0001f44d", "\U0001f1fa", "\U00020000"]),
    max_size=400,
).map("".join)


@st.composite
def text_and_offset(draw: st.DrawFn) -> tuple[str, int]:
    text = draw(st.one_of(st.text(), texts, long_texts))
    return text, draw(st.integers(min_value=0, max_value=len(text)))


@st.composite
def text_and_span(draw: st.DrawFn) -> tuple[str, int, int]:
    text = draw(st.one_of(st.text(min_size=1), texts.filter(bool), long_texts.filter(bool)))
    start = draw(st.integers(min_value=0, max_value=len(text) - 1))
    end = draw(st.integers(min_value=start + 1, max_value=len(text)))
    return text, start, end


# --- SpanError --------------------------------------------------------------------------------


def test_span_error_exposes_code_message_and_actual() -> None:
    err = SpanError("quote_mismatch", "nope", actual="real")
    assert (err.code, err.message, err.actual) == ("quote_mismatch", "nope", "real")
    assert str(err) == "nope"
    assert SpanError("span_empty", "empty").actual is None


def test_empty_span_is_rejected() -> None:
    with pytest.raises(SpanError) as excinfo:
        resolve_span(TextIndex.build("hello"), 2, 2)
    assert error_of(excinfo).code == "span_empty"


def test_inverted_span_is_rejected() -> None:
    with pytest.raises(SpanError) as excinfo:
        resolve_span(TextIndex.build("hello"), 3, 1)
    assert error_of(excinfo).code == "span_inverted"


@pytest.mark.parametrize(
    ("start", "end"),
    [(-1, 2), (0, 6), (6, 7), (-3, -1), (7, 2)],
)
def test_span_outside_text_is_rejected(start: int, end: int) -> None:
    with pytest.raises(SpanError) as excinfo:
        resolve_span(TextIndex.build("hello"), start, end)
    assert error_of(excinfo).code == "span_out_of_range"


def test_out_of_range_is_reported_before_inverted() -> None:
    with pytest.raises(SpanError) as excinfo:
        resolve_span(TextIndex.build("hello"), 9, 2)
    assert error_of(excinfo).code == "span_out_of_range"


def test_inverted_is_reported_before_empty_check() -> None:
    with pytest.raises(SpanError) as excinfo:
        resolve_span(TextIndex.build("hello"), 4, 0)
    assert error_of(excinfo).code == "span_inverted"


def test_utf16_span_outside_text_is_rejected() -> None:
    index = TextIndex.build("a" + THUMBS_UP_MEDIUM)  # 5 UTF-16 units
    with pytest.raises(SpanError) as excinfo:
        resolve_span(index, 0, 6, unit=OffsetUnit.UTF16)
    assert error_of(excinfo).code == "span_out_of_range"
    assert resolve_span(index, 0, 5, unit=OffsetUnit.UTF16).exact == "a" + THUMBS_UP_MEDIUM


@pytest.mark.parametrize("utf16_offset", [2, 4])
def test_utf16_offset_inside_surrogate_pair_is_rejected(utf16_offset: int) -> None:
    index = TextIndex.build("a" + THUMBS_UP_MEDIUM + "b")  # units: a, 👍 hi/lo, 🏽 hi/lo, b
    with pytest.raises(SpanError) as excinfo:
        index.utf16_to_cp(utf16_offset)
    assert error_of(excinfo).code == "span_splits_surrogate_pair"
    with pytest.raises(SpanError) as excinfo:
        resolve_span(index, 0, utf16_offset, unit=OffsetUnit.UTF16)
    assert error_of(excinfo).code == "span_splits_surrogate_pair"
    with pytest.raises(SpanError) as excinfo:
        resolve_span(index, utf16_offset, 6, unit=OffsetUnit.UTF16)
    assert error_of(excinfo).code == "span_splits_surrogate_pair"


def test_surrogate_split_is_reported_before_inverted() -> None:
    index = TextIndex.build(THUMBS_UP_MEDIUM)
    with pytest.raises(SpanError) as excinfo:
        resolve_span(index, 3, 0, unit=OffsetUnit.UTF16)
    assert error_of(excinfo).code == "span_splits_surrogate_pair"


@pytest.mark.parametrize("offset", [-1, 7])
def test_conversions_reject_offsets_outside_text(offset: int) -> None:
    index = TextIndex.build("ab" + FLAG_UA)  # 4 code points, 6 UTF-16 units
    with pytest.raises(SpanError) as excinfo:
        index.utf16_to_cp(offset)
    assert error_of(excinfo).code == "span_out_of_range"
    with pytest.raises(SpanError) as excinfo:
        index.cp_to_utf16(offset - 2 if offset > 0 else offset)
    assert error_of(excinfo).code == "span_out_of_range"


def test_mismatched_exact_is_rejected_with_actual_text() -> None:
    with pytest.raises(SpanError) as excinfo:
        resolve_span(TextIndex.build("the cat sat"), 4, 7, exact="dog")
    err = error_of(excinfo)
    assert err.code == "quote_mismatch"
    assert err.actual == "cat"


def test_mismatched_prefix_is_rejected() -> None:
    with pytest.raises(SpanError) as excinfo:
        resolve_span(TextIndex.build("the cat sat"), 4, 7, exact="cat", prefix="a ")
    err = error_of(excinfo)
    assert err.code == "quote_mismatch"
    assert err.actual == "cat"


def test_mismatched_suffix_is_rejected() -> None:
    with pytest.raises(SpanError) as excinfo:
        resolve_span(TextIndex.build("the cat sat"), 4, 7, suffix=" stood")
    err = error_of(excinfo)
    assert err.code == "quote_mismatch"
    assert err.actual == "cat"


def test_prefix_longer_than_available_text_is_rejected() -> None:
    with pytest.raises(SpanError) as excinfo:
        resolve_span(TextIndex.build("the cat sat"), 4, 7, prefix="xthe ")
    assert error_of(excinfo).code == "quote_mismatch"


def test_utf16_span_with_wrong_quote_reports_actual_text() -> None:
    text = "ok " + THUMBS_UP_MEDIUM + " done"
    with pytest.raises(SpanError) as excinfo:
        resolve_span(TextIndex.build(text), 3, 7, unit=OffsetUnit.UTF16, exact="\U0001f44d")
    assert error_of(excinfo).code == "quote_mismatch"
    assert error_of(excinfo).actual == THUMBS_UP_MEDIUM


# --- ASCII --------------------------------------------------------------------------------


def test_ascii_text_conversions_are_identity() -> None:
    index = TextIndex.build("hello world")
    assert index.length == index.utf16_length == 11
    assert [index.cp_to_utf16(i) for i in range(12)] == list(range(12))
    assert [index.utf16_to_cp(i) for i in range(12)] == list(range(12))


def test_ascii_span_resolves_quote_and_context() -> None:
    span = resolve_span(TextIndex.build("the cat sat"), 4, 7)
    assert span == ResolvedSpan(start=4, end=7, exact="cat", prefix="the ", suffix=" sat")


def test_matching_quote_is_accepted() -> None:
    index = TextIndex.build("the cat sat")
    span = resolve_span(index, 4, 7, exact="cat", prefix="the ", suffix=" sat")
    assert span.exact == "cat"


def test_shorter_client_context_is_accepted() -> None:
    index = TextIndex.build("the cat sat")
    span = resolve_span(index, 4, 7, exact="cat", prefix=" ", suffix=" s")
    assert (span.prefix, span.suffix) == ("the ", " sat")
    assert resolve_span(index, 4, 7, prefix="", suffix="") == span


def test_client_context_longer_than_quote_context_is_accepted_when_it_matches() -> None:
    text = "x" * 50 + "target" + "y" * 50
    index = TextIndex.build(text)
    span = resolve_span(index, 50, 56, exact="target", prefix="x" * 40, suffix="y" * 40)
    assert span.prefix == "x" * QUOTE_CONTEXT
    assert span.suffix == "y" * QUOTE_CONTEXT


def test_bmp_only_non_ascii_text_conversions_are_identity() -> None:
    text = "naïve café — 中文 " + ARABIC
    index = TextIndex.build(text)
    assert index.utf16_length == index.length == len(text)
    assert index.cp_to_utf16(len(text)) == len(text)
    assert index.utf16_to_cp(5) == 5


def test_empty_text_has_only_offset_zero() -> None:
    index = TextIndex.build("")
    assert (index.length, index.utf16_length) == (0, 0)
    assert index.cp_to_utf16(0) == 0
    assert index.utf16_to_cp(0) == 0
    with pytest.raises(SpanError) as excinfo:
        resolve_span(index, 0, 0)
    assert error_of(excinfo).code == "span_empty"


# --- prefix/suffix at boundaries -------------------------------------------------------------


def test_context_is_truncated_at_text_start() -> None:
    text = "abc" + "d" * 40
    span = resolve_span(TextIndex.build(text), 0, 3)
    assert span.prefix == ""
    assert span.suffix == "d" * QUOTE_CONTEXT


def test_context_is_truncated_at_text_end() -> None:
    text = "d" * 40 + "abc"
    span = resolve_span(TextIndex.build(text), 40, 43)
    assert span.prefix == "d" * QUOTE_CONTEXT
    assert span.suffix == ""


def test_context_shorter_than_limit_near_boundaries() -> None:
    text = "0123456789" + "X" + "abcdef"
    span = resolve_span(TextIndex.build(text), 10, 11)
    assert (span.prefix, span.exact, span.suffix) == ("0123456789", "X", "abcdef")


def test_whole_text_span_has_empty_context() -> None:
    span = resolve_span(TextIndex.build("whole"), 0, 5)
    assert (span.prefix, span.exact, span.suffix) == ("", "whole", "")


def test_context_counts_code_points_not_utf16_units() -> None:
    text = THUMBS_UP_MEDIUM * 20 + "|" + FLAG_UA * 20  # 40 + 1 + 40 code points
    index = TextIndex.build(text)
    span = resolve_span(index, 40, 41)
    assert span.prefix == THUMBS_UP_MEDIUM * 16
    assert len(span.prefix) == QUOTE_CONTEXT
    assert span.suffix == FLAG_UA * 16
    assert to_unit(index, 40, 41, OffsetUnit.UTF16) == (80, 81)


# --- astral characters (emoji outside the BMP) ---------------------------------------------


def test_skin_tone_emoji_is_two_code_points_and_four_utf16_units() -> None:
    index = TextIndex.build(THUMBS_UP_MEDIUM)
    assert index.length == 2
    assert index.utf16_length == 4
    assert [index.cp_to_utf16(i) for i in range(3)] == [0, 2, 4]
    assert [index.utf16_to_cp(u) for u in (0, 2, 4)] == [0, 1, 2]


def test_emoji_span_round_trips_between_units() -> None:
    text = "I agree " + THUMBS_UP_MEDIUM + " totally"
    index = TextIndex.build(text)
    cp_span = resolve_span(index, 8, 10)
    assert cp_span.exact == THUMBS_UP_MEDIUM
    assert to_unit(index, 8, 10, OffsetUnit.UTF16) == (8, 12)
    assert resolve_span(index, 8, 12, unit=OffsetUnit.UTF16) == cp_span
    # Text after the emoji is shifted by two units.
    assert to_unit(index, 11, 18, OffsetUnit.UTF16) == (13, 20)
    assert resolve_span(index, 13, 20, unit=OffsetUnit.UTF16).exact == "totally"


def test_flag_emoji_offsets() -> None:
    text = "Glory to " + FLAG_UA + "!"
    index = TextIndex.build(text)
    assert index.length == 12
    assert index.utf16_length == 14
    span = resolve_span(index, 9, 13, unit=OffsetUnit.UTF16, exact=FLAG_UA, suffix="!")
    assert (span.start, span.end) == (9, 11)
    # Splitting a flag between its two regional indicators is allowed at a code point boundary.
    half = resolve_span(index, 9, 11, unit=OffsetUnit.UTF16)
    assert half.exact == "\U0001f1fa"
    with pytest.raises(SpanError) as excinfo:
        resolve_span(index, 9, 12, unit=OffsetUnit.UTF16)
    assert error_of(excinfo).code == "span_splits_surrogate_pair"


def test_codepoint_unit_conversion_is_identity_but_validated() -> None:
    index = TextIndex.build(FLAG_UA)
    assert to_unit(index, 0, 2, OffsetUnit.CODEPOINT) == (0, 2)
    with pytest.raises(SpanError) as excinfo:
        to_unit(index, 0, 3, OffsetUnit.CODEPOINT)
    assert error_of(excinfo).code == "span_out_of_range"


def test_every_offset_of_a_long_emoji_text_converts_correctly() -> None:
    pieces = ["a", THUMBS_UP_MEDIUM, "bc", FLAG_UA, E_COMBINING, "\U00020000" * 3]
    text = "".join(pieces[i % len(pieces)] for i in range(300))
    index = TextIndex.build(text)
    assert index.utf16_length == utf16_len(text)
    boundaries = [utf16_len(text[:i]) for i in range(len(text) + 1)]
    assert [index.cp_to_utf16(i) for i in range(len(text) + 1)] == boundaries
    for unit_offset in range(index.utf16_length + 1):
        if unit_offset in boundaries:
            assert index.utf16_to_cp(unit_offset) == boundaries.index(unit_offset)
        else:
            with pytest.raises(SpanError) as excinfo:
                index.utf16_to_cp(unit_offset)
            assert error_of(excinfo).code == "span_splits_surrogate_pair"


def test_index_equality_depends_on_text_only() -> None:
    assert TextIndex.build("a" + FLAG_UA) == TextIndex("a" + FLAG_UA)
    assert hash(TextIndex.build("x")) == hash(TextIndex.build("x"))
    assert TextIndex.build("x") != TextIndex.build("y")


# --- combining marks, right-to-left, mixed -------------------------------------------------


def test_combining_mark_counts_as_separate_code_point() -> None:
    text = "caf" + E_COMBINING + " au lait"
    index = TextIndex.build(text)
    assert index.length == index.utf16_length == 13
    span = resolve_span(index, 0, 5, unit=OffsetUnit.UTF16)
    assert span.exact == "caf" + E_COMBINING
    # A span may end between the base letter and its combining mark: offsets are not graphemes.
    assert resolve_span(index, 0, 4).exact == "cafe"


def test_precomposed_and_decomposed_forms_are_not_equal_quotes() -> None:
    index = TextIndex.build("caf" + E_COMBINING)
    with pytest.raises(SpanError) as excinfo:
        resolve_span(index, 0, 5, exact="café")  # precomposed U+00E9
    assert error_of(excinfo).code == "quote_mismatch"
    assert error_of(excinfo).actual == "caf" + E_COMBINING


def test_arabic_text_offsets_are_logical_order() -> None:
    index = TextIndex.build(ARABIC)
    span = resolve_span(index, 6, 13, unit=OffsetUnit.UTF16)
    assert span.exact == "بالعالم"
    assert span.prefix == "مرحبا "
    assert span.suffix == ""


def test_hebrew_text_span_with_quote() -> None:
    index = TextIndex.build(HEBREW)
    span = resolve_span(index, 0, 4, exact="שלום", suffix=" עו")
    assert span == ResolvedSpan(start=0, end=4, exact="שלום", prefix="", suffix=" עולם")


def test_mixed_scripts_emoji_and_combining_marks() -> None:
    text = "Re: " + HEBREW + " " + THUMBS_UP_MEDIUM + " caf" + E_COMBINING + " " + ARABIC + FLAG_UA
    index = TextIndex.build(text)
    assert index.utf16_length == utf16_len(text)
    start = text.index(ARABIC)
    end = start + len(ARABIC) + len(FLAG_UA)
    u_start, u_end = to_unit(index, start, end, OffsetUnit.UTF16)
    assert (u_start, u_end) == (start + 2, end + 4)
    span = resolve_span(index, u_start, u_end, unit=OffsetUnit.UTF16, exact=ARABIC + FLAG_UA)
    assert (span.start, span.end) == (start, end)
    assert span.prefix.endswith("caf" + E_COMBINING + " ")


def test_lone_surrogate_in_stored_text_counts_as_one_utf16_unit() -> None:
    index = TextIndex.build("a\ud800b" + FLAG_UA)
    assert (index.length, index.utf16_length) == (5, 7)
    assert [index.cp_to_utf16(i) for i in range(6)] == [0, 1, 2, 3, 5, 7]
    assert resolve_span(index, 1, 2, unit=OffsetUnit.UTF16).exact == "\ud800"


# --- find_quote -----------------------------------------------------------------------------


def test_find_quote_returns_none_for_missing_or_empty_exact() -> None:
    index = TextIndex.build("the cat sat")
    assert find_quote(index, "dog") is None
    assert find_quote(index, "") is None
    assert find_quote(TextIndex.build(""), "x") is None


def test_find_quote_prefers_occurrence_with_matching_context() -> None:
    index = TextIndex.build("the cat sat on the cat mat")
    first = find_quote(index, "cat")
    assert first is not None
    assert first.start == 4
    second = find_quote(index, "cat", prefix="on the ", suffix=" mat")
    assert second == ResolvedSpan(
        start=19, end=22, exact="cat", prefix="the cat sat on the ", suffix=" mat"
    )


def test_find_quote_ties_go_to_first_occurrence() -> None:
    index = TextIndex.build("x cat y cat z")
    found = find_quote(index, "cat", prefix="q ", suffix=" q")
    assert found is not None
    assert found.start == 2


def test_find_quote_uses_best_partial_context_after_edits() -> None:
    # The document changed around the second occurrence; its context still matches best.
    index = TextIndex.build("a cat here, and the black cat was there")
    found = find_quote(index, "cat", prefix="the black ", suffix=" is there")
    assert found is not None
    assert found.start == 26


def test_find_quote_handles_astral_text() -> None:
    text = FLAG_UA + " yes " + THUMBS_UP_MEDIUM + " no " + THUMBS_UP_MEDIUM
    index = TextIndex.build(text)
    found = find_quote(index, THUMBS_UP_MEDIUM, prefix=" no ")
    assert found is not None
    assert found.start == text.rindex(THUMBS_UP_MEDIUM)
    assert to_unit(index, found.start, found.end, OffsetUnit.UTF16) == (
        utf16_len(text) - 4,
        utf16_len(text),
    )


def test_find_quote_finds_overlapping_occurrences() -> None:
    index = TextIndex.build("aaaa")
    found = find_quote(index, "aa", prefix="a", suffix="a")
    assert found is not None
    assert found.start == 1


# --- properties -------------------------------------------------------------------------------


@given(text_and_offset())
def test_utf16_round_trip_preserves_codepoint_offsets(case: tuple[str, int]) -> None:
    text, offset = case
    index = TextIndex.build(text)
    utf16 = index.cp_to_utf16(offset)
    assert utf16 == utf16_len(text[:offset])
    assert index.utf16_to_cp(utf16) == offset


@given(st.one_of(st.text(), texts, long_texts))
def test_utf16_length_matches_utf16_encoding(text: str) -> None:
    index = TextIndex.build(text)
    assert index.length == len(text)
    assert index.utf16_length == utf16_len(text)
    assert index.cp_to_utf16(len(text)) == index.utf16_length


@given(st.one_of(st.text(), texts, long_texts), st.data())
def test_every_utf16_offset_is_a_boundary_or_inside_a_pair(text: str, data: st.DataObject) -> None:
    index = TextIndex.build(text)
    offset = data.draw(st.integers(min_value=0, max_value=index.utf16_length))
    boundaries = {utf16_len(text[:i]): i for i in range(len(text) + 1)}
    if offset in boundaries:
        assert index.utf16_to_cp(offset) == boundaries[offset]
    else:
        with pytest.raises(SpanError) as excinfo:
            index.utf16_to_cp(offset)
        assert error_of(excinfo).code == "span_splits_surrogate_pair"


@given(text_and_span())
def test_resolved_span_matches_slice_in_both_units(case: tuple[str, int, int]) -> None:
    text, start, end = case
    index = TextIndex.build(text)
    span = resolve_span(index, start, end)
    assert span.exact == text[start:end]
    assert span.prefix == text[max(0, start - QUOTE_CONTEXT) : start]
    assert span.suffix == text[end : end + QUOTE_CONTEXT]
    u_start, u_end = to_unit(index, start, end, OffsetUnit.UTF16)
    assert (u_start, u_end) == (utf16_len(text[:start]), utf16_len(text[:end]))
    assert resolve_span(index, u_start, u_end, unit=OffsetUnit.UTF16) == span
    # Sending back the resolved quote is always accepted.
    assert (
        resolve_span(
            index,
            u_start,
            u_end,
            unit=OffsetUnit.UTF16,
            exact=span.exact,
            prefix=span.prefix,
            suffix=span.suffix,
        )
        == span
    )


@given(text_and_span())
def test_find_quote_reanchors_resolved_quote(case: tuple[str, int, int]) -> None:
    text, start, end = case
    index = TextIndex.build(text)
    span = resolve_span(index, start, end)
    found = find_quote(index, span.exact, span.prefix, span.suffix)
    assert found is not None
    assert found.exact == span.exact
    assert found.start <= span.start
    assert text[: found.start].endswith(span.prefix)
    assert text[found.end :].startswith(span.suffix)
    quote = span.prefix + span.exact + span.suffix
    occurrences = sum(text.startswith(quote, i) for i in range(len(text)))
    if occurrences == 1:
        assert found == span


@given(text_and_span())
def test_find_quote_without_context_returns_first_occurrence(case: tuple[str, int, int]) -> None:
    text, start, end = case
    exact = text[start:end]
    found = find_quote(TextIndex.build(text), exact)
    assert found is not None
    assert found.start == text.index(exact)
    assert text[found.start : found.end] == exact


def context_score(text: str, start: int, end: int, prefix: str, suffix: str) -> int:
    before, after = text[:start], text[end:]
    p = max(k for k in range(len(prefix) + 1) if before.endswith(prefix[len(prefix) - k :]))
    s = max(k for k in range(len(suffix) + 1) if after.startswith(suffix[:k]))
    return p + s


@given(text_and_span(), st.data())
def test_find_quote_picks_first_occurrence_with_best_context(
    case: tuple[str, int, int], data: st.DataObject
) -> None:
    text, start, end = case
    exact = text[start:end]
    alphabet = st.sampled_from(sorted(set(text)))
    prefix = data.draw(st.text(alphabet=alphabet, max_size=6))
    suffix = data.draw(st.text(alphabet=alphabet, max_size=6))
    occurrences = [i for i in range(len(text)) if text.startswith(exact, i)]
    full = [
        i
        for i in occurrences
        if text[:i].endswith(prefix) and text[i + len(exact) :].startswith(suffix)
    ]
    if full:
        expected = full[0]
    else:
        scores = [context_score(text, i, i + len(exact), prefix, suffix) for i in occurrences]
        expected = occurrences[scores.index(max(scores))]
    found = find_quote(TextIndex.build(text), exact, prefix, suffix)
    assert found is not None
    assert found.start == expected
    assert found == resolve_span(TextIndex.build(text), expected, expected + len(exact))
