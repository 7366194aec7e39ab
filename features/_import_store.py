"""The import's bookkeeping: used in place, unchanged since last time, or written at once.

Contract: :func:`in_place` says whether a contract describes the warehouse's own standard
tables as they are (nothing is copied); :func:`fingerprint` digests the contract and the
content of its file sources (None for database sources: always re-read);
:func:`previous_imports_at` reads what the last import recorded; :func:`write` swaps the
standard tables and the attribute catalogue in with ONE transaction that also records the
import in ``leadscore_imports``, and never replaces a table leadscore did not import.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
from leadscore.features._contract import Contract, Source
from leadscore.features._errors import ConfigError
from leadscore.features._schema import CONTACTS, EVENTS, OUTCOMES
from leadscore.features._sources import describe_source
from leadscore.features._warehouse import Warehouse, WarehouseURL, quote_ident

if TYPE_CHECKING:
    from leadscore.features._import import Attribute

log = logging.getLogger(__name__)

IMPORTS = "leadscore_imports"
"""The table recording which standard tables leadscore imported, from where, and when."""
COLUMNS = "leadscore_columns"
"""The catalogue of the team's own contact attributes: name, the team's name, kind."""
STAGING = "_leadscore_import_"


def in_place(contract: Contract, warehouse: str) -> bool:
    """True when the contract describes the warehouse's own standard tables as they are."""
    sections = [(CONTACTS, contract.contacts), (EVENTS, contract.events),
                (OUTCOMES, contract.outcomes)]  # fmt: skip
    for name, section in sections:
        if section is None:
            return False
        source = section.source
        if source.table != name:
            return False
        if source.kind != "warehouse" and not same_warehouse(source, contract.base_dir,
                                                               warehouse):  # fmt: skip
            return False
        if section.columns.renames():
            return False
    c = contract.contacts
    if (c.outcome or c.existing_score or c.missing_values or c.column_types
            or c.columns.missing_roles() or contract.events.event_types  # type: ignore[union-attr]
            or contract.outcomes.columns.amount):  # type: ignore[union-attr]  # fmt: skip
        return False
    # a standard table's outcomes are 'won' or 'lost' (validation refuses any other value):
    # a label reading those two as themselves reads the table as it is
    mapping = contract.label.mapping()
    return mapping.get("won") == "won" and mapping.get("lost") == "lost"


def same_warehouse(source: Source, base_dir: Path, warehouse: str) -> bool:
    if source.kind not in ("duckdb", "postgresql"):
        return False
    url = source.warehouse_url(base_dir)
    a, b = WarehouseURL.parse(url), WarehouseURL.parse(warehouse)
    if a.engine != b.engine:
        return False
    if a.engine == "duckdb":
        return Path(a.database).resolve() == Path(b.database).resolve()
    return url == warehouse


def fingerprint(contract: Contract) -> str | None:
    """A digest of the contract and the content of its file sources; None when a source is
    a database table (it is re-read every time)."""
    parts: list[object] = [contract.model_dump(mode="json")]
    for section in (contract.contacts, contract.events, contract.outcomes):
        if section is None:
            continue
        source = section.source
        if source.kind not in ("csv", "parquet"):
            return None
        path = source.file_path(contract.base_dir).resolve()
        try:
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        except OSError:
            return None
        parts.append([str(path), digest.hexdigest()])
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


def read_catalogue(wh: Warehouse) -> list[Attribute]:
    from leadscore.features._import import Attribute

    """The team's own contact attributes recorded by the last import (none in place)."""
    if not wh.has_table(COLUMNS):
        return []
    rows = wh.query(f"SELECT name, label, kind FROM {COLUMNS} ORDER BY position")
    return [Attribute(str(n), str(lab), k) for n, lab, k in zip(
        rows["name"], rows["label"], rows["kind"], strict=True)]  # fmt: skip


def previous_imports_at(warehouse: str) -> dict[str, tuple[str, int]]:
    parsed = WarehouseURL.parse(warehouse)
    if parsed.engine == "duckdb" and not Path(parsed.database).exists():
        return {}
    with Warehouse(warehouse, read_only=True) as wh:
        return previous_imports(wh)


def previous_imports(wh: Warehouse) -> dict[str, tuple[str, int]]:
    """Standard table -> (fingerprint, rows) of its last import into ``wh``."""
    if not wh.has_table(IMPORTS):
        return {}
    rows = wh.query(f"SELECT table_name, fingerprint, row_count FROM {IMPORTS}")
    return {str(t): (str(f), int(n)) for t, f, n in zip(
        rows["table_name"], rows["fingerprint"], rows["row_count"], strict=True)}  # fmt: skip


def write(warehouse: str, arrow: dict[str, pa.Table], contract: Contract, fingerprint: str,
           now: datetime, attributes: Sequence[Attribute]) -> dict[str, int]:  # fmt: skip
    contacts = contract.contacts
    sources = {CONTACTS: contacts.source,
               EVENTS: contract.events.source if contract.events else contacts.source,
               OUTCOMES: contract.outcomes.source if contract.outcomes else contacts.source}  # fmt: skip
    catalogue = pa.table({"position": pa.array(range(len(attributes)), pa.int64()),
                          "name": pa.array([a.name for a in attributes], pa.string()),
                          "label": pa.array([a.label for a in attributes], pa.string()),
                          "kind": pa.array([a.kind for a in attributes], pa.string())})  # fmt: skip
    with Warehouse(warehouse) as wh:
        previous = previous_imports(wh)
        foreign = [t for t in arrow if wh.has_table(t) and t not in previous]
        if foreign:
            raise ConfigError(
                f"warehouse {warehouse} already has table(s) {foreign} that leadscore did not "
                "import; they are never replaced. Import into another warehouse (e.g. "
                "--warehouse duckdb:///leadscore.duckdb in another folder) or drop them first"
            )
        for table, data in [*arrow.items(), (COLUMNS, catalogue)]:
            wh.drop_table(STAGING + table)
            wh.write_table(STAGING + table, data, replace=True)
        if not wh.has_table(IMPORTS):
            wh.write_table(IMPORTS, pa.table({
                "table_name": pa.array([], pa.string()), "source": pa.array([], pa.string()),
                "contract": pa.array([], pa.string()), "fingerprint": pa.array([], pa.string()),
                "row_count": pa.array([], pa.int64()),
                "imported_at": pa.array([], pa.timestamp("us"))}), replace=False)  # fmt: skip
        contract_path = str(contract.path) if contract.path else "(in memory)"
        with wh.transaction():
            wh.execute(f"DROP TABLE IF EXISTS {COLUMNS}")
            wh.execute(f"ALTER TABLE {quote_ident(STAGING + COLUMNS)} RENAME TO {COLUMNS}")
            for table, data in arrow.items():
                wh.execute(f"DROP TABLE IF EXISTS {quote_ident(table)}")
                wh.execute(f"ALTER TABLE {quote_ident(STAGING + table)} RENAME TO "
                           f"{quote_ident(table)}")  # fmt: skip
                wh.execute(f"DELETE FROM {IMPORTS} WHERE table_name = ?", [table])
                wh.execute(
                    f"INSERT INTO {IMPORTS} VALUES (?, ?, ?, ?, ?, CAST(? AS TIMESTAMP))",
                    [table, describe_source(sources[table]), contract_path, fingerprint,
                     data.num_rows, now],
                )  # fmt: skip
        for table, data in arrow.items():
            log.info("imported %s rows into %s.%s", data.num_rows, warehouse, table)
        return {table: data.num_rows for table, data in arrow.items()}


