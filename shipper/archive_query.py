"""The archive read with SQL on a laptop: a copy of ``data/`` on disk, and DuckDB's
``read_csv`` settings that make each archived log line one row.

DuckDB (PyPI ``duckdb``, in the demo and test extras) is the engine; this module only builds
the SQL, so the shipper itself never needs it. Why each setting (see also the README):

- ``columns={'line': 'VARCHAR'}``, ``header=false``, ``auto_detect=false``: one column, no
  header, no guessing from the first lines (a guess can pick a delimiter out of a log line);
- ``delim='\\0'``, ``quote=''``, ``escape=''``: no field delimiter, quote or escape that a
  log line could contain (commas, quotes and backslashes are common in logs; NUL is not);
- ``new_line='\\r\\n'``: SQL Server writes CRLF; ``\\r\\n`` and ``\\n`` both end a line, and
  the ``\\r`` is not kept in the row;
- ``strict_mode=false``: a line is never rejected for its shape;
- ``ignore_errors=true``: a line that is not UTF-8 is skipped instead of failing the query;
  SQL Server's trace files (``.trc``, ``.xel``) are binary and archived like every log, and
  their bytes would otherwise stop every query over an instance that has them;
- ``max_line_size``: the long-line bound with the default object size (``shipper.lines``),
  not DuckDB's 2 MB default.

An empty log line reads as NULL. A lone ``\\r`` inside a line also ends a row in DuckDB's
reader (the archive keeps the bytes exactly; the reader splits them).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from shipper.config import Settings
from shipper.layout import DATA_SUFFIX
from shipper.lines import LONG_LINE_FACTOR

# The longest line an object holds whole with the default object size (shipper.lines).
MAX_LINE_BYTES = Settings(bucket="-").object_bytes * LONG_LINE_FACTOR


def read_lines_sql(root: Path | str) -> str:
    """A DuckDB table expression: every line of the archive copied under ``root`` (the folder
    that holds ``data/``) as a row of ``line``, with the key's partitions as columns
    (account, region, instance, dt) and ``filename`` (the object)."""
    pattern = str(Path(root) / "data" / "**" / f"*{DATA_SUFFIX}").replace("'", "''")
    return (f"read_csv('{pattern}', hive_partitioning=true, filename=true, "
            "columns={'line': 'VARCHAR'}, header=false, auto_detect=false, "
            "delim='\\0', quote='', escape='', new_line='\\r\\n', strict_mode=false, "
            "ignore_errors=true, "
            f"max_line_size={MAX_LINE_BYTES})")


class NotAnArchiveCopy(Exception):
    """The folder to refresh holds something other than a copy of the archive."""


def copy_archive(client: Any, bucket: str, prefix: str, out: Path) -> int:
    """Copy every data object under ``{prefix}data/`` to ``out`` with its key as path (keys
    are path-safe, ``shipper.layout``), replacing an earlier copy, so a query over ``out``
    never counts a line twice. Returns how many objects were copied."""
    root = out / f"{prefix}data"
    _remove_earlier_copy(root)
    count = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                 Prefix=f"{prefix}data/"):
        for obj in page.get("Contents", []):
            target = out / obj["Key"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
            count += 1
    return count


def _remove_earlier_copy(root: Path) -> None:
    """Remove ``root`` if it holds nothing but archived objects (never anything else)."""
    if not root.exists():
        return
    strays = [p for p in root.rglob("*") if p.is_file() and not p.name.endswith(DATA_SUFFIX)]
    if strays or not root.is_dir():
        raise NotAnArchiveCopy(f"{root} holds files that are not archived objects "
                               f"(e.g. {strays[0] if strays else root}); not replacing it")
    shutil.rmtree(root)
