"""The rules file: the points sheet marketing owns, as a typed, strictly checked config.

Contract: :func:`load_rules` reads a rules file (the packaged ``default_rules.yaml`` when no
path is given) into a typed :class:`RulesConfig`. Anything wrong with the file (bad YAML, a
duplicate key, an unknown key, a rule with no condition or two, duplicate rule names, grades
out of order) raises :class:`~features._errors.ConfigError` naming the file, the rule (index
and name) and the key. :func:`parse_fitted` reads back a fitted scorer's saved sheet, which
may hold no rule (the packaged sheet on data with none of its features).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from leadscore.features._errors import ConfigError
from leadscore.features._yaml import load_yaml_mapping
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    ValidationError,
    model_validator,
)

DEFAULT_RULES_FILE = "default_rules.yaml"
CONDITION_KEYS: tuple[str, ...] = ("in", "equals", "at_least", "below", "points_each")


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
def load_rules(path: str | Path | None = None) -> RulesConfig:
    """Read and validate a rules file; ``None`` reads the packaged default rules.

    Raises :class:`ConfigError` naming the file, the rule and the key on any problem.
    """
    if path is None:
        source = f"{DEFAULT_RULES_FILE} (packaged)"
        text = resources.files("leadscore.models").joinpath(DEFAULT_RULES_FILE).read_text(encoding="utf-8")
    else:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"rules file {source!r}: cannot read it ({exc})") from exc
    return parse_rules(text, source)


def parse_rules(text: str, source: str = "<in-memory rules>") -> RulesConfig:
    """Validate rules given as YAML text; ``source`` names it in error messages."""
    data = load_yaml_mapping(text, f"rules file {source!r}", _allowed_keys(RulesConfig))
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



def parse_fitted(text: str, source: str) -> RulesConfig:
    """A saved, fitted sheet: it may hold no rule (the packaged sheet on data with none of
    its features), which a file a person writes may not."""
    import yaml

    data = yaml.safe_load(text)
    rules = data.get("rules") or []
    if rules:
        config = parse_rules(text, source)
    else:
        config = parse_rules(yaml.safe_dump({**data, "rules": [_PLACEHOLDER_RULE]}), source)
        config = config.model_copy(update={"rules": []})
    config._source = source
    return config


_PLACEHOLDER_RULE = {"name": "placeholder", "category": "fit", "feature": "x", "equals": 1,
                     "points": 0}  # fmt: skip


