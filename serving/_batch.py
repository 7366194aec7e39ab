"""Batch scoring in the warehouse: every open lead, both scores, written atomically.

Contract of :func:`score_warehouse`, on every engine (DuckDB, PostgreSQL; Spark has its own
job in :mod:`serving._spark_score` with the same guarantees):

* it loads the registered model (any contract's: its feature spec says what to read),
  validates the warehouse and counts the leads to score: a pipeline model scores the
  contacts open at ``as_of`` (default: now); a handoff model every lead still open at
  ``as_of`` whose handoff time is before it, each at its own handoff time (a lead's handoff
  score never changes, so reruns agree);
* a model whose attribute columns are mostly absent from the warehouse's contacts stops
  with a :class:`~features.ModelError` naming them (exit 4); a few absent ones are scored
  as missing, with a warning;
* it builds the point-in-time lead frame (or reads it from a materialised features table,
  see :func:`materialise_features`) and scores it in chunks with the one scoring function
  the pyfunc and the HTTP service use;
* rows that cannot be scored (a required attribute missing, an impossible value, no
  probability) go to table ``lead_score_errors`` with the column, the value and the reason;
  none vanish: ``scored + errors`` must equal the open contacts, checked inside the swap;
* both tables' ``as_of`` partitions are replaced in ONE transaction (delete, bulk append
  through Arrow/COPY, count, check, commit; :meth:`features.Warehouse.replace_partitions`):
  readers see the old scores or the new ones, never a mix; a rerun for the same ``as_of``
  replaces, never duplicates; a failed job rolls back and a killed one's open transaction
  is rolled back by the engine, so the previous scores stay intact.
* ``as_of`` after now is a :class:`~features.ConfigError` (:func:`check_as_of`) unless
  ``allow_future_as_of``; an ``as_of`` months after the data's last timestamp is a warning.

Concurrency. The job validates, builds features and scores on a read-only connection, and
opens the warehouse for writing only for the swap, which recounts the leads to score: when
an import changed them meanwhile it rolls back with a :class:`~features.ScoringError`.

* PostgreSQL: a second job for the same warehouse (schema) and ``as_of`` is refused at its
  start with a ScoringError naming the running one (process, host, session: an advisory
  lock, :meth:`features.Warehouse.exclusive_job`); readers are never blocked and see the
  old scores until the commit.
* DuckDB lets one process write a file, or several read it. What a reader in another
  process sees: while the job validates, builds features and scores (nearly all of its
  time), the previous scores, if it opened the file read-only; during the swap (delete,
  append, check, commit: seconds) nothing, since no other process can open the file then
  (leadscore's commands wait up to ``LEADSCORE_LOCK_WAIT_SECONDS``, default 10; other tools
  get DuckDB's "Could not set lock" and must retry); after the commit, the new scores; never
  a mix. A process holding the file when the job opens it (for writing at any time, or
  read-only at the swap) makes the job wait up to that long, then exit 2 naming the holder's
  PID, having written nothing. Two jobs for one file swap one after the other; the later
  commit wins.

Reasons (exact SHAP from LightGBM's ``pred_contrib``, ~150x the cost of a prediction) are
computed only for the leads sales will work by default: the top ``capacity`` leads by
probability, where capacity is 13 weeks of the team's measured weekly first touches.

Test hook, not for production: ``LEADSCORE_HOLD_AT=POINT:SECONDS`` (:data:`HOLD_ENV`) makes
the job log ``holding SECONDS s at 'POINT' (LEADSCORE_HOLD_AT is set; a test hook)`` as a
warning and sleep there once, so a test can kill the process at a known point and check the
previous scores survive. The points (:data:`HOLD_POINTS`), in the order a job reaches them:

* ``scoring``: after the first chunk is scored, before anything is written;
* ``staging``: inside the transaction, ``lead_scores`` written, ``lead_score_errors`` not;
* ``swap``: inside the transaction, both written and checked, just before the commit.

The variable is read once per job (a malformed value is a :class:`~features.ConfigError`).
The Spark job (:mod:`serving._spark_score`) honours only ``swap``.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from leadscore.features import (
    ConfigError,
    ModelError,
    ScoringError,
    ValidationReport,
    Warehouse,
    build_lead_frame,
    validate_warehouse,
)
from leadscore.features._capacity import weekly_leads_worked
from leadscore.features._point_in_time import build_handoff_frame, lead_frame_columns
from leadscore.features._schema import LEAD_SCORES
from leadscore.features._spec import FeatureSpec
from leadscore.features._warehouse import PartitionWrite, quote_ident
from leadscore.models import SCORE_COLUMNS, ScoringBundle, score_leads
from leadscore.training import configure_tracking
from leadscore.training._registry import load_bundle, resolve_model

log = logging.getLogger(__name__)

LEAD_SCORE_ERRORS = "lead_score_errors"
LEAD_FEATURES = "lead_features"
# What `leadscore features` validated, per (features table, as_of): the source tables'
# fingerprint, so the score job reading that partition can skip validating them again
VALIDATIONS = "leadscore_validations"
SOURCE_TABLES: tuple[str, ...] = ("contacts", "events", "outcomes")
_CREATE_VALIDATIONS = """
    features_table VARCHAR NOT NULL,
    as_of TIMESTAMP NOT NULL,
    fingerprint VARCHAR NOT NULL,
    dated BOOLEAN NOT NULL,
    validated_now TIMESTAMP NOT NULL,
    data_start TIMESTAMP,
    data_end TIMESTAMP,
    contacts BIGINT NOT NULL,
    events BIGINT NOT NULL,
    outcomes BIGINT NOT NULL
"""
LEAD_SCORES_COLUMNS: tuple[str, ...] = (
    "contact_id",
    "as_of",
    "scored_at",
    "model_name",
    "model_version",
    *SCORE_COLUMNS,
)
LEAD_SCORE_ERRORS_COLUMNS: tuple[str, ...] = (
    "contact_id",
    "as_of",
    "scored_at",
    "model_name",
    "model_version",
    "column_name",
    "value",
    "reason",
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
_CREATE_LEAD_SCORE_ERRORS = """
    contact_id {id_type},
    as_of TIMESTAMP NOT NULL,
    scored_at TIMESTAMP NOT NULL,
    model_name VARCHAR NOT NULL,
    model_version VARCHAR,
    column_name VARCHAR,
    value VARCHAR,
    reason VARCHAR NOT NULL
"""
# the weeks of follow-up the default "capacity" reasons cover (one quarter)
REASONS_WEEKS = 13
# reasons for this many leads when the data has no sales touches to measure capacity from
REASONS_FALLBACK = 1_000
# test hook (see the module docstring): "POINT:SECONDS" holds the job there, to kill it there
HOLD_ENV = "LEADSCORE_HOLD_AT"
HOLD_POINTS: tuple[str, ...] = ("scoring", "staging", "swap")
_FLAG_ATTRIBUTES = ("phone_valid", "requested_demo")


@dataclass(frozen=True)
class ScoreConfig:
    """A batch scoring job.

    ``reasons``: ``"capacity"`` (default: the leads sales can work in a quarter, measured from
    the data), ``"all"``, ``"none"``, or a number N (the N highest-probability leads).
    ``required``: attributes without which a lead is not scored (it goes to
    ``lead_score_errors``). ``features_table``: read the lead frame from this table (written
    by :func:`materialise_features`) instead of computing it. ``allow_future_as_of``: score
    as of a moment after now (refused otherwise, see :func:`check_as_of`).
    """

    warehouse: str
    model_uri: str = "models:/lead-quality@champion"
    as_of: datetime | None = None
    reasons: str = "capacity"
    chunk_rows: int = 100_000
    required: tuple[str, ...] = ()
    features_table: str | None = None
    allow_future_as_of: bool = False

    def __post_init__(self) -> None:
        if self.chunk_rows <= 0:
            raise ConfigError(f"chunk_rows must be positive, got {self.chunk_rows}")
        self.reasons_limit()

    def reasons_limit(self) -> int | str | None:
        """None for all rows, a number of top rows, or ``"capacity"``."""
        if self.reasons in ("all", "capacity"):
            return None if self.reasons == "all" else "capacity"
        if self.reasons == "none":
            return 0
        if self.reasons.isdigit():
            return int(self.reasons)
        raise ConfigError(
            f"reasons must be 'capacity', 'all', 'none' or a number, got {self.reasons!r}"
        )


@dataclass(frozen=True)
class Hold:
    """The test hook's pause (see the module docstring): sleep ``seconds`` at ``point``.

    ``Hold()`` (the variable unset) never pauses.
    """

    point: str | None = None
    seconds: float = 0.0

    @classmethod
    def from_env(cls) -> Hold:
        """The pause :data:`HOLD_ENV` asks for; read once per job."""
        raw = os.environ.get(HOLD_ENV, "").strip()
        if not raw:
            return cls()
        point, _, seconds = raw.partition(":")
        try:
            value = float(seconds)
        except ValueError:
            value = float("nan")
        if point not in HOLD_POINTS or not (0 < value < float("inf")):
            raise ConfigError(
                f"{HOLD_ENV}={raw!r}: expected POINT:SECONDS with POINT one of "
                f"{list(HOLD_POINTS)} and SECONDS > 0 (a test hook: unset it to score normally)"
            )
        return cls(point, value)

    def at(self, point: str) -> None:
        """Log a warning and sleep if this is the point to hold at."""
        assert point in HOLD_POINTS, point
        if point == self.point:
            log.warning("holding %.1f s at %r (%s is set; a test hook)", self.seconds, point,
                        HOLD_ENV)  # fmt: skip
            time.sleep(self.seconds)


@dataclass(frozen=True)
class ScoreResult:
    """What a scoring job wrote."""

    rows: int
    as_of: datetime
    model_name: str
    model_version: str
    table: str
    seconds: float
    errors: int = 0
    reasons_rows: int = 0
    error_reasons: Mapping[str, int] = field(default_factory=dict)
    timings: Mapping[str, float] = field(default_factory=dict)
    validation_reused: bool = False
    """True when the source tables were not validated again: the features table's partition
    was computed by :func:`materialise_features` from tables with the same fingerprint."""


def check_as_of(as_of: datetime, now: datetime, *, allow_future: bool = False) -> None:
    """A ConfigError when ``as_of`` is after ``now`` (both naive UTC) unless ``allow_future``:
    no data exists yet for the time between, so the scores would be today's labelled with a
    date to come (``--as-of 2999-01-01`` once wrote such a partition without a word)."""
    if as_of > now and not allow_future:
        raise ConfigError(
            f"as_of {as_of:%Y-%m-%d %H:%M:%S} is in the future (now: {now:%Y-%m-%d %H:%M:%S} "
            "UTC): no data exists yet after now, so its scores would be today's under a date "
            "to come; score as of now or a past moment (or, to mean it, allow_future_as_of)"
        )


# as_of this long after the data's last timestamp gets a warning: are the tables up to date?
STALE_DATA = timedelta(days=90)


def _warn_if_after_the_data(as_of: datetime, data_end: datetime | None) -> None:
    if data_end is not None and as_of - data_end > STALE_DATA:
        log.warning("as_of %s is %d days after the data's last timestamp (%s): the scores see "
                    "no activity since then; are the tables up to date?", f"{as_of:%Y-%m-%d}",
                    (as_of - data_end).days, f"{data_end:%Y-%m-%d}")  # fmt: skip


def check_required(required: tuple[str, ...], spec: FeatureSpec) -> None:
    """``--require`` must name attributes of the model's spec."""
    names = [a.name for a in spec.attributes]
    unknown = [c for c in required if c not in names]
    if unknown:
        raise ConfigError(f"required attributes {unknown} are not attributes of this model; "
                          f"choose from {names}")  # fmt: skip


def check_columns(wh: Warehouse, spec: FeatureSpec) -> list[str]:
    """The model's attribute columns the warehouse's contacts lack; a ModelError when they
    are most of them (the model was trained on other data)."""
    found = set(wh.columns("contacts"))
    wanted = [a.name for a in spec.attributes]
    if spec.existing_score is not None:
        wanted.append(spec.existing_score)
    missing = [c for c in wanted if c not in found]
    if missing and len(missing) * 2 > len(wanted):
        raise ModelError(
            f"the model reads {len(wanted)} contact columns and table 'contacts' of {wh.url} "
            f"lacks {len(missing)} of them: {missing[:20]}; was it trained on other data? "
            "Score with the contract it was trained on (--contract)"
        )
    if missing:
        log.warning("table 'contacts' lacks %d of the model's columns (scored as missing): %s",
                    len(missing), missing)  # fmt: skip
    return missing


def leads_to_score(wh: Warehouse, spec: FeatureSpec, as_of: datetime) -> int:
    """How many leads a job scores as of ``as_of`` (see the module docstring); counted
    independently of the frame the job builds."""
    if spec.decision == "handoff":
        delay = f"INTERVAL '{round(spec.handoff_delay_hours * 3600)}' SECOND"
        cutoff = f"(COALESCE(c.created_at, TIMESTAMP '1970-01-01 00:00:00') + {delay})"
        return int(wh.scalar(
            f"SELECT count(*) FROM contacts c WHERE {cutoff} < CAST(? AS TIMESTAMP) AND NOT "
            "EXISTS (SELECT 1 FROM outcomes o WHERE o.contact_id = c.contact_id AND "
            "(o.closed_at IS NULL OR o.closed_at < CAST(? AS TIMESTAMP)))", [as_of, as_of]) or 0)  # fmt: skip
    return open_contacts(wh, as_of)


def open_contacts(wh: Warehouse, as_of: datetime) -> int:
    """Contacts created before ``as_of`` with no outcome closed before it."""
    return int(
        wh.scalar(
            "SELECT count(*) FROM contacts c WHERE c.created_at < CAST(? AS TIMESTAMP) AND NOT "
            "EXISTS (SELECT 1 FROM outcomes o WHERE o.contact_id = c.contact_id "
            "AND o.closed_at < CAST(? AS TIMESTAMP))",
            [as_of, as_of],
        )
        or 0
    )


def unscorable(leads: pd.DataFrame, required: tuple[str, ...] = (),
               flags: tuple[str, ...] = _FLAG_ATTRIBUTES) -> pd.DataFrame:  # fmt: skip
    """The rows of ``leads`` that cannot be scored: one row per (lead, problem), with
    ``position`` (row position in ``leads``), ``column_name``, ``value`` and ``reason``.

    A lead cannot be scored when a ``required`` attribute is missing, when ``company_size``
    is negative or not finite, or when a yes/no flag holds anything but 0/1.
    """
    found = []

    def add(mask: np.ndarray, column: str, reason: str) -> None:
        positions = np.flatnonzero(mask)
        if len(positions):
            values = leads[column].iloc[positions]
            found.append(pd.DataFrame({
                "position": positions, "column_name": column,
                "value": [None if pd.isna(v) else str(v) for v in values], "reason": reason,
            }))  # fmt: skip

    for col in required:
        add(leads[col].isna().to_numpy(), col, f"required attribute {col} is missing")
    if "company_size" in leads:
        size = pd.to_numeric(leads["company_size"], errors="coerce").to_numpy(dtype="float64")
        with np.errstate(invalid="ignore"):
            bad = leads["company_size"].notna().to_numpy() & ~(np.isfinite(size) & (size >= 0))
        add(bad, "company_size", "company_size must be a non-negative number of employees")
    for col in flags:
        if col in leads:
            flag = pd.to_numeric(leads[col], errors="coerce").to_numpy(dtype="float64")
            bad = leads[col].notna().to_numpy() & ~np.isin(flag, (0.0, 1.0))
            add(bad, col, f"{col} must be true/false (1/0)")
    if not found:
        return pd.DataFrame(columns=["position", "column_name", "value", "reason"])
    return pd.concat(found, ignore_index=True).sort_values("position", kind="stable")


def _reasons_limit(config: ScoreConfig, wh: Warehouse, as_of: datetime) -> int | None:
    """How many leads get model reasons (None: every lead)."""
    limit = config.reasons_limit()
    if limit is None:
        return None
    if limit == "capacity":
        weekly = weekly_leads_worked(wh, as_of - timedelta(weeks=REASONS_WEEKS), as_of)
        if weekly <= 0:
            log.info("no sales touches in the %d weeks before %s: reasons for the top %d leads",
                     REASONS_WEEKS, f"{as_of:%Y-%m-%d}", REASONS_FALLBACK)  # fmt: skip
            return REASONS_FALLBACK
        count = round(weekly * REASONS_WEEKS)
        log.info("reasons for the top %d leads: %.0f first touches a week x %d weeks",
                 count, weekly, REASONS_WEEKS)  # fmt: skip
        return count
    assert isinstance(limit, int)
    return limit


def _reasons_count(config: ScoreConfig, wh: Warehouse, as_of: datetime, n_leads: int) -> int:
    """How many of ``n_leads`` scored leads get model reasons."""
    limit = _reasons_limit(config, wh, as_of)
    return n_leads if limit is None else min(n_leads, limit)


def lead_frame_for(wh: Warehouse, spec: FeatureSpec, as_of: datetime) -> pd.DataFrame:
    """The leads a job scores as of ``as_of`` (see the module docstring), point in time."""
    if spec.decision == "handoff":
        return build_handoff_frame(wh, spec, until=as_of, open_only=True).frame
    return build_lead_frame(wh, [as_of], spec=spec).frame


def _lead_chunks(wh: Warehouse, config: ScoreConfig, as_of: datetime, spec: FeatureSpec,
                 expected: int) -> Iterator[pd.DataFrame]:  # fmt: skip
    """The lead frame as of ``as_of`` in chunks of about ``config.chunk_rows`` rows: read
    from ``config.features_table`` as a stream, or computed by the point-in-time SQL. A
    features table without rows for ``as_of`` is an error unless there is no lead to score
    (``expected`` is 0: every contact has closed, as in an export of past campaigns)."""
    if config.features_table is None:
        frame = lead_frame_for(wh, spec, as_of)
        for start in range(0, len(frame), config.chunk_rows):
            yield frame.iloc[start : start + config.chunk_rows].reset_index(drop=True)
        return
    wh.require_table(config.features_table)
    cols = ", ".join(quote_ident(c) for c in lead_frame_columns(with_labels=False, spec=spec))
    sql = (f"SELECT {cols} FROM {quote_ident(config.features_table)} "
           "WHERE as_of = CAST(? AS TIMESTAMP)")  # fmt: skip
    empty = True
    for table in wh.query_batches(sql, [as_of], rows=config.chunk_rows):
        empty = False
        yield table.to_pandas()
    if empty and expected:
        raise ScoringError(f"table {config.features_table!r} has no rows for as_of {as_of}; "
                           "run `leadscore features` for that date first")  # fmt: skip


_DONE = object()
T = TypeVar("T")


def _prefetched(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """``items``, produced on a background thread up to ``depth`` ahead (reading from the
    warehouse overlaps scoring: the engine's C++ releases the GIL). An exception in the
    producer is raised here; stopping early stops the producer."""
    buffer: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put(_DONE)
        except BaseException as exc:  # handed to the consumer
            buffer.put(exc)

    thread = threading.Thread(target=produce, name="leadscore-read", daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=30)


class _Top:
    """The ``limit`` most probable scored leads seen so far (their rows, for reasons), in
    arrival order among equals; ``limit=None`` keeps every lead."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.rows: pd.DataFrame | None = None
        self.probability = np.empty(0)

    def add(self, rows: pd.DataFrame, probability: np.ndarray) -> None:
        if self.limit == 0 or not len(rows):
            return
        if self.rows is None:
            merged, p = rows.reset_index(drop=True), probability
        else:
            merged = pd.concat([self.rows, rows], ignore_index=True)
            p = np.concatenate([self.probability, probability])
        if self.limit is not None and len(merged) > self.limit:
            keep = np.sort(np.argsort(-p, kind="stable")[: self.limit])
            merged, p = merged.iloc[keep].reset_index(drop=True), p[keep]
        self.rows, self.probability = merged, p


def score_warehouse(
    config: ScoreConfig, *, progress: Callable[[int, int], None] | None = None
) -> ScoreResult:
    """Score every open contact and write ``lead_scores`` (see the module docstring).

    Lead rows are read in chunks (streamed from a features table) and scored chunk by
    chunk; on a server engine (``Warehouse.remote``) the next chunk is read on a thread
    while this one is scored, so the server's work overlaps the model's. Only the
    ``limit`` most probable leads' rows are kept for the reasons pass. ``progress(done,
    total)`` is called after each chunk (``total`` is the open contacts); progress is
    logged too.
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}
    hold = Hold.from_env()
    configure_tracking()
    name, version = resolve_model(config.model_uri)
    # The bundle inside the pyfunc, called through the same score_leads() the pyfunc's
    # predict() uses: MLflow's per-cell schema enforcement would cost more than the model.
    bundle = load_bundle(config.model_uri)
    timings["model"] = time.perf_counter() - started
    now = datetime.now(UTC).replace(tzinfo=None)
    as_of = config.as_of or now
    check_as_of(as_of, now, allow_future=config.allow_future_as_of)
    spec = bundle.spec
    check_required(config.required, spec)
    # Read and score on a read-only connection (on DuckDB other processes may read the file
    # meanwhile); open for writing only to swap the partition in. The claim refuses a second
    # job for the same as_of while this one runs (PostgreSQL; see Warehouse.exclusive_job).
    with (
        Warehouse(config.warehouse, read_only=True) as wh,
        wh.exclusive_job(f"score as_of {as_of:%Y-%m-%d %H:%M:%S}"),
    ):
        mark = time.perf_counter()
        report = None
        if config.features_table is not None:
            report = reusable_validation(wh, config.features_table, as_of,
                                         now=max(now, as_of), dated=spec.has_time)  # fmt: skip
        reused = report is not None
        if report is None:
            report = validate_warehouse(wh, now=max(now, as_of), dated=spec.has_time)
        _warn_if_after_the_data(as_of, report.data_end)
        absent = check_columns(wh, spec)
        if absent:
            spec = spec.without(absent)
        expected = leads_to_score(wh, spec, as_of)
        limit = _reasons_limit(config, wh, as_of)
        id_type = wh.columns("contacts")["contact_id"]
        timings["validate"] = time.perf_counter() - mark
        log.info("scoring %d open contacts as of %s with %s (%s v%s)",
                 expected, as_of, config.model_uri, name, version)  # fmt: skip
        mark = time.perf_counter()
        top = _Top(limit)
        error_parts: list[pd.DataFrame] = []
        done = 0
        outs: list[pd.DataFrame] = []
        reader = wh.another()
        try:
            chunks = _lead_chunks(reader, config, as_of, spec, expected)
            if wh.remote:  # the server reads while this process scores (2 cores measured)
                chunks = _prefetched(chunks)
            for i, frame in enumerate(chunks):
                if i == 0:
                    timings["features"] = time.perf_counter() - mark
                    mark = time.perf_counter()
                out, errors, good, probability = _score_chunk(
                    bundle, frame, config.required, as_of, now, name, version)  # fmt: skip
                # (absent columns are simply not in the frame: the scorers read them as missing)
                top.add(good, probability)
                outs.append(out)
                error_parts.append(errors)
                done += len(frame)
                log.info("scored %d of %d leads", done, expected)
                if progress:
                    progress(done, expected)
                if i == 0:
                    hold.at("scoring")
        finally:
            reader.close()
        timings.setdefault("features", time.perf_counter() - mark)
        scored = (pd.concat(outs, ignore_index=True) if outs else
                  pd.DataFrame({c: pd.Series(dtype="object") for c in LEAD_SCORES_COLUMNS}))  # fmt: skip
        errors = (pd.concat(error_parts, ignore_index=True) if error_parts
                  else _error_rows(pd.DataFrame({"contact_id": []}), _NO_PROBLEMS,
                                   pd.DataFrame({"contact_id": []}), np.zeros(0, bool)))  # fmt: skip
        errors = errors.assign(as_of=pd.Timestamp(as_of), scored_at=pd.Timestamp(now),
                               model_name=name, model_version=version)  # fmt: skip
        errors = errors[list(LEAD_SCORE_ERRORS_COLUMNS)]
        _check_one_row_per_contact(scored["contact_id"], errors, expected)
        n_reasons = 0
        if top.rows is not None and len(top.rows):
            explained = score_leads(bundle, top.rows, reasons=True)
            n_reasons = len(top.rows)
            rows = pd.Index(scored["contact_id"]).get_indexer(top.rows["contact_id"])
            scored.loc[rows, "reasons"] = explained["reasons"].to_numpy()
        timings["score"] = time.perf_counter() - mark
        wh.close()  # DuckDB: one process writes a file only when no other has it open
        mark = time.perf_counter()
        with Warehouse(config.warehouse) as writer:
            written = _write_partition(writer, scored[list(LEAD_SCORES_COLUMNS)], errors,
                                       as_of, expected, id_type, hold, spec)  # fmt: skip
        timings["write"] = time.perf_counter() - mark
    reasons_by = {str(k): int(v) for k, v in errors["reason"].value_counts().items()}
    if len(errors):
        log.warning("%d leads could not be scored (see table %s): %s",
                    errors["contact_id"].nunique(), LEAD_SCORE_ERRORS, reasons_by)  # fmt: skip
    return ScoreResult(
        rows=written[LEAD_SCORES], as_of=as_of, model_name=name, model_version=version,
        table=LEAD_SCORES, seconds=time.perf_counter() - started,
        errors=int(errors["contact_id"].nunique()) if len(errors) else 0,
        reasons_rows=n_reasons, error_reasons=reasons_by, timings=timings,
        validation_reused=reused,
    )  # fmt: skip


_NO_PROBLEMS = pd.DataFrame(columns=["position", "column_name", "value", "reason"])


def _score_chunk(
    bundle: ScoringBundle, frame: pd.DataFrame, required: tuple[str, ...], as_of: datetime,
    now: datetime, name: str, version: str,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, np.ndarray]:  # fmt: skip
    """Score one chunk of lead rows: the ``lead_scores`` rows, the error rows (without the
    job columns), and the scored leads' rows and probabilities (candidates for reasons)."""
    leads = frame.drop(columns=["as_of"])
    flags = tuple(a.name for a in bundle.spec.attributes if a.kind == "boolean")
    problems = unscorable(leads, required, flags)
    bad_rows = np.zeros(len(leads), dtype=bool)
    bad_rows[problems["position"].to_numpy(dtype="int64")] = True
    good = leads.loc[~bad_rows].reset_index(drop=True) if bad_rows.any() else leads
    if len(good):
        scored = score_leads(bundle, good, reasons=False)
    else:
        scored = pd.DataFrame({c: pd.Series(dtype="object") for c in SCORE_COLUMNS})
    probability = scored["probability"].to_numpy(dtype="float64")
    ok = np.isfinite(probability)
    kept = scored if ok.all() else scored.loc[ok].reset_index(drop=True)
    n_ok = len(kept)
    # The score columns are taken as they are (no round trip through Python objects) and the
    # job's constant texts as one-category columns: Arrow writes them from their codes.
    out = pd.DataFrame({
        "contact_id": good["contact_id"].to_numpy()[ok], "as_of": pd.Timestamp(as_of),
        "scored_at": pd.Timestamp(now), "model_name": _constant(name, n_ok),
        "model_version": _constant(version, n_ok),
    })  # fmt: skip
    for col in SCORE_COLUMNS:
        out[col] = kept[col].array
    errors = _error_rows(leads, problems, good, ~ok)
    if ok.all():
        return out, errors, good, probability
    return out, errors, good.loc[ok].reset_index(drop=True), probability[ok]


def _constant(value: str | None, n: int) -> pd.Categorical | list[None]:
    """A column of ``n`` times ``value`` (a text, or None)."""
    if value is None:
        return [None] * n
    dtype = pd.CategoricalDtype(categories=[value])
    return pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), dtype=dtype)


def _error_rows(leads: pd.DataFrame, problems: pd.DataFrame, good: pd.DataFrame,
                no_probability: np.ndarray) -> pd.DataFrame:  # fmt: skip
    parts = []
    if len(problems):
        positions = problems["position"].to_numpy(dtype="int64")
        parts.append(pd.DataFrame({
            "contact_id": leads["contact_id"].to_numpy()[positions],
            "column_name": problems["column_name"].to_numpy(),
            "value": problems["value"].to_numpy(), "reason": problems["reason"].to_numpy(),
        }))  # fmt: skip
    if no_probability.any():
        parts.append(pd.DataFrame({
            "contact_id": good["contact_id"].to_numpy()[no_probability], "column_name": None,
            "value": None, "reason": "the model returned no probability",
        }))  # fmt: skip
    if not parts:
        return pd.DataFrame({"contact_id": pd.Series(dtype=leads["contact_id"].dtype),
                             "column_name": pd.Series(dtype="object"),
                             "value": pd.Series(dtype="object"),
                             "reason": pd.Series(dtype="object")})  # fmt: skip
    return pd.concat(parts, ignore_index=True)


def _write_partition(wh: Warehouse, scores: pd.DataFrame, errors: pd.DataFrame,
                     as_of: datetime, expected: int, id_type: str,
                     hold: Hold, spec: FeatureSpec) -> dict[str, int]:  # fmt: skip
    """Replace the ``as_of`` partition of ``lead_scores`` and ``lead_score_errors`` at once
    (:meth:`~features.Warehouse.replace_partitions`: one transaction on DuckDB and
    PostgreSQL), checking before the commit that the leads to score are still the
    ``expected`` ones counted before scoring, and scored + unscorable = that count."""

    def check(counts: Mapping[str, int]) -> None:
        now_open = leads_to_score(wh, spec, as_of)
        if now_open != expected:
            raise ScoringError(
                f"the leads to score as of {as_of} changed while this job ran ({expected} when "
                f"it started, {now_open} now: the tables were imported or edited meanwhile); "
                "rolled back, previous scores kept: run it again"
            )
        erred = int(wh.scalar(f"SELECT count(DISTINCT contact_id) FROM {LEAD_SCORE_ERRORS} "
                              "WHERE as_of = CAST(? AS TIMESTAMP)", [as_of]) or 0)  # fmt: skip
        if counts[LEAD_SCORES] + erred != expected:
            raise ScoringError(
                f"{counts[LEAD_SCORES]} scored + {erred} unscorable leads for as_of {as_of} but "
                f"{expected} contacts are open; rolled back, previous scores kept"
            )

    def pause(table: str) -> None:
        if table == LEAD_SCORES:
            hold.at("staging")  # lead_scores written, lead_score_errors not yet
        elif not table:
            hold.at("swap")  # everything written and checked, not committed

    writes = [
        PartitionWrite(LEAD_SCORES, scores, _CREATE_LEAD_SCORES.format(id_type=id_type)),
        PartitionWrite(LEAD_SCORE_ERRORS, errors,
                       _CREATE_LEAD_SCORE_ERRORS.format(id_type=id_type)),
    ]  # fmt: skip
    return wh.replace_partitions(writes, partition_column="as_of", partition_value=as_of,
                                 check=check, pause=pause)  # fmt: skip


def _check_one_row_per_contact(ids: pd.Series, errors: pd.DataFrame, expected: int) -> None:
    dupes = ids[ids.duplicated()]
    if len(dupes):
        raise ScoringError(
            f"scoring produced {len(dupes)} duplicate contact rows (e.g. "
            f"{dupes.head(5).tolist()}); nothing was written"
        )
    erred = errors["contact_id"].nunique()
    if len(ids) + erred != expected:
        raise ScoringError(
            f"scoring produced {len(ids)} rows and {erred} unscorable leads but {expected} "
            "contacts are open; nothing was written"
        )


def materialise_features(url: str, as_of: datetime, *, table: str = LEAD_FEATURES,
                         spec: FeatureSpec | None = None,
                         timings: dict[str, float] | None = None) -> int:  # fmt: skip
    """Compute the point-in-time lead frame of ``spec`` (default: the demo's) as of
    ``as_of`` and replace its partition in ``table`` (atomic, rerunnable); returns the rows
    written. ``score --features-table`` reads it back, so features and scoring can run as
    separate steps of a pipeline.

    The source tables are validated first. Where the engine can fingerprint them
    (:meth:`features.Warehouse.fingerprint`: DuckDB, PostgreSQL 14+), the fingerprint taken
    in the validating scans (of the rows validated) is recorded in table
    ``leadscore_validations`` in the same
    transaction as the partition, so the score job reading this partition skips validating
    the same data again (:func:`reusable_validation`); any change to the tables after the
    fingerprint makes the score job validate them again. On PostgreSQL it creates the index
    ``events(contact_id, occurred_at) INCLUDE (event_type)`` when missing (or, when the role
    may not, logs the statement to run: :meth:`features.Warehouse.ensure_index`).

    ``timings``, when given, receives the wall seconds of each step: ``validate`` (with the
    fingerprint), ``index`` (the check, or the index's creation), ``features`` (the
    point-in-time SQL) and ``write`` (the partition and its validation row)."""
    from leadscore.features._spec import demo_spec

    spec = spec or demo_spec()
    took = timings if timings is not None else {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        took[step] = now - clock
        clock = now

    with Warehouse(url) as wh:
        validated_now = max(datetime.now(UTC).replace(tzinfo=None), as_of)
        report = validate_warehouse(wh, now=validated_now, dated=spec.has_time, fingerprint=True)
        fingerprint = report.fingerprint
        lap("validate")
        if spec.has_time:  # the events of each lead up to its cutoff (where it helps)
            wh.ensure_index("events", ["contact_id", "occurred_at"], include=["event_type"])
        lap("index")
        frame = lead_frame_for(wh, spec, as_of).assign(as_of=pd.Timestamp(as_of))
        lap("features")
        id_type = wh.columns("contacts")["contact_id"]
        columns = [f"contact_id {id_type} NOT NULL", "as_of TIMESTAMP NOT NULL"]
        for col in lead_frame_columns(with_labels=False, spec=spec)[2:]:
            kind = "VARCHAR" if frame[col].dtype == object or pd.api.types.is_string_dtype(
                frame[col]) else "DOUBLE"  # fmt: skip
            columns.append(f"{quote_ident(col)} {kind}")
        with wh.transaction():
            rows = wh.replace_partition(
                table, frame, partition_column="as_of", partition_value=as_of,
                create_sql=", ".join(columns), expected_rows=len(frame),
            )  # fmt: skip
            _record_validation(wh, table, as_of, fingerprint, report, spec.has_time,
                               validated_now)  # fmt: skip
        lap("write")
        log.debug("features of %s as of %s: %s", table, as_of,
                 ", ".join(f"{step} {seconds:.1f} s" for step, seconds in took.items()))  # fmt: skip
        return rows


def _record_validation(wh: Warehouse, table: str, as_of: datetime, fingerprint: str | None,
                       report: ValidationReport, dated: bool, validated_now: datetime) -> None:  # fmt: skip
    """Replace the row of ``leadscore_validations`` for (``table``, ``as_of``): what was
    validated, with ``validated_now`` as the "no timestamp after now" bound. Without a
    fingerprint the old row is only deleted (its fingerprint no longer describes the
    partition)."""
    if not wh.has_table(VALIDATIONS):
        if fingerprint is None:
            return
        wh.execute(f"CREATE TABLE {VALIDATIONS} ({_CREATE_VALIDATIONS})")
    wh.execute(f"DELETE FROM {VALIDATIONS} WHERE features_table = ? AND as_of = "
               "CAST(? AS TIMESTAMP)", [table, as_of])  # fmt: skip
    if fingerprint is None:
        return
    counts = report.row_counts
    wh.execute(
        f"INSERT INTO {VALIDATIONS} (features_table, as_of, fingerprint, dated, validated_now, "
        "data_start, data_end, contacts, events, outcomes) VALUES (?, CAST(? AS TIMESTAMP), ?, "
        "?, CAST(? AS TIMESTAMP), CAST(? AS TIMESTAMP), CAST(? AS TIMESTAMP), ?, ?, ?)",
        [table, as_of, fingerprint, dated, validated_now, report.data_start, report.data_end,
         counts["contacts"], counts["events"], counts["outcomes"]],
    )  # fmt: skip


def reusable_validation(wh: Warehouse, features_table: str, as_of: datetime, *,
                        now: datetime, dated: bool) -> ValidationReport | None:  # fmt: skip
    """The validation :func:`materialise_features` recorded for ``features_table`` at
    ``as_of``, when it still holds for the source tables as they are now; otherwise None
    (the caller validates).

    It holds when the tables' fingerprint equals the recorded one (same columns, same rows),
    the same ``dated`` rule was applied, and the recorded "no timestamp after" bound is not
    later than ``now`` (so every timestamp is before ``now`` too)."""
    if not wh.has_table(VALIDATIONS):
        return None
    rows = wh.query(f"SELECT * FROM {VALIDATIONS} WHERE features_table = ? AND as_of = "
                    "CAST(? AS TIMESTAMP)", [features_table, as_of])  # fmt: skip
    if len(rows) != 1:
        return None
    row = rows.iloc[0]
    if bool(row["dated"]) != dated or pd.Timestamp(row["validated_now"]) > pd.Timestamp(now):
        return None
    current = wh.fingerprint(SOURCE_TABLES)
    if current is None or current != row["fingerprint"]:
        log.info("the source tables changed since `leadscore features` validated them for "
                 "%s as of %s: validating them again", features_table, as_of)  # fmt: skip
        return None
    log.info("source tables unchanged since `leadscore features` validated them for %s as "
             "of %s (fingerprint %s...): not validating them again", features_table, as_of,
             current[:12])  # fmt: skip

    def when(value: Any) -> datetime | None:
        return None if pd.isna(value) else pd.Timestamp(value).to_pydatetime()

    return ValidationReport(
        row_counts={t: int(row[t]) for t in SOURCE_TABLES},
        data_start=when(row["data_start"]), data_end=when(row["data_end"]),
        notes=["validated by `leadscore features`; tables unchanged since (fingerprint)"],
    )  # fmt: skip
