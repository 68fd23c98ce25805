"""Property: the JSON that PostgreSQL writes through ``sql_json`` is, value by value, the bytes
msgspec writes for the same value."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, FLOAT, NUMERIC, TEXT, TIMESTAMP
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncConnection

from factmark.annotations.service import sql_json as j

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# What PostgreSQL text can hold: no NUL, no lone surrogates; control characters included.
STRINGS = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)


async def rendered(
    connection: AsyncConnection,
    render: Callable[[str], str],
    sql_type: Any,
    values: Sequence[Any],
    cast: str = "",
) -> list[bytes]:
    """``render`` applied by PostgreSQL to each value (sent as an array of ``sql_type``)."""
    stmt = text(
        f"SELECT {render('x.v' + cast)} FROM unnest(:values) WITH ORDINALITY AS x(v, n) "  # noqa: S608
        "ORDER BY x.n"
    ).bindparams(bindparam("values", type_=ARRAY(sql_type)))
    rows = (await connection.execute(stmt, {"values": list(values)})).scalars().all()
    return [row.encode() for row in rows]


def encoded(values: Sequence[Any]) -> list[bytes]:
    return [msgspec.json.encode(v) for v in values]


EDGE_FLOATS = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    0.1,
    0.30000000000000004,
    1 / 3,
    1e-4,
    1e-5,
    9.999999999999999e-06,
    1.234e-05,
    1e-6,
    1e-7,
    -2.5e-7,
    5e-324,
    123456.7891,
    1e15,
    1e15 + 0.5,
    9999999999999998.0,
    1e16,
    1.5e16,
    1e21,
    1.7976931348623157e308,
    math.nan,
    math.inf,
    -math.inf,
]


@PROPERTY
@given(
    values=st.lists(
        st.floats(min_value=-(2.0**53), max_value=2.0**53)
        | st.sampled_from([math.nan, math.inf, -math.inf]),
        max_size=30,
    )
)
@example(values=EDGE_FLOATS)
async def test_doubles_are_written_as_msgspec_writes_floats(
    connection: AsyncConnection, values: list[float]
) -> None:
    assert await rendered(connection, j.double, FLOAT(), values) == encoded(values)


async def test_doubles_keep_their_shortest_exact_digits_when_pinned(
    connection: AsyncConnection,
) -> None:
    await connection.execute(text("SET LOCAL extra_float_digits = 0"))
    values = [0.30000000000000004, 1 / 3, 2.5e-7]
    pinned = await rendered(connection, lambda x: j.pin_float_output(j.double(x)), FLOAT(), values)
    assert pinned == encoded(values)


@PROPERTY
@given(
    values=st.lists(
        st.datetimes(
            min_value=datetime(1, 1, 2),  # noqa: DTZ001 - bounds of naive UTC times
            max_value=datetime(9999, 12, 30),  # noqa: DTZ001
            timezones=st.just(UTC),
        ),
        max_size=30,
    )
)
@example(values=[datetime(2024, 5, 1, 12, tzinfo=UTC), datetime(5, 1, 1, 0, 0, 0, 10, tzinfo=UTC)])
async def test_timestamps_are_written_in_utc_as_msgspec_writes_datetimes(
    connection: AsyncConnection, values: list[datetime]
) -> None:
    # Whatever the session's time zone.
    await connection.execute(text("SET LOCAL TimeZone = 'America/St_Johns'"))
    got = await rendered(connection, j.timestamp, TIMESTAMP(timezone=True), values)
    assert got == encoded(values)


@PROPERTY
@given(values=st.lists(STRINGS, max_size=30))
@example(values=["".join(map(chr, range(1, 128))), '«é» 👍🏽 \u2028 \\ " /'])
async def test_strings_are_escaped_as_msgspec_escapes_them(
    connection: AsyncConnection, values: list[str]
) -> None:
    assert await rendered(connection, j.string, TEXT(), values) == encoded(values)


@PROPERTY
@given(
    values=st.lists(
        st.decimals(min_value=-999_999, max_value=999_999, places=4, allow_nan=False), max_size=30
    )
)
@example(values=[Decimal("0.0000"), Decimal("1.0000"), Decimal("-0.5"), Decimal("0.0001")])
async def test_numeric_10_4_is_written_as_msgspec_writes_it_as_a_float(
    connection: AsyncConnection, values: list[Decimal]
) -> None:
    got = await rendered(connection, j.decimal, NUMERIC(), values, cast="::numeric(10, 4)")
    assert got == encoded([float(v) for v in values])


@PROPERTY
@given(
    uuids=st.lists(st.uuids(), max_size=10),
    numbers=st.lists(st.integers(-(2**63), 2**63 - 1), max_size=10),
    arrays=st.lists(st.lists(STRINGS, max_size=4), max_size=10),
)
async def test_uuids_integers_and_string_arrays_are_written_as_msgspec_writes_them(
    connection: AsyncConnection,
    uuids: list[uuid.UUID],
    numbers: list[int],
    arrays: list[list[str]],
) -> None:
    assert await rendered(connection, j.uuid, PG_UUID(as_uuid=True), uuids) == encoded(uuids)
    assert await rendered(connection, j.integer, NUMERIC(), numbers, "::bigint") == encoded(numbers)
    # unnest would flatten an array of arrays: one query per array.
    for array in arrays:
        stmt = text(f"SELECT {j.string_array(':array')}").bindparams(
            bindparam("array", type_=ARRAY(TEXT()))
        )
        row = (await connection.execute(stmt, {"array": array})).scalar_one()
        assert row.encode() == msgspec.json.encode(array)


async def test_nulls_objects_and_arrays_are_compact_json(connection: AsyncConnection) -> None:
    expr = j.obj(
        [
            ("a", j.string("NULL")),
            ("b", j.timestamp("NULL::timestamptz")),
            ("c", j.double("NULL::float8")),
            ("d", j.decimal("NULL::numeric")),
            ("e", j.uuid("NULL::uuid")),
            ("f", j.nullable("false", j.literal("x"))),
            ("g", j.nullable("true", j.literal("x"))),
            ("h", j.array(j.integer("n"), "FROM generate_series(3, 1, -1) n", "n")),
            ("i", j.array(j.integer("n"), "FROM generate_series(1, 0) n", "n")),
            ("j", j.string_array("'{}'::text[]")),
        ]
    )
    row = (await connection.execute(text(f"SELECT {expr}"))).scalar_one()
    assert row == (
        '{"a":null,"b":null,"c":null,"d":null,"e":null,"f":null,"g":"x","h":[1,2,3],"i":[],"j":[]}'
    )
