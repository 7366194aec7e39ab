"""Lead rows from HTTP requests, built by the same point-in-time code as batch scoring.

Timestamps arrive as naive UTC already (the request schema converts aware ones).

Contract: :func:`request_columns` returns one lead row per request lead, in request order,
as :class:`~features._attributes.LeadColumns` (numpy arrays; no pandas for the usual
request), with the columns of the model's :class:`~features._spec.FeatureSpec`. Leads given
with raw ``events`` go through the model's point-in-time SQL
(:func:`features.build_lead_frame`, or :func:`features._point_in_time.build_handoff_frame`
for a handoff model) on an in-memory DuckDB warehouse holding just those leads and events
(so an event at or after the cutoff is ignored exactly as in batch); leads given with
precomputed ``engagement`` are used as they are (a missing count is 0). Text attributes are
object arrays (None when missing), every other column float64 (NaN when missing), as a
frame of the same rows holds them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from leadscore.features import DataValidationError, build_lead_frame
from leadscore.features._attributes import LeadColumns
from leadscore.features._point_in_time import build_handoff_frame
from leadscore.features._spec import FeatureSpec
from leadscore.features._warehouse import DuckDBWarehouse


def _attributes(lead: Any, spec: FeatureSpec) -> dict[str, object]:
    row: dict[str, object] = {}
    for a in spec.attributes:
        value = getattr(lead, a.name)
        row[a.name] = float(value) if isinstance(value, bool) else value
    if spec.existing_score is not None:
        row[spec.existing_score] = getattr(lead, spec.existing_score)
    return row


def _from_events(leads: list[tuple[int, Any]], as_of: datetime, spec: FeatureSpec) -> pd.DataFrame:
    contacts = pd.DataFrame(
        [{"contact_id": i, "created_at": lead.created_at, **_attributes(lead, spec)}
         for i, lead in leads]
    )
    for a in spec.attributes:
        if a.kind == "categorical":
            contacts[a.name] = contacts[a.name].astype("object")
        else:
            contacts[a.name] = pd.to_numeric(contacts[a.name]).astype("float64")
    if spec.existing_score is not None:
        contacts[spec.existing_score] = pd.to_numeric(contacts[spec.existing_score]).astype(
            "float64")  # fmt: skip
    for role in ("title", "company_size", "industry", "country", "lead_source", "email_domain",
                 "phone_valid", "buying_timeline", "requested_demo"):  # fmt: skip
        if role not in contacts:  # the standard columns the SQL's validation expects
            contacts[role] = pd.Series([None] * len(contacts), dtype="object")
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
        if spec.decision == "handoff":
            frame = build_handoff_frame(wh, spec).frame
        else:
            frame = build_lead_frame(wh, [as_of], spec=spec).frame
    return frame.drop(columns=["as_of"])


def _column(name: str, values: list[object], text: frozenset[str]) -> np.ndarray:
    if name in text:
        return np.array([None if v is None or v is pd.NA or v != v else v for v in values],
                        dtype=object)  # fmt: skip
    return np.array([np.nan if v is None or v is pd.NA else v for v in values], dtype="float64")


def request_columns(leads: list[Any], as_of: datetime, spec: FeatureSpec) -> LeadColumns:
    """Lead rows for the request (see the module docstring); raises DataValidationError
    naming the lead when one cannot be scored as of ``as_of``."""
    rows: dict[int, dict[str, object]] = {}
    with_events = [(i, lead) for i, lead in enumerate(leads) if lead.events is not None]
    counts = spec.count_features()
    for i, lead in enumerate(leads):
        if lead.created_at is not None and lead.created_at >= as_of:
            raise DataValidationError(
                "request", f"leads[{i}].created_at",
                f"lead {lead.lead_id!r} was created at or after as_of {as_of:%Y-%m-%d %H:%M:%S}",
                count=1, examples=[lead.created_at.isoformat()],
            )  # fmt: skip
        if lead.events is not None:
            continue
        row = _attributes(lead, spec)
        if lead.days_since_created is not None:
            row["days_since_created"] = lead.days_since_created
        elif lead.created_at is not None:
            row["days_since_created"] = (as_of - lead.created_at).total_seconds() / 86400
        row.update(dict.fromkeys(counts, 0.0))  # no events counted: zero, as in batch
        if lead.engagement is not None:
            row.update({k: v for k, v in lead.engagement.model_dump().items() if v is not None})
        rows[i] = row
    if with_events:
        built = _from_events(with_events, as_of, spec).set_index("contact_id")
        for i, _ in with_events:
            rows[i] = {str(k): v for k, v in built.loc[i].items()}
    ordered = [rows[i] for i in range(len(leads))]
    names = dict.fromkeys(name for row in ordered for name in row)  # as a frame would order them
    text = spec.text_columns()
    return LeadColumns(
        {name: _column(name, [row.get(name) for row in ordered], text) for name in names},
        len(leads),
    )
