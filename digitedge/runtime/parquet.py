"""Records as Parquet (`classify --out NAME.parquet`), with pyarrow (which the `ray` extra brings).

A Parquet file cannot be appended to, and one cut short has no footer and cannot be read at all, so NAME.parquet
is a folder of part files (the layout Spark writes; pandas, pyarrow, Polars and DuckDB read the folder as one
table), each written whole (journal.RecordFolder). The columns are the record's with fixed types, so every part
has the same schema; a field a record does not have is null (`error` for a reading, the reading's fields for a
bad input).
"""

from __future__ import annotations

import io
import json

from ..errors import OutputError

KEY_COLUMNS = ["path", "size", "mtime_ns"]


def pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise OutputError("--out NAME.parquet needs pyarrow: pip install pyarrow (the ray extra has it), or write "
                          "NAME.jsonl") from None
    return pa


def schema():
    pa = pyarrow()
    digit = pa.struct([("label", pa.int64()), ("confidence", pa.float64()), ("box", pa.list_(pa.int64())),
                       ("line", pa.int64()), ("top_k", pa.list_(pa.list_(pa.float64())))])
    return pa.schema([("path", pa.string()), ("frame", pa.int64()), ("time", pa.float64()), ("text", pa.string()),
                      ("raw", pa.string()), ("digits", pa.list_(digit)), ("error", pa.string()),
                      ("index", pa.int64()), ("size", pa.int64()), ("mtime_ns", pa.int64())])


def parquet_bytes(lines: list[str]) -> bytes:
    """--out records (JSON lines) -> one Parquet file's bytes."""
    pa = pyarrow()
    table = pa.Table.from_pylist([json.loads(line) for line in lines], schema=schema())
    buffer = io.BytesIO()
    pa.parquet.write_table(table, buffer)
    return buffer.getvalue()


def keys_in_part(path) -> set:
    """The resume keys of one part file (a part that is not Parquet is not one of ours: no keys)."""
    pa = pyarrow()
    try:
        table = pa.parquet.read_table(path, columns=KEY_COLUMNS)
    except (pa.ArrowException, OSError):
        return set()
    return set(zip(*(table.column(c).to_pylist() for c in KEY_COLUMNS)))
