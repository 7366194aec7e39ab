"""The rule-based points score: a YAML rules file that marketing owns, applied to lead rows.

Contract:

- The file is read by :mod:`models._rules_file` (:func:`load_rules`, strict, errors naming
  the file, the rule and the key).
- :class:`RuleScorer` takes *raw lead rows* (contact attributes, ``days_since_created``
  and the engagement columns of :mod:`features._definitions`) and returns one float of
  points per row, in the input order. It derives ``title_level``, ``company_size_band``,
  ``email_is_free`` ... itself (with :func:`~features._attributes.derive_columns`) when
  they are absent; engagement columns that are absent or null count as 0 for count rules
  and never match other rules. It never mutates its input.
- Each rule has exactly one condition: ``in`` (categorical membership), ``equals``,
  ``at_least`` (``value >= threshold``), ``below`` (``value < threshold``), each giving
  ``points`` when true; or ``points_each`` (a count rule: points per unit, optionally
  capped at ``max_points`` in size). Strings match case-insensitively; booleans, 0/1 and
  numbers compare numerically. Rules marked ``decays`` have their points multiplied by
  ``0.5 ** (days_since_created / half_life_days)``.
- :meth:`RuleScorer.explain` lists, per row, the rules that fired with their (decayed)
  points, largest in size first; they sum to :meth:`RuleScorer.score` (up to float
  rounding). Grades are A/B/C/D by minimum points; a lead at or above ``mql_threshold``
  is a marketing-qualified lead.
- ``fit(X, y)`` with labels also fits an isotonic regression of ``y`` on the points, so
  :meth:`RuleScorer.predict_proba` returns a probability on the same scale as a model.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from leadscore.features._attributes import (
    SMALL_ROWS,
    Coded,
    LeadColumns,
    derive_columns,
    nan_to_zero,
)
from leadscore.features._definitions import AGE_FEATURE
from leadscore.features._errors import (
    ConfigError,
    DataValidationError,
    MissingColumnsError,
    ModelError,
)
from leadscore.features._spec import FeatureSpec, demo_spec
from leadscore.models._calibration import Calibrator
from leadscore.models._lead_model import in_blocks
from leadscore.models._rules_file import (
    Rule,
    RulesConfig,
    load_rules,
    parse_fitted,
)
from numpy.typing import ArrayLike, NDArray

GRADE_LETTERS: tuple[str, ...] = ("A", "B", "C", "D")
LEAD_ROWS = "lead rows"
# Rows whose rule points are worked out at once when scoring many (a few MB at a time).
RULE_CHUNK_ROWS = 65_536

# The columns derive_attributes adds, and the raw columns each is computed from.
# tests/test_rules.py checks this against derive_attributes itself.
re_engagement = re.compile(r"(_\d+d|_\d+_\d+d)$|^(days_since_last|hours_to_first|active_days)")
DERIVED_SOURCES: dict[str, tuple[str, ...]] = {
    "title_level": ("title",),
    "title_function": ("title",),
    "company_size_band": ("company_size",),
    "email_is_free": ("email_domain",),
    "activity_trend": ("events_30d", "events_30_90d"),
}


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class RuleHit:
    """One rule that fired for one lead, with the points it gave (after decay)."""

    name: str
    category: str
    points: float


class RuleScorer:
    """Points per lead from a rules file; the rule-based side of the comparison.

    Parameters
    ----------
    rules:
        A :class:`RulesConfig`, a path to a rules file, or ``None`` for the packaged
        default. Stored as given; read and checked in :meth:`fit`.

    Attributes set by :meth:`fit`: ``rules_`` (the :class:`RulesConfig`),
    ``feature_names_`` (the features the rules read, in first-use order) and
    ``calibrator_`` (the isotonic regression of the labels on the points, or ``None``
    when fit had no labels).
    """

    def __init__(self, rules: RulesConfig | str | Path | None = None) -> None:
        self.rules = rules

    # -- fitting

    def fit(self, X: pd.DataFrame, y: ArrayLike | None = None, *,
            spec: FeatureSpec | None = None) -> RuleScorer:  # fmt: skip
        """Check the rules against ``X``'s columns (and ``spec``'s features); with ``y``,
        calibrate points to P(won).

        With the packaged sheet (``rules=None``) and a ``spec``, rules reading a feature the
        data does not have are dropped and listed in ``dropped_rules_`` (the sheet was
        written for the standard roles; a team's export may have none of them). A team's
        own rules file is checked strictly: an unknown feature is an error."""
        config = self.rules if isinstance(self.rules, RulesConfig) else load_rules(self.rules)
        frame = _check_frame(X)
        columns = set(map(str, frame.columns))
        if spec is not None:
            known = sorted(set(spec.rule_features()) | columns)
        else:  # lead rows of the demo's spec
            known = sorted(columns | set(DERIVED_SOURCES) | set(demo_spec().engagement_names()))
        self.dropped_rules_: list[str] = []
        if self.rules is None and spec is not None:
            kept = [r for r in config.rules if r.feature in known]
            self.dropped_rules_ = [r.name for r in config.rules if r.feature not in known]
            config = config.model_copy(update={"rules": kept})
            if config.decay is not None and AGE_FEATURE not in frame.columns:
                config = config.model_copy(update={"decay": None, "rules": [
                    r.model_copy(update={"decays": False}) for r in kept]})  # fmt: skip
        for index, rule in enumerate(config.rules):
            if rule.feature not in known:
                close = difflib.get_close_matches(rule.feature, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ConfigError(
                    f"rules file {config.source!r}: rules[{index}] ({rule.name!r}): unknown "
                    f"feature {rule.feature!r}{hint} (known features: {', '.join(known)})"
                )
        if config.decay is not None and AGE_FEATURE not in frame.columns:
            raise DataValidationError(
                LEAD_ROWS,
                AGE_FEATURE,
                f"the rules decay activity points with lead age (half_life_days="
                f"{config.decay.half_life_days:g}), so lead rows must have column {AGE_FEATURE!r}",
            )
        self.rules_ = config
        self.__dict__.pop("_targets_cache", None)  # a refit may read other rules
        self.feature_names_ = tuple(dict.fromkeys(rule.feature for rule in config.rules))
        self.calibrator_: Calibrator | None = None
        if y is not None:
            target = _check_target(y, len(frame))
            points = self.score(frame)
            self.calibrator_ = Calibrator.isotonic(points, target)
        return self

    @property
    def has_rules(self) -> bool:
        """Whether any rule applies to this data (the packaged sheet may read none of a
        team's features)."""
        return bool(self._fitted_rules().rules)

    # -- persistence

    def to_dict(self) -> dict[str, Any]:
        """The fitted scorer as JSON-ready data: the rules as YAML text, the calibration."""
        import yaml

        config = self._fitted_rules()
        data = config.model_dump(by_alias=True, exclude_none=True, exclude_defaults=False)
        return {
            "rules_yaml": yaml.safe_dump(data, sort_keys=False, allow_unicode=True),
            "source": config.source,
            "dropped_rules": list(self.dropped_rules_),
            "calibrator": None if self.calibrator_ is None else self.calibrator_.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RuleScorer:
        """Read :meth:`to_dict`'s output (the rules are validated again)."""
        text = str(data["rules_yaml"])
        config = (parse_fitted(text, str(data.get("source", "<saved rules>"))))
        scorer = cls(config)
        scorer.rules_ = config
        scorer.feature_names_ = tuple(dict.fromkeys(rule.feature for rule in config.rules))
        scorer.dropped_rules_ = list(data.get("dropped_rules", []))
        cal = data.get("calibrator")
        scorer.calibrator_ = None if cal is None else Calibrator.from_dict(cal)
        return scorer

    # -- scoring

    def score(self, X: pd.DataFrame | LeadColumns) -> np.ndarray:
        """Total points per row (float64), in row order (a block of rows at a time: the points
        of every rule for every row of 1.7M rows was a fresh array of 360 MB)."""
        rows = X if isinstance(X, LeadColumns) else _check_frame(X)
        return in_blocks(rows, lambda block: _total(self._points_by_rule(block)))

    def grade(self, points: ArrayLike) -> np.ndarray:
        """Grade letter per row (object array of 'A'..'D'): the best grade whose minimum is met."""
        return np.asarray(GRADE_LETTERS, dtype=object)[self.grade_codes(points)]

    def grade_codes(self, points: ArrayLike) -> NDArray[np.intp]:
        """As :meth:`grade`, as indices into :data:`GRADE_LETTERS`."""
        grades = self._fitted_rules().grades
        return first_met(np.asarray(points, dtype="float64"), (grades.A, grades.B, grades.C))

    def is_mql(self, points: ArrayLike) -> np.ndarray:
        """True where the points are at or above the MQL threshold."""
        return np.asarray(points, dtype="float64") >= self._fitted_rules().mql_threshold

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated P(won) per row (1-d), from the isotonic fit of labels on points."""
        self._fitted_rules()
        if self.calibrator_ is None:
            raise ModelError(
                "RuleScorer was fitted without labels, so it has no calibration; "
                "call fit(X, y) to use predict_proba"
            )
        return self.calibrator_.apply(self.score(X))

    def explain(self, X: pd.DataFrame | LeadColumns) -> list[list[RuleHit]]:
        """Per row, the rules that fired with their points, largest in size first."""
        return self._hits(self._points_by_rule(X))

    def score_and_explain(
        self, X: pd.DataFrame | LeadColumns
    ) -> tuple[np.ndarray, list[list[RuleHit]]]:
        """:meth:`score` and :meth:`explain` from one pass over the rules."""
        by_rule = self._points_by_rule(X)
        return _total(by_rule), self._hits(by_rule)

    def score_and_format(self, X: pd.DataFrame | LeadColumns) -> tuple[np.ndarray, Coded]:
        """:meth:`score`, and per row :meth:`format_hits` of :meth:`explain` (as codes into
        the distinct texts), from one pass over the rules.

        Each distinct text is formatted once: rows whose rules print the same points in the
        same order share it, so a million leads cost about as much as their distinct texts.
        The points of many rows are worked out :data:`RULE_CHUNK_ROWS` rows at a time.
        """
        columns = X if isinstance(X, LeadColumns) else LeadColumns.of(_check_frame(X))
        n_rows = columns.n_rows
        if not self._fitted_rules().rules:  # no rule reads this data: no points, no hits
            return np.zeros(n_rows), Coded(np.zeros(n_rows, dtype=np.intp), [""])
        if n_rows <= SMALL_ROWS:  # row by row
            by_rule = self._points_by_rule(columns)
            texts = [self.format_hits(hits) for hits in self._hits(by_rule)]
            return _total(by_rule), Coded(np.arange(n_rows, dtype=np.intp), texts)
        constant = np.array([rule.points is not None and not rule.decays
                             for rule in self._fitted_rules().rules])  # fmt: skip
        total = np.empty(n_rows, dtype="float64")
        codes = [np.empty(n_rows, dtype=np.int8 if c else np.int64) for c in constant.tolist()]
        printed: list[dict[str, int]] = [{} for _ in codes]  # shared by the chunks
        for start in range(0, n_rows, RULE_CHUNK_ROWS):
            stop = min(start + RULE_CHUNK_ROWS, n_rows)
            by_rule = self._points_by_rule(columns.rows(start, stop))
            total[start:stop] = _total(by_rule)
            for k, (code, points) in enumerate(zip(codes, by_rule, strict=True)):
                code[start:stop] = _printed_codes(points, constant=bool(constant[k]),
                                                  printed=printed[k])  # fmt: skip
        return total, self._hit_texts(columns, codes, constant)

    def _hits(self, by_rule: np.ndarray) -> list[list[RuleHit]]:
        rules = self._fitted_rules().rules
        # Sort every row's rules at once; then each row only reads its leading hits.
        order = np.argsort(-np.abs(by_rule), axis=0, kind="stable")
        ranked = np.take_along_axis(by_rule, order, axis=0)
        n_fired = np.count_nonzero(by_rule, axis=0)
        made: dict[tuple[int, float], RuleHit] = {}  # equal hits share one frozen object
        out: list[list[RuleHit]] = []
        for row, count in enumerate(n_fired.tolist()):
            hits = []
            for k, points in zip(
                order[:count, row].tolist(), ranked[:count, row].tolist(), strict=True
            ):
                hit = made.get((k, points))
                if hit is None:
                    hit = made[(k, points)] = RuleHit(rules[k].name, rules[k].category, points)
                hits.append(hit)
            out.append(hits)
        return out

    def _hit_texts(
        self, columns: LeadColumns, codes: list[np.ndarray], constant: NDArray[np.bool_]
    ) -> Coded:
        """``format_hits`` of every row's hits, from each rule's printed codes of every row
        (:func:`_printed_codes`): the rows are grouped by their codes, and the texts of the
        groups' first rows formatted (their points worked out again, row by row the same)."""

        def points_of(rows: NDArray[np.intp]) -> np.ndarray:
            return self._points_by_rule(columns.take(rows))

        group, first = _row_groups(codes)
        firsts = points_of(first)
        order = np.argsort(-np.abs(firsts), axis=0, kind="stable")
        texts = self._joined_hits(firsts, np.stack([c[first] for c in codes]), order)
        # Rows with the same printed points list their hits in the same order, unless two of
        # them print alike but differ in fact (4.96 and 5 both print "+5"): check every row
        # against its group's first row, and group the rows that differ by their own order.
        differ, rest = _order_differs(group, firsts, order, constant, points_of)
        if differ.size:
            rest_codes = [c[differ] for c in codes]
            rest_order = np.argsort(-np.abs(rest), axis=0, kind="stable")
            rest_group, rest_first = _row_groups(rest_codes + list(rest_order))
            group[differ] = len(texts) + rest_group
            texts += self._joined_hits(rest[:, rest_first],
                                       np.stack([c[rest_first] for c in rest_codes]),
                                       rest_order[:, rest_first])  # fmt: skip
        return Coded(group, texts)

    def _joined_hits(self, by_rule: np.ndarray, codes: np.ndarray, order: np.ndarray) -> list[str]:
        """``format_hits`` per column of ``by_rule`` (n_rules, m), given the columns' printed
        codes (:func:`_printed_codes`) and rule order (as :meth:`_hits` sorts): each distinct
        (rule, printed points) is formatted once, and Arrow joins them."""
        names = [rule.name for rule in self._fitted_rules().rules]
        fired = np.count_nonzero(by_rule, axis=0)
        width = int(fired.max(initial=0))
        taken = (np.arange(width)[:, None] < fired).T  # (m, width): the hits of each column
        rule_at = order[:width].T[taken]  # column by column, largest hit first
        code_at = np.take_along_axis(codes, order[:width], axis=0).T[taken]
        points_at = np.take_along_axis(by_rule, order[:width], axis=0).T[taken]
        piece, keys = pd.factorize(code_at.astype(np.int64) * len(names) + rule_at)
        first = np.empty(len(keys), dtype=np.intp)
        first[piece[::-1]] = np.arange(len(piece), dtype=np.intp)[::-1]
        pieces = [f"{names[k]} {_format_points(p)}"
                  for k, p in zip(rule_at[first].tolist(), points_at[first].tolist(), strict=True)]  # fmt: skip
        offsets = np.concatenate([[0], np.cumsum(fired)]).astype(np.int64)
        values = pa.array(pieces, type=pa.large_string()).take(pa.array(piece))
        lists = pa.LargeListArray.from_arrays(pa.array(offsets), values)
        joined = pc.binary_join(lists, pa.scalar("; ", type=pa.large_string()))
        return [str(text) for text in joined.to_pylist()]

    @staticmethod
    def format_hits(hits: Sequence[RuleHit]) -> str:
        """``"Senior title (C-level or VP) +15; Free email domain -5"`` (one decimal at most)."""
        return "; ".join(f"{hit.name} {_format_points(hit.points)}" for hit in hits)

    # -- internals

    def _fitted_rules(self) -> RulesConfig:
        config: RulesConfig | None = getattr(self, "rules_", None)
        if config is None:
            raise ModelError("RuleScorer is not fitted; call fit(X) first")
        return config

    def _targets(self) -> list[_Targets | None]:
        """Per rule, what an ``in``/``equals`` condition matches (built once, not pickled)."""
        targets: list[_Targets | None] | None = self.__dict__.get("_targets_cache")
        if targets is None:
            targets = [_Targets.of(rule) for rule in self._fitted_rules().rules]
            self._targets_cache = targets
        return targets

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_targets_cache", None)  # derived from rules_; rebuilt on first use
        return state

    def _points_by_rule(self, X: pd.DataFrame | LeadColumns) -> np.ndarray:
        """Points of every rule for every row: shape (n_rules, n_rows), decay applied."""
        config = self._fitted_rules()
        columns = X if isinstance(X, LeadColumns) else LeadColumns.of(_check_frame(X))
        required = [f for f in self.feature_names_
                    if f not in DERIVED_SOURCES and not _is_engagement(f)]  # fmt: skip
        if config.decay is not None:
            required.append(AGE_FEATURE)
        missing = [c for c in required if c not in columns]
        if missing:
            raise MissingColumnsError(LEAD_ROWS, required, missing)

        reads = [*self.feature_names_, *([AGE_FEATURE] if config.decay is not None else [])]
        features = _Features(columns, reads)
        fade = None
        if config.decay is not None:
            age = np.maximum(nan_to_zero(features.numbers(AGE_FEATURE)), 0.0)  # clip(0, None)
            fade = 0.5 ** (age / config.decay.half_life_days)

        out = np.zeros((len(config.rules), columns.n_rows), dtype="float64")
        for k, (rule, targets) in enumerate(zip(config.rules, self._targets(), strict=True)):
            points = _rule_points(rule, targets, features)
            if rule.decays and fade is not None:
                np.multiply(points, fade, out=out[k])
            else:
                out[k] = points
        return out


def _is_engagement(feature: str) -> bool:
    """Engagement columns may be absent from lead rows (no events: zero counts)."""
    return bool(re_engagement.search(feature))


def _total(by_rule: np.ndarray) -> np.ndarray:
    """Every row's points summed rule after rule, in the file's order, however many rows.
    Not ``sum(axis=0)``: numpy sums the rules of a lone row pairwise but a batch's rule after
    rule, so a lead scored alone would differ in the last bits from the same lead in a batch."""
    total = np.zeros(by_rule.shape[1], dtype="float64")
    for points in by_rule:
        total += points
    return total


def first_met(values: NDArray[np.float64], minimums: Sequence[float]) -> NDArray[np.intp]:
    """Per value, the index of the first of ``minimums`` it reaches (``>=``), else
    ``len(minimums)``: grades or tiers from their minimums, best first."""
    out = np.full(len(values), len(minimums), dtype=np.intp)
    for i in range(len(minimums) - 1, -1, -1):  # the best met overwrites the others
        out[values >= minimums[i]] = i
    return out


def _format_points(points: float) -> str:
    text = f"{points:+.1f}"
    return text[:-2] if text.endswith(".0") else text


def _check_frame(X: object) -> pd.DataFrame:
    if not isinstance(X, pd.DataFrame):
        raise ModelError(
            f"RuleScorer expects lead rows as a pandas DataFrame, got {type(X).__name__}"
        )
    return X


def _check_target(y: ArrayLike, n_rows: int) -> np.ndarray:
    target = np.asarray(y, dtype="float64").ravel()
    if target.shape[0] != n_rows:
        raise ModelError(f"y must have one label per row of X ({n_rows}), got {target.shape[0]}")
    bad = ~np.isin(target, (0.0, 1.0))
    if bad.any():
        raise ModelError(
            f"y must be 0/1 (won = 1), got {int(bad.sum())} other values, "
            f"e.g. {target[bad][:5].tolist()}"
        )
    return target


# --------------------------------------------------------------------------- conditions


@dataclass(frozen=True)
class _Targets:
    """What an ``in`` or ``equals`` condition matches: comparison keys, and the numbers."""

    keys: frozenset[tuple[str, object]]
    numbers: np.ndarray

    @classmethod
    def of(cls, rule: Rule) -> _Targets | None:
        if rule.in_ is None and rule.equals is None:
            return None
        targets = rule.in_ if rule.in_ is not None else [rule.equals]
        keys: frozenset[tuple[str, object]] = frozenset().union(*(_keys(t) for t in targets))
        numbers = np.asarray([key for kind, key in keys if kind == "number"], dtype="float64")
        return cls(keys, numbers)


class _Features:
    """The features of one scoring call, each read once: numeric ones as float64, others
    coded.

    Conditions on coded features are evaluated once per distinct value and spread back by
    code, so scoring never loops over rows in Python. Derived features absent from the rows
    come from :func:`~features._attributes.derive_columns` (itself per distinct value).
    """

    def __init__(self, columns: LeadColumns, features: Iterable[str]) -> None:
        self.n_rows = columns.n_rows
        wanted = list(dict.fromkeys(features))
        to_derive = [f for f in wanted if f not in columns and f in DERIVED_SOURCES]
        if to_derive:
            columns = columns.with_columns(derive_columns(columns, to_derive))
        self._columns = columns
        self._read: dict[str, np.ndarray | Coded | None] = {}
        self._numbers: dict[str, np.ndarray] = {}
        self._keys: dict[str, list[frozenset[tuple[str, object]]]] = {}

    def _data(self, feature: str) -> np.ndarray | Coded | None:
        """None for an engagement column the rows lack (all missing)."""
        if feature not in self._read:
            columns = self._columns
            self._read[feature] = (
                None
                if feature not in columns
                else columns.floats(feature)
                if columns.is_numeric(feature)
                else columns.coded(feature)
            )
        return self._read[feature]

    def numbers(self, feature: str) -> np.ndarray:
        """The feature as float64 (bools as 0/1; missing or unreadable as NaN)."""
        if feature not in self._numbers:
            data = self._data(feature)
            if data is None:
                out = np.full(self.n_rows, np.nan)
            elif isinstance(data, Coded):
                out = data.map(_to_number, math.nan, "float64")
            else:
                out = data
            self._numbers[feature] = out
        return self._numbers[feature]

    def matches(self, feature: str, targets: _Targets) -> np.ndarray:
        """True where the value equals any target (text ignoring case, numbers numerically)."""
        data = self._data(feature)
        if isinstance(data, Coded):
            keys = self._keys.get(feature)
            if keys is None:
                keys = self._keys[feature] = [_value_keys(v) for v in data.values]
            hit = np.array([not targets.keys.isdisjoint(k) for k in keys] + [False], dtype=bool)
            return hit[data.codes]
        numbers = self.numbers(feature)
        out = np.zeros(len(numbers), dtype=bool)
        for target in targets.numbers.tolist():  # np.isin's test, without its overhead
            out |= numbers == target
        return out


def _rule_points(rule: Rule, targets: _Targets | None, features: _Features) -> np.ndarray:
    """The points ``rule`` gives each row, before decay."""
    if rule.points_each is not None:
        points = np.maximum(nan_to_zero(features.numbers(rule.feature)), 0.0)  # clip(0, None)
        points *= rule.points_each
        if rule.max_points is not None:  # clip(-max_points, max_points)
            np.maximum(points, -rule.max_points, out=points)
            np.minimum(points, rule.max_points, out=points)
        return points
    assert rule.points is not None  # guaranteed by Rule validation
    if rule.at_least is not None:
        fired = features.numbers(rule.feature) >= rule.at_least
    elif rule.below is not None:
        fired = features.numbers(rule.feature) < rule.below
    else:
        assert targets is not None  # an in/equals rule
        fired = features.matches(rule.feature, targets)
    return np.where(fired, rule.points, 0.0)


# --------------------------------------------------------------------------- hit texts


def _printed_codes(
    points: np.ndarray, *, constant: bool, printed: dict[str, int] | None = None
) -> np.ndarray:
    """One rule's points per row as codes: 0 where the rule did not fire, and equal codes
    exactly where :func:`_format_points` prints equal texts. ``constant``: the rule gives the
    same points whenever it fires (then whether it fired is the code). ``printed`` numbers
    the texts printed to decide (pass the same dict for every chunk of one column)."""
    fired = points != 0
    if constant or not fired.any():
        return fired.view(np.int8)
    # f"{p:+.1f}" rounds the exact value of p: rint(p * 10) agrees unless p * 10 is within
    # its rounding error (below 1e-6 up to 2**31) of a half. Those few are printed to decide.
    with np.errstate(over="ignore", invalid="ignore"):  # huge, infinite or NaN points
        tenths = points * 10.0
        rounded = np.rint(tenths)
        if np.abs(tenths).max(initial=0.0) < 2.0**31:
            near_half = np.abs(tenths - rounded) > 0.5 - 1e-6
        else:  # a bound per value (NaN and infinite values count as near)
            bound = 0.5 - 1e-9 * np.maximum(1.0, np.abs(tenths))
            near_half = ~(np.abs(tenths - rounded) <= bound)
    rounded[near_half] = 0.0
    # 4 * rounded tenths + the sign (-1, 0, 1): "-0" is not "+0", and 0 is "did not fire"
    rounded *= 4.0
    rounded += points > 0
    rounded -= points < 0
    codes = rounded.astype(np.int64)
    odd = np.flatnonzero(near_half & fired)
    if odd.size:  # codes beyond the others (4 * 2**31), one per printed text
        texts = printed if printed is not None else {}
        codes[odd] = [2**34 + texts.setdefault(_format_points(p), len(texts))
                      for p in points[odd].tolist()]  # fmt: skip
    return codes


def _row_groups(codes: Sequence[np.ndarray]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Group rows by equal codes in every one of ``codes`` (arrays of one code per row):
    each row's group (numbered in order of first appearance) and each group's first row."""
    n_rows = len(codes[0]) if codes else 0
    key = np.zeros(n_rows, dtype=np.int64)
    span = 1  # key < span
    for code in codes:
        low, high = (int(code.min()), int(code.max())) if n_rows else (0, 0)
        radix = high - low + 1
        if radix == 1:
            continue
        dense: np.ndarray = code.astype(np.int64) - low
        if radix > 2**31:
            dense, uniques = pd.factorize(code)
            radix = len(uniques)
        if span * radix > 2**62:  # the mixed-radix key would overflow: renumber it densely
            key, uniques = pd.factorize(key)
            span = len(uniques)
        key = key * radix + dense
        span *= radix
    group, uniques = pd.factorize(key)
    first = np.empty(len(uniques), dtype=np.intp)
    first[group[::-1]] = np.arange(n_rows, dtype=np.intp)[::-1]
    return np.asarray(group, dtype=np.intp), first


def _order_differs(
    group: NDArray[np.intp],
    firsts: np.ndarray,
    order: np.ndarray,
    constant: NDArray[np.bool_],
    points_of: Callable[[NDArray[np.intp]], np.ndarray],
) -> tuple[NDArray[np.intp], np.ndarray]:
    """The rows whose hits, sorted as :meth:`RuleScorer._hits` sorts them (size descending,
    then rule order), are not in the order of their group's first row, and their points.
    ``firsts`` holds the points of every group's first row (n_rules, n_groups) and ``order``
    its sorted rules; ``constant`` says, per rule, whether it gives the same points whenever
    it fires; ``points_of(rows)`` works out the points of some rows.

    Rows of a group print the same points, so only neighbouring hits whose sizes print alike
    (within a rounding) may swap, and not two constant ones: only those pairs are checked.
    """
    fired = np.count_nonzero(firsts, axis=0)
    width = int(fired.max(initial=0))
    none = np.zeros(0, dtype=np.intp)
    if width < 2:
        return none, firsts[:, :0]
    with np.errstate(over="ignore", invalid="ignore"):  # huge, infinite or NaN points
        tenths = np.rint(np.abs(np.take_along_axis(firsts, order[:width], axis=0)) * 10.0)
        close = ~(tenths[:-1] - tenths[1:] > 2.0)  # printed sizes 0.2 or less apart (or NaN)
    check = (
        close
        & ~(constant[order[: width - 1]] & constant[order[1:width]])
        & (np.arange(1, width)[:, None] < fired)  # both are hits
    )  # (position i of the pair i, i + 1; group)
    rows = np.flatnonzero(check.any(axis=0)[group])
    if not rows.size:
        return none, firsts[:, :0]
    points = points_of(rows)
    at_row = np.arange(len(rows))
    differs = np.zeros(len(rows), dtype=bool)
    for i in np.flatnonzero(check.any(axis=1)).tolist():
        at = at_row[check[i, group[rows]]]
        g = group[rows[at]]
        a, b = order[i, g], order[i + 1, g]
        size_a, size_b = np.abs(points[a, at]), np.abs(points[b, at])
        differs[at] |= (size_a < size_b) | ((size_a == size_b) & (a > b))
    return rows[differs], points[:, differs]


_TRUE_FALSE = {"true": 1.0, "false": 0.0}


def _keys(value: object) -> set[tuple[str, object]]:
    """Comparison keys: ('text', casefolded) for text, ('number', float) for numbers and bools.

    Text that reads as a number or as true/false also gets a number key, so "1" matches 1.
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return set()
    if isinstance(value, bool | np.bool_ | int | float | np.integer | np.floating):
        number = float(value)
        return set() if math.isnan(number) else {("number", number)}
    text = str(value).strip().casefold()
    keys: set[tuple[str, object]] = {("text", text)}
    if text in _TRUE_FALSE:
        keys.add(("number", _TRUE_FALSE[text]))
    else:
        try:
            number = float(text)
        except ValueError:
            pass
        else:
            if not math.isnan(number):
                keys.add(("number", number))
    return keys


def _value_keys(value: object) -> frozenset[tuple[str, object]]:
    """:func:`_keys` of a column value, remembered for text (the usual values)."""
    if isinstance(value, str):
        return _text_keys(value)
    return frozenset(_keys(value))


@lru_cache(maxsize=4096)
def _text_keys(value: str) -> frozenset[tuple[str, object]]:
    return frozenset(_keys(value))


def _to_number(value: object) -> float:
    numbers = [key for kind, key in _value_keys(value) if kind == "number"]
    return float(numbers[0]) if numbers else math.nan  # type: ignore[arg-type]
