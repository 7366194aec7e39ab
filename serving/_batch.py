"""Batch scoring in the warehouse: every open lead, both scores, written atomically.

Contract of :func:`score_warehouse`: loads the registered model, validates the warehouse,
builds the point-in-time lead frame as of ``as_of`` (default: now) for every open contact,
scores it with the pyfunc, checks that there is exactly one row per open contact, and
replaces the rows of table ``lead_scores`` for that ``as_of`` in one transaction. A failure
anywhere leaves the previous scores untouched; a rerun for the same ``as_of`` replaces,
never duplicates.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from features import ConfigError, ScoringError, Warehouse, build_lead_frame, validate_warehouse
from features._schema import LEAD_SCORES
from models import SCORE_COLUMNS, score_leads
from training import configure_tracking
from training._registry import load_bundle, resolve_model

log = logging.getLogger(__name__)

LEAD_SCORES_COLUMNS: tuple[str, ...] = (
    "contact_id",
    "as_of",
    "scored_at",
    "model_name",
    "model_version",
    *SCORE_COLUMNS,
)
_CREATE_LEAD_SCORES = """
    contact_id {id_type} NOT NULL,
    as_of TIMESTAMP NOT NULL,
    scored_at TIMESTAMP NOT NULL,
    model_name VARCHAR NOT NULL,
    model_version VARCHAR,
    probability DOUBLE NOT NULL,
    model_tier VARCHAR NOT NULL,
    rule_score DOUBLE NOT NULL,
    rule_grade VARCHAR NOT NULL,
    reasons VARCHAR,
    rule_hits VARCHAR
"""


@dataclass(frozen=True)
class ScoreConfig:
    """A batch scoring job. ``reasons``: ``"all"``, ``"none"``, or a number N meaning
    reasons only for the N highest-probability leads (the ones sales will work)."""

    warehouse: str
    model_uri: str = "models:/lead-quality@champion"
    as_of: datetime | None = None
    reasons: str = "all"
    chunk_rows: int = 50_000

    def reasons_limit(self) -> int | None:
        """None for all rows, else the number of top rows that get reasons."""
        if self.reasons == "all":
            return None
        if self.reasons == "none":
            return 0
        if self.reasons.isdigit():
            return int(self.reasons)
        raise ConfigError(f"reasons must be 'all', 'none' or a number, got {self.reasons!r}")


@dataclass(frozen=True)
class ScoreResult:
    """What a scoring job wrote."""

    rows: int
    as_of: datetime
    model_name: str
    model_version: str
    table: str
    seconds: float


def score_warehouse(
    config: ScoreConfig, *, progress: Callable[[int, int], None] | None = None
) -> ScoreResult:
    """Score every open contact and write ``lead_scores`` (see the module docstring)."""
    started = time.perf_counter()
    configure_tracking()
    name, version = resolve_model(config.model_uri)
    limit = config.reasons_limit()
    # The bundle inside the pyfunc, called through the same score_leads() the pyfunc's
    # predict() uses: MLflow's per-cell schema enforcement would cost more than the model.
    bundle = load_bundle(config.model_uri)
    now = datetime.now(UTC).replace(tzinfo=None)
    as_of = config.as_of or now
    with Warehouse(config.warehouse) as wh:
        validate_warehouse(wh, now=max(now, as_of))
        frame = build_lead_frame(wh, [as_of]).frame
        expected = int(
            wh.scalar(
                "SELECT count(*) FROM contacts c WHERE c.created_at < CAST(? AS TIMESTAMP) AND NOT EXISTS "
                "(SELECT 1 FROM outcomes o WHERE o.contact_id = c.contact_id "
                "AND o.closed_at < CAST(? AS TIMESTAMP))",
                [as_of, as_of],
            )
            or 0
        )
        log.info("scoring %d open contacts as of %s with %s", len(frame), as_of, config.model_uri)
        leads = frame.drop(columns=["as_of"])
        parts = []
        for start in range(0, max(len(leads), 1), config.chunk_rows):
            chunk = leads.iloc[start : start + config.chunk_rows]
            if len(chunk) == 0:
                break
            parts.append(score_leads(bundle, chunk, reasons=limit is None))
            if progress:
                progress(min(start + config.chunk_rows, len(leads)), len(leads))
        scored = (
            pd.concat(parts, ignore_index=True)
            if parts
            else pd.DataFrame(columns=list(SCORE_COLUMNS))
        )
        if limit:
            top = np.argsort(-scored["probability"].to_numpy(), kind="stable")[:limit]
            explained = score_leads(bundle, leads.iloc[top], reasons=True)
            scored.loc[top, "reasons"] = explained["reasons"].to_numpy()
        out = pd.DataFrame(
            {
                "contact_id": frame["contact_id"].to_numpy(),
                "as_of": pd.Timestamp(as_of),
                "scored_at": pd.Timestamp(now),
                "model_name": name,
                "model_version": version,
            }
        )
        for col in SCORE_COLUMNS:
            out[col] = scored[col].to_numpy()
        _check_one_row_per_contact(out, expected)
        id_type = wh.columns("contacts")["contact_id"]
        written = wh.replace_partition(
            LEAD_SCORES,
            out[list(LEAD_SCORES_COLUMNS)],
            partition_column="as_of",
            partition_value=as_of,
            create_sql=_CREATE_LEAD_SCORES.format(id_type=id_type),
            expected_rows=expected,
        )
    seconds = time.perf_counter() - started
    return ScoreResult(written, as_of, name, version, LEAD_SCORES, seconds)


def _check_one_row_per_contact(out: pd.DataFrame, expected: int) -> None:
    dupes = out["contact_id"][out["contact_id"].duplicated()]
    if len(dupes):
        raise ScoringError(
            f"scoring produced {len(dupes)} duplicate contact rows (e.g. "
            f"{dupes.head(5).tolist()}); nothing was written"
        )
    if len(out) != expected:
        raise ScoringError(
            f"scoring produced {len(out)} rows but {expected} contacts are open; nothing was written"
        )
    bad = out["probability"].isna() | ~np.isfinite(out["probability"].astype("float64"))
    if bad.any():
        raise ScoringError(
            f"{int(bad.sum())} leads got no probability (e.g. contact_id "
            f"{out.loc[bad, 'contact_id'].head(5).tolist()}); nothing was written"
        )
