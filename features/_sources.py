"""Reading a contract's sources into a DuckDB stage, every row accounted for.

Contract: :func:`load_source` reads one source whole into a table of an in-memory DuckDB
stage: a CSV through :func:`features._csv.read_csv_table` (rows read = records in the file,
or an error naming the line), a Parquet file through pyarrow, a DuckDB or PostgreSQL table,
or a table of the command's own warehouse. A missing file or table is a
:class:`~features._errors.ConfigError` naming the contract key (``contacts.source``) and
what was expected. :func:`describe_source` names a source in messages.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from leadscore.features._contract import Source, csv_dialect
from leadscore.features._csv import read_csv_table
from leadscore.features._errors import ConfigError, MissingTableError
from leadscore.features._warehouse import Warehouse, quote_ident


def describe_source(source: Source) -> str:
    if source.kind in ("csv", "parquet"):
        return f"{source.kind} file {source.path}"
    return f"{source.kind} table {source.table}"


def load_source(stage: Warehouse, name: str, source: Source, base_dir: Path, section: str,
          warehouse: str) -> None:  # fmt: skip
    """Read ``source`` whole into stage table ``name``."""
    where = f"{section}.source"
    if source.kind in ("duckdb", "postgresql", "warehouse"):
        url = source.checked_warehouse_url(base_dir, where, warehouse)
        try:
            with Warehouse(url, read_only=True) as wh:
                wh.require_table(source.table or "")
                data = wh.query_arrow(f"SELECT * FROM {quote_ident(source.table or '')}")
        except MissingTableError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    else:
        path = source.file_path(base_dir)
        if not path.exists():
            raise ConfigError(
                f"{where}: file {str(path)!r} does not exist "
                f"(relative paths are relative to {str(base_dir)!r})"
            )
        data = _read_parquet(path, where) if source.kind == "parquet" else _read_csv(
            path, source, where)  # fmt: skip
    with stage.registered(f"_in_{name}", data) as view:
        stage.execute(f"CREATE TABLE {name} AS SELECT * FROM {view}")


def _read_parquet(path: Path, where: str) -> pa.Table:
    try:
        return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ConfigError(f"{where}: {str(path)!r} is not a readable Parquet file ({exc})") from exc


def _read_csv(path: Path, source: Source, where: str) -> pa.Table:
    encoding, delimiter = csv_dialect(path, source)
    return read_csv_table(path, encoding=encoding, delimiter=delimiter, where=where)


