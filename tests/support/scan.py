"""Everything the service keeps, as text, to search for what must never be kept (bearer secrets).

``database_dump`` reads every row of every table the database holds (reflected, so a
table or column added later is searched too) and renders each value as text, bytes
included (as Latin-1, so any ASCII secret in them shows).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import MetaData, select

from storage.db import Database


@dataclass(frozen=True)
class Dump:
    text: str
    tables: int
    rows: int
    cells: int  #: non-empty values searched


def database_dump(database_url: str) -> Dump:
    """Every non-empty value of every column of every table, one line per row."""
    database = Database(database_url)
    try:
        metadata = MetaData()
        metadata.reflect(bind=database.engine)
        lines, cells = [], 0
        with database.engine.connect() as connection:
            for table in metadata.sorted_tables:
                for row in connection.execute(select(table)):
                    values = [_text(value) for value in row if value is not None]
                    cells += len(values)
                    lines.append(f"{table.name}: " + " | ".join(values))
        return Dump("\n".join(lines), len(metadata.sorted_tables), len(lines), cells)
    finally:
        database.dispose()


def occurrences(text: str, secrets: tuple[str, ...]) -> dict[str, int]:
    """How often each secret appears in ``text`` (all zeros is the only good answer)."""
    return {secret: text.count(secret) for secret in secrets}


def _text(value: object) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("latin-1")
    return str(value)
