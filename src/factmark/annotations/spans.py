"""Text spans: offset conversion, validation and quote anchoring.

Pure, dependency-free logic (stdlib only) following the W3C Web Annotation selectors:

* ``TextPositionSelector``: ``start``/``end`` offsets, end exclusive.  The canonical unit is the
  Unicode code point of the stored Python ``str``; JavaScript clients count UTF-16 code units, so
  offsets are converted both ways.
* ``TextQuoteSelector``: ``exact`` (the text at the span) with ``prefix``/``suffix`` context of up
  to :data:`QUOTE_CONTEXT` code points (fewer at the text boundaries).

Build one :class:`TextIndex` per document text (per request) and reuse it: after an O(n) build,
offset conversions cost O(1) for texts without astral characters and O(log n) otherwise
(a binary search plus a scan of at most one 64-code-point block).
"""

from __future__ import annotations

import enum
import re
from array import array
from bisect import bisect_right
from dataclasses import dataclass, field

__all__ = [
    "QUOTE_CONTEXT",
    "OffsetUnit",
    "ResolvedSpan",
    "SpanError",
    "TextIndex",
    "find_quote",
    "resolve_span",
    "to_unit",
    "utf16_length",
]

QUOTE_CONTEXT = 32
"""Maximum number of code points of ``prefix``/``suffix`` context around a quote."""

# Characters outside the Basic Multilingual Plane: two UTF-16 code units (a surrogate pair) each.
_ASTRAL_RE = re.compile("[\U00010000-\U0010ffff]")

# Granularity (in code points) of the TextIndex table for texts with astral characters.
_BLOCK = 64


class OffsetUnit(enum.StrEnum):
    """Unit in which a client expresses span offsets."""

    CODEPOINT = "codepoint"
    UTF16 = "utf16"


class SpanError(Exception):
    """An invalid span or quote.

    ``code`` is a stable machine-readable code, ``message`` a human-readable text and ``actual``
    (for ``quote_mismatch``) the real text at the span.

    Codes: ``span_empty``, ``span_inverted``, ``span_out_of_range``,
    ``span_splits_surrogate_pair``, ``quote_mismatch``.
    """

    code: str
    message: str
    actual: str | None

    def __init__(self, code: str, message: str, *, actual: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.actual = actual

    def __repr__(self) -> str:
        return f"SpanError(code={self.code!r}, message={self.message!r}, actual={self.actual!r})"


def _astral_count(text: str) -> int:
    """Number of astral characters in ``text`` (each is one code point but two UTF-16 units)."""
    # "surrogatepass": a lone surrogate in the str is one code point and one code unit.
    return len(text.encode("utf-16-le", "surrogatepass")) // 2 - len(text)


def utf16_length(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, as JavaScript's ``length`` counts."""
    return len(text) if text.isascii() else len(text) + _astral_count(text)


@dataclass(frozen=True, slots=True)
class TextIndex:
    """Precomputed offset table for one document text; build once per request.

    ASCII and BMP-only texts (the common case) need no table: both units coincide.  Otherwise the
    index keeps, for every block of :data:`_BLOCK` code points, the number of astral characters
    before the block (about 125 KB for a 2,000,000-code-point text, however many astral characters
    it holds); a conversion is a binary search over the blocks plus a scan of at most one block.
    """

    text: str
    _blocks: array[int] = field(init=False, repr=False, compare=False)
    _utf16_length: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        text = self.text
        blocks: array[int] = array("q")
        utf16_length = len(text)
        if not text.isascii() and _ASTRAL_RE.search(text) is not None:
            total = 0
            for block_start in range(0, len(text) + 1, _BLOCK):
                blocks.append(total)
                total += _astral_count(text[block_start : block_start + _BLOCK])
            utf16_length += total
        object.__setattr__(self, "_blocks", blocks)
        object.__setattr__(self, "_utf16_length", utf16_length)

    @classmethod
    def build(cls, text: str) -> TextIndex:
        """Index ``text`` (O(n) once)."""
        return cls(text)

    @property
    def length(self) -> int:
        """Length of the text in code points."""
        return len(self.text)

    @property
    def utf16_length(self) -> int:
        """Length of the text in UTF-16 code units."""
        return self._utf16_length

    def cp_to_utf16(self, offset: int) -> int:
        """Convert a code point offset in ``[0, length]`` to a UTF-16 code unit offset."""
        if not 0 <= offset <= len(self.text):
            raise _out_of_range(offset, len(self.text), OffsetUnit.CODEPOINT)
        blocks = self._blocks
        if not blocks:
            return offset
        block = offset // _BLOCK
        block_start = block * _BLOCK
        # Every astral character strictly before ``offset`` takes one extra code unit.
        return offset + blocks[block] + _astral_count(self.text[block_start:offset])

    def utf16_to_cp(self, offset: int) -> int:
        """Convert a UTF-16 code unit offset in ``[0, utf16_length]`` to a code point offset.

        Raises ``SpanError("span_splits_surrogate_pair")`` for an offset between the two code units
        of an astral character and ``SpanError("span_out_of_range")`` outside the text.
        """
        if not 0 <= offset <= self._utf16_length:
            raise _out_of_range(offset, self._utf16_length, OffsetUnit.UTF16)
        blocks = self._blocks
        if not blocks:
            return offset
        # Last block starting (in UTF-16 units) at or before ``offset``.
        block = bisect_right(range(len(blocks)), offset, key=lambda b: b * _BLOCK + blocks[b]) - 1
        cp = block * _BLOCK
        units = cp + blocks[block]
        if block + 1 < len(blocks) and blocks[block + 1] == blocks[block]:
            return cp + offset - units  # no astral character in this block
        for char in self.text[cp : cp + _BLOCK]:
            if units >= offset:
                break
            units += 2 if char > "\uffff" else 1
            cp += 1
        if units != offset:
            raise SpanError(
                "span_splits_surrogate_pair",
                f"UTF-16 offset {offset} falls inside a surrogate pair "
                f"(between the two code units of the character at code point {cp - 1})",
            )
        return cp


@dataclass(frozen=True, slots=True)
class ResolvedSpan:
    """A validated span in code points with its quote selector."""

    start: int
    end: int
    exact: str
    prefix: str
    suffix: str


def _out_of_range(offset: int, length: int, unit: OffsetUnit) -> SpanError:
    return SpanError(
        "span_out_of_range",
        f"offset {offset} is outside the text (valid {unit.value} offsets: 0..{length})",
    )


def _to_codepoints(index: TextIndex, offset: int, unit: OffsetUnit) -> int:
    if unit == OffsetUnit.CODEPOINT:
        if not 0 <= offset <= index.length:
            raise _out_of_range(offset, index.length, OffsetUnit.CODEPOINT)
        return offset
    if unit == OffsetUnit.UTF16:
        return index.utf16_to_cp(offset)
    raise ValueError(f"unknown offset unit: {unit!r}")


def _span_at(text: str, start: int, end: int) -> ResolvedSpan:
    return ResolvedSpan(
        start=start,
        end=end,
        exact=text[start:end],
        prefix=text[max(0, start - QUOTE_CONTEXT) : start],
        suffix=text[end : end + QUOTE_CONTEXT],
    )


def _text_ends_with_at(text: str, pos: int, prefix: str) -> bool:
    """Whether ``text[:pos]`` ends with ``prefix`` (without copying the text)."""
    return len(prefix) <= pos and text.startswith(prefix, pos - len(prefix), pos)


def resolve_span(
    index: TextIndex,
    start: int,
    end: int,
    *,
    unit: OffsetUnit = OffsetUnit.CODEPOINT,
    exact: str | None = None,
    prefix: str | None = None,
    suffix: str | None = None,
) -> ResolvedSpan:
    """Validate a client span given in ``unit`` and resolve it to code points and its quote.

    Checks, in order: each offset is inside the text and (UTF-16) not inside a surrogate pair, the
    span is not inverted, the span is not empty, then the client's optional quote: ``exact`` must
    equal the text at the span, ``prefix`` must end the text before the span and ``suffix`` must
    start the text after it (shorter context than :data:`QUOTE_CONTEXT` is accepted).  A quote
    difference raises ``SpanError("quote_mismatch")`` with ``actual`` set to the real text.
    """
    cp_start = _to_codepoints(index, start, unit)
    cp_end = _to_codepoints(index, end, unit)
    if cp_start > cp_end:
        raise SpanError("span_inverted", f"span start {start} is after its end {end}")
    if cp_start == cp_end:
        raise SpanError("span_empty", f"span [{start}, {end}) is empty")

    text = index.text
    span = _span_at(text, cp_start, cp_end)
    mismatched: list[str] = []
    if exact is not None and exact != span.exact:
        mismatched.append("exact")
    if prefix is not None and not _text_ends_with_at(text, cp_start, prefix):
        mismatched.append("prefix")
    if suffix is not None and not text.startswith(suffix, cp_end):
        mismatched.append("suffix")
    if mismatched:
        raise SpanError(
            "quote_mismatch",
            f"quote {', '.join(mismatched)} does not match the text at the span",
            actual=span.exact,
        )
    return span


def to_unit(index: TextIndex, start: int, end: int, unit: OffsetUnit) -> tuple[int, int]:
    """Convert code point offsets to ``unit`` (raises ``span_out_of_range`` outside the text)."""
    if unit == OffsetUnit.CODEPOINT:
        for offset in (start, end):
            if not 0 <= offset <= index.length:
                raise _out_of_range(offset, index.length, OffsetUnit.CODEPOINT)
        return start, end
    if unit == OffsetUnit.UTF16:
        return index.cp_to_utf16(start), index.cp_to_utf16(end)
    raise ValueError(f"unknown offset unit: {unit!r}")


def _common_suffix_length(a: str, b: str) -> int:
    n = 0
    for x, y in zip(reversed(a), reversed(b), strict=False):
        if x != y:
            break
        n += 1
    return n


def _common_prefix_length(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def find_quote(
    index: TextIndex, exact: str, prefix: str = "", suffix: str = ""
) -> ResolvedSpan | None:
    """Re-anchor a TextQuoteSelector in the text.

    Returns the occurrence of ``exact`` whose surroundings match ``prefix`` (immediately before)
    and ``suffix`` (immediately after) best: the first occurrence with both fully matching if there
    is one, else the occurrence with the most matching context code points (ties: the first).
    Returns ``None`` when ``exact`` is empty or does not occur.
    """
    if not exact:
        return None
    text = index.text

    # Fast path: an occurrence with its full context is an occurrence of prefix + exact + suffix.
    full = text.find(prefix + exact + suffix)
    if full >= 0:
        start = full + len(prefix)
        return _span_at(text, start, start + len(exact))

    # Otherwise score every occurrence by its number of matching context code points.
    best_start = text.find(exact)
    if best_start < 0:
        return None
    best_score = -1
    last_prefix = prefix[-1:]
    first_suffix = suffix[:1]
    pos = best_start
    while pos >= 0:
        end = pos + len(exact)
        # Cheap pre-check: when neither neighbouring code point matches, the score is 0.
        if (pos > 0 and last_prefix == text[pos - 1]) or (
            first_suffix and text.startswith(first_suffix, end)
        ):
            score = _common_suffix_length(
                text[max(0, pos - len(prefix)) : pos], prefix
            ) + _common_prefix_length(text[end : end + len(suffix)], suffix)
        else:
            score = 0
        if score > best_score:
            best_start, best_score = pos, score
        pos = text.find(exact, pos + 1)
    return _span_at(text, best_start, best_start + len(exact))
