"""SQL expressions that make PostgreSQL write JSON text exactly as msgspec writes the same values.

A read can then be rendered by PostgreSQL and sent as it comes, with the bytes an API response
built from msgspec Structs would have: compact (no spaces), keys in the order given, times in
UTC as ``2026-01-02T03:04:05.123456Z`` (no fraction when it is zero), floats in msgspec's
shortest form (``1.0``, ``0.00001``, ``1e-7``), strings escaped as msgspec escapes them.

Every function takes and returns SQL text (an expression); every expression it returns is a
non-NULL ``text`` (SQL NULL becomes ``null``), so concatenating them with ``||`` never loses a
value. Arguments are expressions from this package's own queries, never user input.
"""

# ruff: noqa: S608 - SQL text from this package's own constants and column names, no input

from __future__ import annotations

from collections.abc import Sequence

NULL = "'null'"


def string(expr: str) -> str:
    """A text value as a JSON string (to_json escapes as msgspec does: \\n, \\u001f, ...)."""
    return f"coalesce(to_json(({expr})::text)::text, {NULL})"


def uuid(expr: str) -> str:
    return f"""coalesce('"' || ({expr})::text || '"', {NULL})"""


def integer(expr: str) -> str:
    return f"coalesce(({expr})::text, {NULL})"


def timestamp(expr: str) -> str:
    """A timestamptz in UTC with microseconds, dropped when they are zero (msgspec's format)."""
    utc = f"to_char(({expr}) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
    return f"""coalesce('"' || replace({utc}, '.000000', '') || 'Z"', {NULL})"""


def double(expr: str) -> str:
    """A float8 as msgspec writes a float: PostgreSQL's shortest exact digits (its default
    ``extra_float_digits = 1``, which :func:`pin_float_output` makes sure of), in positional
    notation with at least one decimal from 1e-5 to 1e16 and as ``1.5e-7`` beyond, ``null``
    for NaN and infinities. Byte for byte for magnitudes below 2**53 (about 9e15, far beyond
    the confidences it writes); above, PostgreSQL writes some integers with all their digits
    (``5.5801880352553856e16``) where msgspec writes the shortest that reads back the same."""
    return f"""(SELECT CASE
        WHEN f.t IS NULL OR f.t IN ('NaN', 'Infinity', '-Infinity') THEN {NULL}
        WHEN f.e IS NULL THEN CASE WHEN strpos(f.t, '.') > 0 THEN f.t ELSE f.t || '.0' END
        WHEN f.e < -5 OR f.e > 15 THEN f.m || 'e' || f.e
        WHEN f.e < 0 THEN f.sign || '0.' || repeat('0', -f.e - 1) || f.digits
        WHEN length(f.digits) <= f.e + 1 THEN f.sign || rpad(f.digits, f.e + 1, '0') || '.0'
        ELSE f.sign || left(f.digits, f.e + 1) || '.' || substr(f.digits, f.e + 2)
    END FROM (SELECT p.t, split_part(p.t, 'e', 1) AS m,
                     nullif(split_part(p.t, 'e', 2), '')::int AS e,
                     CASE WHEN p.t LIKE '-%' THEN '-' ELSE '' END AS sign,
                     replace(ltrim(split_part(p.t, 'e', 1), '-'), '.', '') AS digits
              FROM (SELECT ({expr})::float8::text AS t) p) f)"""


def decimal(expr: str) -> str:
    """A numeric as msgspec writes ``float(value)``: its digits without trailing zeros, with at
    least one decimal. Exact for numerics of at most 15 significant digits and no magnitude
    outside 1e-5 to 1e16 but zero, such as a ``numeric(10, 4)``."""
    trimmed = f"trim_scale({expr})"
    return f"""CASE WHEN ({expr}) IS NULL OR ({expr}) = 'NaN' THEN {NULL}
        WHEN scale({trimmed}) = 0 THEN {trimmed}::text || '.0'
        ELSE {trimmed}::text END"""


def string_array(expr: str) -> str:
    return f"coalesce(array_to_json({expr})::text, {NULL})"


def literal(value: str) -> str:
    """A constant string, written into the SQL (for fixed values such as an enum's)."""
    if "'" in value or "\\" in value or '"' in value:
        raise ValueError(f"not a plain constant: {value!r}")
    return f"""'"{value}"'"""


def obj(fields: Sequence[tuple[str, str]]) -> str:
    """An object with these (key, JSON expression) members, in this order."""
    parts = []
    for i, (key, value) in enumerate(fields):
        if not key.isidentifier():
            raise ValueError(f"not a plain key: {key!r}")
        parts.append(f"""'{"," if i else "{"}"{key}":' || {value}""")
    return "(" + " || ".join(parts) + " || '}')"


def nullable(condition: str, value: str) -> str:
    """``value`` where ``condition`` holds, else ``null``."""
    return f"CASE WHEN {condition} THEN {value} ELSE {NULL} END"


def array(element: str, source: str, order_by: str) -> str:
    """A JSON array of ``element`` over the rows of ``source`` (``FROM ... WHERE ...``)."""
    return (
        f"(SELECT '[' || coalesce(string_agg({element}, ',' ORDER BY {order_by}), '') || ']' "
        f"{source})"
    )


def pin_float_output(expr: str) -> str:
    """``expr``, evaluated after setting ``extra_float_digits`` to 1 for the transaction, so
    that floats are written with their shortest exact digits even where the server's default
    was changed (with 0 or less, PostgreSQL rounds them to 15 digits). CASE evaluates its
    condition first, and the correlated subqueries of ``expr`` run when it is evaluated."""
    return f"CASE WHEN set_config('extra_float_digits', '1', true) = '1' THEN {expr} END"
