"""Lead rows from HTTP requests, built by the same point-in-time code as batch scoring.

Timestamps arrive as naive UTC already (the request schema converts aware ones).

Contract: :func:`request_columns` returns one lead row per request lead, in request order,
as :class:`~features._attributes.LeadColumns` (numpy arrays; no pandas for the usual
request). Leads given with raw ``events`` go through :func:`features.build_lead_frame` on an
in-memory DuckDB warehouse holding just those leads and events (so an event at or after
``as_of`` is ignored exactly as in batch); leads given with precomputed ``engagement`` are
used as they are (a missing count is 0). Text attributes are object arrays (None when
missing), every other column float64 (NaN when missing), as a frame of the same rows holds
them.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
from leadscore.features import DataValidationError, build_lead_frame
from leadscore.features._attributes import LeadColumns
from leadscore.features._definitions import COUNT_FEATURE_NAMES
from leadscore.features._point_in_time import LEAD_ATTRIBUTE_COLUMNS, STRING_ATTRIBUTES
from leadscore.features._warehouse import DuckDBWarehouse
from leadscore.serving._schemas import LeadIn

_TEXT_COLUMNS = frozenset(STRING_ATTRIBUTES)


def _attributes(lead: LeadIn) -> dict[str, object]:
    row: dict[str, object] = {}
    for col in LEAD_ATTRIBUTE_COLUMNS:
        value = getattr(lead, col)
        row[col] = float(value) if isinstance(value, bool) else value
    return row


def _from_events(leads: list[tuple[int, LeadIn]], as_of: datetime) -> pd.DataFrame:
    contacts = pd.DataFrame(
        [{"contact_id": i, "created_at": lead.created_at, **_attributes(lead)} for i, lead in leads]
    )
    for col in STRING_ATTRIBUTES:
        contacts[col] = contacts[col].astype("object")
    for col in ("company_size", "phone_valid", "requested_demo"):
        contacts[col] = pd.to_numeric(contacts[col]).astype("float64")
    events = pd.DataFrame(
        [
            {"contact_id": i, "occurred_at": e.occurred_at, "event_type": e.event_type}
            for i, lead in leads
            for e in lead.events or []
        ],
        columns=["contact_id", "occurred_at", "event_type"],
    ).astype({"contact_id": "int64", "occurred_at": "datetime64[us]", "event_type": "object"})
    outcomes = pd.DataFrame(
        {"contact_id": pd.Series(dtype="int64"), "closed_at": pd.Series(dtype="datetime64[us]"),
         "outcome": pd.Series(dtype="object")}
    )  # fmt: skip
    with DuckDBWarehouse("duckdb:///:memory:") as wh:
        con = wh.connection
        for name, frame in (("contacts", contacts), ("events", events), ("outcomes", outcomes)):
            con.register("_in", frame)
            con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM _in')
            con.unregister("_in")
        frame = build_lead_frame(wh, [as_of]).frame
    return frame.drop(columns=["as_of"])


def _column(name: str, values: list[object]) -> np.ndarray:
    if name in _TEXT_COLUMNS:
        return np.array([None if v is None or v is pd.NA or v != v else v for v in values],
                        dtype=object)  # fmt: skip
    return np.array([np.nan if v is None or v is pd.NA else v for v in values], dtype="float64")


def request_columns(leads: list[LeadIn], as_of: datetime) -> LeadColumns:
    """Lead rows for the request (see the module docstring); raises DataValidationError
    naming the lead when one cannot be scored as of ``as_of``."""
    rows: dict[int, dict[str, object]] = {}
    with_events = [(i, lead) for i, lead in enumerate(leads) if lead.events is not None]
    for i, lead in enumerate(leads):
        if lead.created_at is not None and lead.created_at >= as_of:
            raise DataValidationError(
                "request", f"leads[{i}].created_at",
                f"lead {lead.lead_id!r} was created at or after as_of {as_of:%Y-%m-%d %H:%M:%S}",
                count=1, examples=[lead.created_at.isoformat()],
            )  # fmt: skip
        if lead.events is not None:
            continue
        row = _attributes(lead)
        if lead.days_since_created is not None:
            row["days_since_created"] = lead.days_since_created
        elif lead.created_at is not None:
            row["days_since_created"] = (as_of - lead.created_at).total_seconds() / 86400
        row.update(dict.fromkeys(COUNT_FEATURE_NAMES, 0.0))  # no events counted: zero, as in batch
        if lead.engagement is not None:
            row.update({k: v for k, v in lead.engagement.model_dump().items() if v is not None})
        rows[i] = row
    if with_events:
        built = _from_events(with_events, as_of).set_index("contact_id")
        for i, _ in with_events:
            rows[i] = {str(k): v for k, v in built.loc[i].items()}
    ordered = [rows[i] for i in range(len(leads))]
    names = dict.fromkeys(name for row in ordered for name in row)  # as a frame would order them
    return LeadColumns(
        {name: _column(name, [row.get(name) for row in ordered]) for name in names}, len(leads)
    )
