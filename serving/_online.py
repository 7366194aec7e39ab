"""Lead rows from HTTP requests, with the same feature values as batch scoring.

Timestamps arrive as naive UTC already (the request schema converts aware ones).

Contract: :func:`request_columns` returns one lead row per request lead, in request order,
as :class:`~features._attributes.LeadColumns` (numpy arrays; no pandas), with the columns of
the model's :class:`~features._spec.FeatureSpec`. Leads given with raw ``events`` get their
lead age and engagement features from :func:`features.point_in_time_values`: the
model's own feature definitions at its decision moment (the request's ``as_of`` for a
pipeline model; ``created_at`` plus the handoff delay, sales' own events left out, for a
handoff model), computed in memory to the values the batch point-in-time SQL gives (an event
at or after the cutoff is ignored exactly as in batch). Leads given with precomputed
``engagement`` are used as they are (a missing count is 0). Text attributes are object
arrays (None when missing), every other column float64 (NaN when missing), as a frame of
the same rows holds them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from leadscore.features import DataValidationError, point_in_time_values
from leadscore.features._attributes import LeadColumns
from leadscore.features._spec import FeatureSpec


def _attributes(lead: Any, spec: FeatureSpec) -> dict[str, object]:
    row: dict[str, object] = {}
    for a in spec.attributes:
        value = getattr(lead, a.name)
        row[a.name] = float(value) if isinstance(value, bool) else value
    if spec.existing_score is not None:
        row[spec.existing_score] = getattr(lead, spec.existing_score)
    return row


def _from_events(
    leads: list[tuple[int, Any]], as_of: datetime, spec: FeatureSpec
) -> dict[int, dict[str, float]]:
    """The time and engagement features of the leads given with events, by request index."""
    created = np.array([lead.created_at for _, lead in leads], dtype="datetime64[us]")
    event_lead = [k for k, (_, lead) in enumerate(leads) for _ in lead.events]
    events = [e for _, lead in leads for e in lead.events]
    values = point_in_time_values(
        spec,
        created,
        event_lead=np.array(event_lead, dtype=np.intp),
        occurred_at=np.array([e.occurred_at for e in events], dtype="datetime64[us]"),
        event_type=[e.event_type for e in events],
        as_of=None if spec.decision == "handoff" else as_of,  # a handoff lead's own cutoff
    )
    columns = {name: column.tolist() for name, column in values.items()}
    return {i: {name: column[k] for name, column in columns.items()}
            for k, (i, _) in enumerate(leads)}  # fmt: skip


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
        for i, features in _from_events(with_events, as_of, spec).items():
            rows[i] = {**_attributes(leads[i], spec), **features}
    ordered = [rows[i] for i in range(len(leads))]
    names = dict.fromkeys(name for row in ordered for name in row)  # as a frame would order them
    text = spec.text_columns()
    return LeadColumns(
        {name: _column(name, [row.get(name) for row in ordered], text) for name in names},
        len(leads),
    )
