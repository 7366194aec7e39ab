"""Files written whole or not at all: scores and reports replace the old file atomically.

Contract: :func:`write_atomically` calls ``writer`` on a temporary file in the target's own
folder (so the final rename never crosses a file system) and then ``os.replace``-s it over
the target: a reader sees the old file or the new one, never half of one. If ``writer``
fails, the temporary file is removed, the target is left as it was, and the error
propagates. :func:`write_table` writes a frame as CSV or Parquet, chosen by the extension.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from leadscore.features._errors import ConfigError

TABLE_FORMATS: dict[str, str] = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
"""File extension (lower case) to output format."""


def table_format(path: Path) -> str:
    """``csv`` or ``parquet`` for ``path``'s extension; a ConfigError for any other."""
    fmt = TABLE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ConfigError(
            f"output file must end in one of {sorted(TABLE_FORMATS)}, got {str(path)!r}"
        )
    return fmt


def write_atomically(path: Path, writer: Callable[[Path], object]) -> Path:
    """Write ``path`` through ``writer(temporary_path)``, then rename (see the module docstring)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    temporary = Path(name)
    try:
        writer(temporary)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
    return path


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` (without its index) as CSV or Parquet by extension, atomically."""
    fmt = table_format(Path(path))
    if fmt == "csv":
        return write_atomically(path, lambda p: frame.to_csv(p, index=False))
    return write_atomically(path, lambda p: frame.to_parquet(p, index=False))
