"""The record formats: JSON and NDJSON (the records as they are) and CSV (flattened), and
the closing fields every format ends with."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncGenerator, Iterator
from datetime import datetime

import msgspec

from factmark.exports.schemas import ClaimRecord, ExportItem, ExportTrailer, Tombstone
from factmark.exports.service import ExportReader, ExportRow

encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(ClaimRecord)


def item_of(row: ExportRow) -> ExportItem:
    """The row as a Struct: its record decoded (and so checked against ClaimRecord), or a
    tombstone."""
    return _decoder.decode(row.record) if row.record is not None else Tombstone(id=row.id)


def json_of(row: ExportRow) -> bytes:
    return row.record if row.record is not None else encoder.encode(Tombstone(id=row.id))


def trailer(reader: ExportReader, records: int, tombstones: int) -> ExportTrailer:
    return ExportTrailer(
        watermark=reader.start.watermark,
        checkpoint=reader.start.checkpoint,
        records=records,
        tombstones=tombstones,
    )


def closing_fields(closing: ExportTrailer) -> bytes:
    """``,"watermark":...}``: the trailer's fields closing an enclosing JSON object."""
    return b"," + encoder.encode(closing)[1:]


class IdList:
    """Ids kept for a closing section in 16 bytes each, so memory stays small."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def append(self, value: uuid.UUID) -> None:
        self._buffer += value.bytes

    def __iter__(self) -> Iterator[uuid.UUID]:
        data = bytes(self._buffer)
        return (uuid.UUID(bytes=data[i : i + 16]) for i in range(0, len(data), 16))

    def __len__(self) -> int:
        return len(self._buffer) // 16


# --- json and ndjson ------------------------------------------------------------------------


# A batch is about 2 MB of records: each is joined once, in place (the separators go in the
# join rather than being added to its result, which would copy the batch again).


async def write_ndjson(reader: ExportReader) -> AsyncGenerator[bytes, None]:
    async for batch in reader.batches():
        if batch:
            lines = list(map(json_of, batch))
            lines.append(b"")  # the last record's newline
            yield b"\n".join(lines)
    yield encoder.encode(trailer(reader, reader.records, reader.tombstones)) + b"\n"


async def write_json(reader: ExportReader) -> AsyncGenerator[bytes, None]:
    yield b'{"items":['
    first = True
    async for batch in reader.batches():
        if batch:
            items = list(map(json_of, batch))
            if not first:
                items.insert(0, b"")  # the comma after the previous batch's last item
            first = False
            yield b",".join(items)
    yield b"]" + closing_fields(trailer(reader, reader.records, reader.tombstones))


# --- csv ------------------------------------------------------------------------------------

CSV_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "The claim's id."),
    ("deleted", "true on a tombstone row of an incremental export (other cells empty)."),
    ("permalink", "The published fact-check, or the claim's API URL."),
    ("status", "open, in_review, verified or dismissed."),
    ("statement", "The claim as worded by the fact-checkers."),
    ("claimant.name", ""),
    ("claimant.role", ""),
    ("claimant.organisation", ""),
    ("claimedAt", "When the claim was made (RFC 3339, UTC)."),
    ("tags", "Joined with '; '."),
    ("spans", "One line per span: start-end (code points) and the quoted text."),
    ("document.id", ""),
    ("document.title", ""),
    ("document.sourceUrl", ""),
    ("document.publisher", ""),
    ("document.author", ""),
    ("document.publishedAt", ""),
    ("verdict.rating.key", ""),
    ("verdict.rating.label", ""),
    ("verdict.rating.value", "Empty for ratings outside the numeric scale."),
    ("verdict.rating.bestRating", "The scale's highest value."),
    ("verdict.rating.worstRating", "The scale's lowest value."),
    ("verdict.summary", ""),
    ("verdict.approvedBy", ""),
    ("verdict.verifiedAt", ""),
    ("corrections", "One line per correction: date, previous rating -> new rating, note."),
    ("evidence", "One line per source: stance, URL, title, publisher, quote."),
    ("reviewers", "Joined with '; '."),
    ("version", ""),
    ("updatedAt", ""),
)

# OWASP "CSV injection": a cell starting with one of these is read as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: str | None) -> str:
    """A text cell, quoted against formula injection with a leading apostrophe."""
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _time(value: datetime | None) -> str:
    return encoder.encode(value).decode()[1:-1] if value is not None else ""


def _num(value: int | float | None) -> str:
    return "" if value is None else str(value)


def csv_row(item: ExportItem) -> list[str]:
    if isinstance(item, Tombstone):
        return [str(item.id), "true", *([""] * (len(CSV_COLUMNS) - 2))]
    d = item.document
    v = item.verdict
    rating = v.rating if v else None
    spans = "\n".join(f"{s.position.start}-{s.position.end}: {s.quote.exact}" for s in item.spans)
    corrections = "\n".join(
        f"{_time(c.date)}: {c.previous_rating.label or c.previous_rating.key} -> "
        f"{c.new_rating.label or c.new_rating.key}: {c.note}"
        for c in item.corrections
    )
    evidence = "\n".join(
        " | ".join([e.stance, e.url or "", e.title or "", e.publisher or "", e.quote or ""]).rstrip(
            " |"
        )
        for e in item.evidence
    )
    return [
        str(item.id),
        "",
        csv_text(item.permalink),
        item.status,
        csv_text(item.statement),
        csv_text(item.claimant.name),
        csv_text(item.claimant.role),
        csv_text(item.claimant.organisation),
        _time(item.claimed_at),
        csv_text("; ".join(item.tags)),
        csv_text(spans),
        str(d.id),
        csv_text(d.title),
        csv_text(d.source_url),
        csv_text(d.publisher),
        csv_text(d.author),
        _time(d.published_at),
        csv_text(rating.key if rating else None),
        csv_text(rating.label if rating else None),
        _num(rating.value if rating else None),
        _num(rating.best_rating if rating else None),
        _num(rating.worst_rating if rating else None),
        csv_text(v.summary if v else None),
        csv_text(v.approved_by if v else None),
        _time(v.verified_at if v else None),
        csv_text(corrections),
        csv_text(evidence),
        csv_text("; ".join(item.reviewers)),
        str(item.version),
        _time(item.updated_at),
    ]


async def write_csv(reader: ExportReader) -> AsyncGenerator[bytes, None]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([name for name, _ in CSV_COLUMNS])
    yield ("\ufeff" + buffer.getvalue()).encode()
    async for batch in reader.batches():
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(csv_row(item_of(row)) for row in batch)
        yield buffer.getvalue().encode()
