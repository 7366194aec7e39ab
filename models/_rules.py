"""The rule-based points score: a YAML rules file that marketing owns, applied to lead rows.

Contract:

- :func:`load_rules` reads a rules file (the packaged ``default_rules.yaml`` when no path
  is given) into a typed :class:`RulesConfig`. Anything wrong with the file (bad YAML, a
  duplicate key, an unknown key, a rule with no condition or two, duplicate rule names,
  grades out of order) raises :class:`~features._errors.ConfigError` naming the file, the
  rule (index and name) and the key.
- :class:`RuleScorer` takes *raw lead rows* (contact attributes, ``days_since_created``
  and the engagement columns of :mod:`features._definitions`) and returns one float of
  points per row, in the input order. It derives ``title_level``, ``company_size_band``,
  ``email_is_free`` ... itself (with :func:`~features._attributes.derive_attributes`) when
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
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import yaml
from numpy.typing import ArrayLike
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    ValidationError,
    model_validator,
)
from sklearn.isotonic import IsotonicRegression

from features._attributes import derive_attributes
from features._definitions import AGE_FEATURE, ENGAGEMENT_FEATURE_NAMES
from features._errors import ConfigError, DataValidationError, MissingColumnsError, ModelError

DEFAULT_RULES_FILE = "default_rules.yaml"
CONDITION_KEYS: tuple[str, ...] = ("in", "equals", "at_least", "below", "points_each")
GRADE_LETTERS: tuple[str, ...] = ("A", "B", "C", "D")
LEAD_ROWS = "lead rows"

# The columns derive_attributes adds, and the raw columns each is computed from.
# tests/test_rules.py checks this against derive_attributes itself.
DERIVED_SOURCES: dict[str, tuple[str, ...]] = {
    "title_level": ("title",),
    "title_function": ("title",),
    "company_size_band": ("company_size",),
    "email_is_free": ("email_domain",),
    "activity_trend": ("events_30d", "events_30_90d"),
}


# --------------------------------------------------------------------------- the file


def _check_value(value: object) -> bool | int | float | str:
    if isinstance(value, bool | int | float | str):
        return value
    raise ValueError(f"expected a text, a number or true/false, got {value!r}")


Value = Annotated[bool | int | float | str, PlainValidator(_check_value)]
"""A value a rule compares against: text (case-insensitive), a number, or true/false."""


class Rule(BaseModel):
    """One line of the points sheet: a condition on one feature and the points it gives."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    category: Literal["fit", "interest", "timeline", "borrowed_interest"]
    feature: str = Field(min_length=1)
    in_: list[Value] | None = Field(default=None, alias="in", min_length=1)
    equals: Value | None = None
    at_least: float | None = None
    below: float | None = None
    points_each: float | None = None
    points: float | None = None
    max_points: float | None = Field(default=None, gt=0)
    decays: bool = False

    @property
    def condition(self) -> str:
        """The condition key this rule uses (one of :data:`CONDITION_KEYS`)."""
        return self._conditions()[0]

    def _conditions(self) -> list[str]:
        values = (self.in_, self.equals, self.at_least, self.below, self.points_each)
        return [key for key, value in zip(CONDITION_KEYS, values, strict=True) if value is not None]

    @model_validator(mode="after")
    def _exactly_one_condition(self) -> Rule:
        conditions = self._conditions()
        allowed = ", ".join(CONDITION_KEYS)
        if not conditions:
            raise ValueError(f"no condition; give exactly one of {allowed}")
        if len(conditions) > 1:
            raise ValueError(
                f"{len(conditions)} conditions ({', '.join(conditions)}); "
                f"give exactly one of {allowed}"
            )
        if self.points_each is not None:
            if self.points is not None:
                raise ValueError(
                    "a count rule (points_each) takes no 'points'; the points are "
                    "points_each per unit, capped by max_points"
                )
            if self.points_each == 0:
                raise ValueError("points_each must not be 0")
        else:
            if self.points is None:
                raise ValueError(f"missing key 'points' (the points when '{conditions[0]}' holds)")
            if self.max_points is not None:
                raise ValueError("max_points only applies to count rules (points_each)")
        return self


class Decay(BaseModel):
    """Activity points fade with lead age.

    A decaying rule gives ``points * 0.5 ** (days_since_created / half_life_days)``.
    """

    model_config = ConfigDict(extra="forbid")

    half_life_days: float = Field(gt=0)


class Grades(BaseModel):
    """Minimum points for grades A, B and C; anything below C is D."""

    model_config = ConfigDict(extra="forbid")

    A: float
    B: float
    C: float

    @model_validator(mode="after")
    def _strictly_decreasing(self) -> Grades:
        if not self.A > self.B > self.C:
            raise ValueError(
                "must be strictly decreasing (A > B > C); "
                f"got A={self.A:g}, B={self.B:g}, C={self.C:g}"
            )
        return self


class RulesConfig(BaseModel):
    """A whole rules file: the rules, optional decay, grade bands and the MQL threshold."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1]
    rules: list[Rule] = Field(min_length=1)
    decay: Decay | None = None
    grades: Grades
    mql_threshold: float

    _source: str = PrivateAttr(default="<in-memory rules>")

    @property
    def source(self) -> str:
        """Where the rules came from (a file path), for error messages."""
        return self._source

    @model_validator(mode="after")
    def _names_unique_and_decay_declared(self) -> RulesConfig:
        seen: dict[str, int] = {}
        for index, rule in enumerate(self.rules):
            key = rule.name.strip().casefold()
            if key in seen:
                raise ValueError(
                    f"rules[{index}] ({rule.name!r}): duplicate rule name "
                    f"(also rules[{seen[key]}]); rule names must be unique"
                )
            seen[key] = index
            if rule.decays and self.decay is None:
                raise ValueError(
                    f"rules[{index}] ({rule.name!r}): 'decays' is true but the file has no "
                    "'decay' section (add decay: {half_life_days: ...} or remove 'decays')"
                )
        return self


@lru_cache(maxsize=1)
def _yaml_loader() -> type[yaml.SafeLoader]:
    """A safe loader where only true/false are booleans and duplicate keys are errors.

    Plain YAML 1.1 reads ``NO`` (Norway), ``yes`` and ``off`` as booleans, and silently
    keeps the last of two equal keys; both would hide a marketer's edit.
    """
    bool_tag = "tag:yaml.org,2002:bool"

    class RulesLoader(yaml.SafeLoader):
        def construct_mapping(
            self, node: yaml.MappingNode, deep: bool = False
        ) -> dict[Hashable, Any]:
            seen: set[object] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while reading a mapping",
                        node.start_mark,
                        f"found duplicate key {key!r}",
                        key_node.start_mark,
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    RulesLoader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != bool_tag]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    RulesLoader.add_implicit_resolver(
        bool_tag, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )
    return RulesLoader


def load_rules(path: str | Path | None = None) -> RulesConfig:
    """Read and validate a rules file; ``None`` reads the packaged default rules.

    Raises :class:`ConfigError` naming the file, the rule and the key on any problem.
    """
    if path is None:
        source = f"{DEFAULT_RULES_FILE} (packaged)"
        text = resources.files("models").joinpath(DEFAULT_RULES_FILE).read_text(encoding="utf-8")
    else:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"rules file {source!r}: cannot read it ({exc})") from exc
    return parse_rules(text, source)


def parse_rules(text: str, source: str = "<in-memory rules>") -> RulesConfig:
    """Validate rules given as YAML text; ``source`` names it in error messages."""
    try:
        data = yaml.load(text, Loader=_yaml_loader())  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise ConfigError(f"rules file {source!r}: not valid YAML: {detail}") from exc
    if not isinstance(data, dict):
        raise ConfigError(
            f"rules file {source!r}: expected a mapping with keys "
            f"{_allowed_keys(RulesConfig)}, got {type(data).__name__}"
        )
    try:
        config = RulesConfig.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(error, data) for error in exc.errors()]
        problems = list(dict.fromkeys(problems))
        if len(problems) == 1:
            raise ConfigError(f"rules file {source!r}: {problems[0]}") from None
        listing = "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(
            f"rules file {source!r} has {len(problems)} problems:\n{listing}"
        ) from None
    config._source = source
    return config


def _allowed_keys(model: type[BaseModel]) -> str:
    return ", ".join(field.alias or name for name, field in model.model_fields.items())


def _describe(error: Any, data: dict[str, Any]) -> str:
    """One readable line for one pydantic error: where (rule index and name), key, problem."""
    loc: tuple[int | str, ...] = tuple(error["loc"])
    where: list[str] = []
    model: type[BaseModel] = RulesConfig
    rest = loc
    if loc and loc[0] == "rules" and len(loc) >= 2 and isinstance(loc[1], int):
        index = loc[1]
        raw = data.get("rules")
        rule = raw[index] if isinstance(raw, list) and index < len(raw) else None
        name = rule.get("name") if isinstance(rule, dict) else None
        where.append(f"rules[{index}]" + (f" ({name!r})" if name is not None else ""))
        model, rest = Rule, loc[2:]
    elif loc and loc[0] in ("decay", "grades"):
        where.append(str(loc[0]))
        model, rest = (Decay if loc[0] == "decay" else Grades), loc[1:]

    kind = error["type"]
    key = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in rest)[1:]
    if kind == "extra_forbidden":
        problem = f"unknown key {rest[-1]!r} (allowed: {_allowed_keys(model)})"
    elif kind == "missing":
        problem = f"missing key {rest[-1]!r}"
    elif kind == "value_error" and "error" in error.get("ctx", {}):
        problem = str(error["ctx"]["error"])
        problem = f"{key!r}: {problem}" if key else problem
    else:
        message = error["msg"][0].lower() + error["msg"][1:]
        problem = f"{message}, got {error['input']!r}"
        problem = f"{key!r}: {problem}" if key else problem
    return ": ".join([*where, problem])


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

    def fit(self, X: pd.DataFrame, y: ArrayLike | None = None) -> RuleScorer:
        """Check the rules against ``X``'s columns; with ``y``, calibrate points to P(won)."""
        config = self.rules if isinstance(self.rules, RulesConfig) else load_rules(self.rules)
        frame = _check_frame(X)
        known = sorted(
            set(map(str, frame.columns)) | set(DERIVED_SOURCES) | set(ENGAGEMENT_FEATURE_NAMES)
        )
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
        self.feature_names_ = tuple(dict.fromkeys(rule.feature for rule in config.rules))
        self.calibrator_: IsotonicRegression | None = None
        if y is not None:
            target = _check_target(y, len(frame))
            points = self.score(frame)
            self.calibrator_ = IsotonicRegression(out_of_bounds="clip").fit(points, target)
        return self

    # -- scoring

    def score(self, X: pd.DataFrame) -> np.ndarray:
        """Total points per row (float64), in row order."""
        return self._points_by_rule(X).sum(axis=0)

    def grade(self, points: ArrayLike) -> np.ndarray:
        """Grade letter per row (object array of 'A'..'D'): the best grade whose minimum is met."""
        grades = self._fitted_rules().grades
        p = np.asarray(points, dtype="float64")
        letters = np.select([p >= grades.A, p >= grades.B, p >= grades.C], ["A", "B", "C"], "D")
        return letters.astype(object)

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
        return np.asarray(self.calibrator_.predict(self.score(X)), dtype="float64")

    def explain(self, X: pd.DataFrame) -> list[list[RuleHit]]:
        """Per row, the rules that fired with their points, largest in size first."""
        return self._hits(self._points_by_rule(X))

    def score_and_explain(self, X: pd.DataFrame) -> tuple[np.ndarray, list[list[RuleHit]]]:
        """:meth:`score` and :meth:`explain` from one pass over the rules."""
        by_rule = self._points_by_rule(X)
        return by_rule.sum(axis=0), self._hits(by_rule)

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

    def _points_by_rule(self, X: pd.DataFrame) -> np.ndarray:
        """Points of every rule for every row: shape (n_rules, n_rows), decay applied."""
        config = self._fitted_rules()
        frame = _check_frame(X)
        required = [
            f
            for f in self.feature_names_
            if f not in DERIVED_SOURCES and f not in ENGAGEMENT_FEATURE_NAMES
        ]
        if config.decay is not None:
            required.append(AGE_FEATURE)
        missing = [c for c in required if c not in frame.columns]
        if missing:
            raise MissingColumnsError(LEAD_ROWS, required, missing)

        reads = [*self.feature_names_, *([AGE_FEATURE] if config.decay is not None else [])]
        columns = _Columns(frame, reads)
        fade = None
        if config.decay is not None:
            age = np.clip(np.nan_to_num(columns.numbers(AGE_FEATURE), nan=0.0), 0.0, None)
            fade = 0.5 ** (age / config.decay.half_life_days)

        out = np.zeros((len(config.rules), len(frame)), dtype="float64")
        for k, rule in enumerate(config.rules):
            points = _rule_points(rule, columns)
            out[k] = points * fade if (rule.decays and fade is not None) else points
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
class _Coded:
    """A non-numeric column as codes into its distinct values (code -1: missing)."""

    codes: np.ndarray
    values: list[object]


class _Columns:
    """The features of one frame, each read once: numeric ones as float64, others coded.

    Conditions on coded columns are evaluated once per distinct value and spread back by
    code, so scoring never loops over rows in Python. Derived columns absent from the frame
    come from derive_attributes, computed on distinct raw values only.
    """

    def __init__(self, frame: pd.DataFrame, features: Iterable[str]) -> None:
        self.n_rows = len(frame)
        self._data: dict[str, np.ndarray | _Coded | None] = {}
        self._numbers: dict[str, np.ndarray] = {}
        wanted = list(dict.fromkeys(features))
        to_derive = [f for f in wanted if f not in frame.columns and f in DERIVED_SOURCES]
        derived = _derive(frame, to_derive)
        for feature in wanted:
            if feature in frame.columns:
                self._data[feature] = _read(frame[feature])
            else:  # derived, or an engagement column the rows lack (all missing)
                self._data[feature] = derived.get(feature)

    def numbers(self, feature: str) -> np.ndarray:
        """The feature as float64 (bools as 0/1; missing or unreadable as NaN)."""
        if feature not in self._numbers:
            data = self._data[feature]
            if data is None:
                out = np.full(self.n_rows, np.nan)
            elif isinstance(data, _Coded):
                table = np.array([_to_number(v) for v in data.values] + [math.nan], dtype="float64")
                out = table[data.codes]  # code -1 picks the trailing NaN
            else:
                out = data
            self._numbers[feature] = out
        return self._numbers[feature]

    def matches(self, feature: str, targets: Sequence[object]) -> np.ndarray:
        """True where the value equals any target (text ignoring case, numbers numerically)."""
        wanted: set[tuple[str, object]] = set().union(*(_keys(t) for t in targets))
        data = self._data[feature]
        if isinstance(data, _Coded):
            hit = np.array([bool(_keys(v) & wanted) for v in data.values] + [False], dtype=bool)
            return hit[data.codes]
        numbers = [key for kind, key in wanted if kind == "number"]
        return np.isin(self.numbers(feature), np.asarray(numbers, dtype="float64"))


def _read(series: pd.Series) -> np.ndarray | _Coded:
    if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
        return series.to_numpy(dtype="float64", na_value=np.nan)
    codes, uniques = pd.factorize(series)
    return _Coded(codes, list(np.asarray(uniques, dtype=object)))


def _derive(frame: pd.DataFrame, names: Sequence[str]) -> dict[str, np.ndarray | _Coded]:
    """The derived columns ``names`` of ``frame``, by derive_attributes on as few rows as possible.

    derive_attributes is row-wise, so a column derived from a single raw column is computed
    on that column's distinct values only (parsing every row's title would be slow).
    """
    out: dict[str, np.ndarray | _Coded] = {}
    groups: dict[tuple[str, ...], list[str]] = {}
    for name in names:
        groups.setdefault(DERIVED_SOURCES[name], []).append(name)
    for sources, group in groups.items():
        present = [s for s in sources if s in frame.columns]
        if len(present) == 1 and len(sources) == 1:
            codes, uniques = pd.factorize(frame[present[0]], use_na_sentinel=False)
            small = derive_attributes(pd.DataFrame({present[0]: np.asarray(uniques, dtype=object)}))
            for name in group:
                # Re-code by distinct derived value (10k company sizes are 7 bands).
                small_codes, values = pd.factorize(small[name].to_numpy(dtype=object))
                out[name] = _Coded(small_codes[codes], list(values))
        elif not present:  # derived from nothing: the same value on every row
            one = derive_attributes(pd.DataFrame(index=pd.RangeIndex(1)))
            for name in group:
                out[name] = _Coded(np.zeros(len(frame), dtype="intp"), [one[name].iloc[0]])
        else:
            full = derive_attributes(frame[present])
            for name in group:
                out[name] = _read(full[name])
    return out


def _rule_points(rule: Rule, columns: _Columns) -> np.ndarray:
    """The points ``rule`` gives each row, before decay."""
    if rule.points_each is not None:
        counts = np.clip(np.nan_to_num(columns.numbers(rule.feature), nan=0.0), 0.0, None)
        points = counts * rule.points_each
        if rule.max_points is not None:
            points = np.clip(points, -rule.max_points, rule.max_points)
        return points
    assert rule.points is not None  # guaranteed by Rule validation
    if rule.at_least is not None:
        fired = columns.numbers(rule.feature) >= rule.at_least
    elif rule.below is not None:
        fired = columns.numbers(rule.feature) < rule.below
    else:
        targets = rule.in_ if rule.in_ is not None else [rule.equals]
        fired = columns.matches(rule.feature, targets)
    return np.where(fired, rule.points, 0.0)


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


def _to_number(value: object) -> float:
    numbers = [key for kind, key in _keys(value) if kind == "number"]
    return float(numbers[0]) if numbers else math.nan  # type: ignore[arg-type]
