"""The labelled pipeline frame for training, compact: Arrow from the engine, snapshot by snapshot.

Contract of :func:`build_training_frame`: the same rows and values as
:func:`features.build_lead_frame` with labels (it runs the same SQL,
:func:`features._point_in_time.lead_frame_sql`), in the same column order, sorted by
(``as_of``, ``contact_id``), with narrower types:

* floating-point columns are ``float32`` (each value rounded to the nearest float32;
  missing values stay NaN);
* integer columns (the event counts, ``contact_id``, the label) keep their exact values in
  the narrowest of ``int8`` / ``int16`` / ``int32`` / ``int64`` that holds every value of
  the column (``int32`` at least, so that arithmetic on a count cannot overflow);
* text columns stay Arrow-backed strings, booleans booleans, ``as_of`` a timestamp.

How: the query runs for one snapshot at a time (``snapshots_per_query``), each result is
fetched as Arrow and narrowed there before the next query runs, so neither the engine's
working memory for every snapshot at once nor a float64 copy of the whole frame ever
exists; the narrowed pieces are concatenated once and converted to pandas column by column
(``self_destruct``: each Arrow buffer is released as its column is converted). At 1M
contacts and 11 quarterly snapshots (4.25M rows) the frame takes about 330 bytes a row
instead of 530.

Every snapshot must have its outcomes observed (``as_of + horizon_days <= data_end``); the
frame holds no censored rows, which is what :func:`training._fitting.labelled_data` asks for.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from leadscore.features._errors import ConfigError
from leadscore.features._point_in_time import _booleans, lead_frame_sql
from leadscore.features._spec import FeatureSpec, demo_spec
from leadscore.features._warehouse import DUCKDB_MEMORY_ENV, Warehouse

log = logging.getLogger(__name__)

SNAPSHOTS_PER_QUERY = 1
"""Snapshots computed by one query: fewer bound the engine's working memory, more save
repeated scans of the events (each query reads them once). At 1M contacts three per query
peaked at 4.1 GiB of process memory, under DuckDB's 1GB limit (its result and the Arrow
copy are outside that limit)."""
DUCKDB_MEMORY_LIMIT = "1GB"
"""DuckDB's ``memory_limit`` while the frame is built, unless ``LEADSCORE_DUCKDB_MEMORY_LIMIT``
sets one for the connection: DuckDB's default (80% of RAM) lets it hold gigabytes of working
memory that the training then cannot use; under 1GB the feature query spills nothing and
takes the same CPU time (benchmarks/README.md)."""
_INT_TYPES = (pa.int32(), pa.int64())


def _narrow(table: pa.Table) -> pa.Table:
    """``table`` with float64 columns as float32 and integer columns as the narrowest of
    int32 / int64 holding their values (see the module docstring)."""
    columns = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        t = column.type
        if pa.types.is_floating(t) and t != pa.float32():
            column = pc.cast(column, pa.float32(), safe=False)
        elif pa.types.is_integer(t):
            column = pc.cast(column, _int_type_for(column))
        columns.append((name, column))
    return pa.table(dict(columns))


def _int_type_for(column: pa.ChunkedArray) -> pa.DataType:
    """The narrowest of :data:`_INT_TYPES` that holds every value of ``column``."""
    if column.null_count == len(column):
        return pa.int32()
    bounds = pc.min_max(column)
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    for t in _INT_TYPES:
        info = np.iinfo(t.to_pandas_dtype())
        if low is None or (info.min <= low and high <= info.max):
            return t
    return pa.int64()


def build_training_frame(
    wh: Warehouse,
    snapshots: Sequence[datetime],
    *,
    horizon_days: int,
    data_end: datetime,
    spec: FeatureSpec | None = None,
    snapshots_per_query: int = SNAPSHOTS_PER_QUERY,
) -> pd.DataFrame:
    """The labelled pipeline frame of ``snapshots``, compact (see the module docstring)."""
    spec = spec or demo_spec()
    if horizon_days <= 0:
        raise ConfigError(f"horizon_days must be positive, got {horizon_days!r}")
    if snapshots_per_query <= 0:
        raise ConfigError(f"snapshots_per_query must be positive, got {snapshots_per_query!r}")
    snaps = sorted({pd.Timestamp(a).to_pydatetime() for a in snapshots})
    if not snaps:
        raise ConfigError("snapshots must name at least one snapshot, got an empty list")
    late = [s for s in snaps if s + timedelta(days=horizon_days) > data_end]
    if late:
        raise ConfigError(
            f"snapshots {[f'{s:%Y-%m-%d}' for s in late]} have outcomes after the data end "
            f"{data_end:%Y-%m-%d} ({horizon_days}-day horizon); only labelled snapshots go here"
        )
    sql = lead_frame_sql(with_labels=True, horizon_days=horizon_days,
                         boolean_columns=_booleans(wh), spec=spec, decision="pipeline")  # fmt: skip
    pieces: list[pa.Table] = []
    with duckdb_memory_limit(wh):
        for start in range(0, len(snaps), snapshots_per_query):
            group = snaps[start:start + snapshots_per_query]
            with wh.registered("_snapshots", pd.DataFrame({"as_of": pd.to_datetime(group)})):
                pieces.append(_narrow(wh.query_arrow(sql)))
    table = _concat(pieces)
    del pieces
    frame = table.to_pandas(self_destruct=True, split_blocks=True)
    del table
    frame["as_of"] = pd.to_datetime(frame["as_of"])
    log.info("built the training frame: %d rows over %d snapshot(s), %.0f MiB", len(frame),
             len(snaps), frame.memory_usage(deep=False).sum() / 2**20)  # fmt: skip
    return frame


@contextmanager
def duckdb_memory_limit(wh: Warehouse) -> Iterator[None]:
    """On DuckDB without a limit of the user's, :data:`DUCKDB_MEMORY_LIMIT` inside the
    block, the previous limit restored after it (a no-op on other engines). Training wraps
    the warehouse validation in it too: at 1M contacts its checks over 54M events peaked at
    4.0 GiB with DuckDB's default limit, 1.2 GiB under 1GB."""
    if wh.dialect != "duckdb" or os.environ.get(DUCKDB_MEMORY_ENV):
        yield
        return
    previous = wh.scalar("SELECT current_setting('memory_limit')")
    wh.execute(f"SET memory_limit = '{DUCKDB_MEMORY_LIMIT}'")
    try:
        yield
    finally:
        wh.execute(f"SET memory_limit = '{previous}'")


def _concat(pieces: list[pa.Table]) -> pa.Table:
    """One table of ``pieces``, each integer column widened to its widest piece's type."""
    first = pieces[0]
    fields = []
    for i, f in enumerate(first.schema):
        types = [p.schema.field(i).type for p in pieces]
        if pa.types.is_integer(f.type):
            widest = max(types, key=lambda t: t.bit_width)
            fields.append(pa.field(f.name, widest))
        else:
            fields.append(next((pa.field(f.name, t) for t in types if not pa.types.is_null(t)),
                               f))  # fmt: skip
    schema = pa.schema(fields)
    return pa.concat_tables([p.cast(schema) for p in pieces])
