"""Drift: how the latest rows differ from the rows a model was fitted on.

Contract:

* :func:`reference_profile` summarises labelled rows as JSON-ready data (kept in the model's
  bundle, so a later comparison measures drift against what the model learned from): the
  base rate and, for every model feature of the spec (derived attributes included), its
  kind, its bins (numeric: up to 10 quantile bins of the values present, plus missing;
  categorical: the 30 most frequent values, the rest as one, missing as one) with each
  bin's share of rows and won rate, its range (numeric), and its single-column ROC AUC
  against the label (numeric: higher values rank higher, missing lowest; categorical: each
  value scored by its won rate in these rows).
* :func:`drift` measures latest labelled rows against a profile and returns a
  :class:`DriftReport`: per feature the population stability index
  ``PSI = sum((latest share - reference share) * ln(latest share / reference share))`` over
  the reference bins (shares floored at 0.0001), the share of latest rows outside the
  reference range (numeric) or holding a value the reference never saw (categorical), and
  the single-column ROC AUC on the latest rows scored the reference's way (categorical
  values by their reference won rates); and the base rate then and now with a
  two-proportion z statistic. Neither input is changed.
* :meth:`DriftReport.sentences` says what moved: the base rate when ``|z| >= 3``; features
  with PSI of at least 0.25 (major) or 0.10 (moderate); features whose relation to the
  outcome changed (their ROC AUC moved by 0.10 or more, or flipped across 0.5 by at least
  0.05 on each side); and *clocks*, numeric features outside the training range in at least
  25% of the latest rows: columns a user might drop, since a value never seen in training is
  the edge of the tree (or a linear extrapolation) and says when a lead arrived, not who it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from leadscore.features import derive_attributes
from leadscore.features._spec import FeatureSpec
from leadscore.training._leakage import auc_by_counting
from numpy.typing import ArrayLike, NDArray

PROFILE_VERSION = 1
NUMERIC_BINS = 10
TOP_CATEGORIES = 30
FLOOR = 1e-4
PSI_MODERATE = 0.10
PSI_MAJOR = 0.25
RELATION_MOVE = 0.10
CLOCK_SHARE = 0.25
BASE_RATE_Z = 3.0
_OTHER = "(other)"
_MISSING = "(missing)"


def _auc(y: NDArray[np.float64], score: ArrayLike) -> float:
    """ROC AUC (ties one half); NaN without both classes. Counted per distinct value
    (:func:`training._leakage.auc_by_counting`): the rank-sum formula's number, without
    ranking every row of every feature."""
    return auc_by_counting(y > 0.5, np.asarray(score, dtype="float64"))


def _features(rows: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """The rows with the spec's derived attributes (a new frame)."""
    wanted = [d for d in spec.derived_features() if d not in rows.columns]
    return derive_attributes(rows) if wanted else rows


def _numbers(values: pd.Series) -> NDArray[np.float64]:
    out = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return np.where(np.isfinite(out), out, np.nan)


def _key_codes(values: pd.Series) -> tuple[NDArray[np.intp], list[str]]:
    """Each row's code into the distinct keys of ``values`` (a value's text, missing values
    ``(missing)``), and those keys: one text per distinct value, not per row."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    texts = np.array([*(str(u) for u in uniques), _MISSING], dtype=object)
    merged, keys = pd.factorize(texts)  # 1 and "1" are one key, as their texts are
    return merged[codes], [str(k) for k in keys]  # code -1 (missing) reads the last text


def _key_table(codes: NDArray[np.intp], keys: list[str], y: NDArray[np.float64]
               ) -> tuple[NDArray[np.intp], NDArray[np.float64]]:  # fmt: skip
    """Rows and won rows per key."""
    sizes: NDArray[np.intp] = np.bincount(codes, minlength=len(keys))
    wins = np.bincount(codes, weights=y, minlength=len(keys)).astype("float64", copy=False)
    return sizes, wins


def reference_profile(rows: pd.DataFrame, spec: FeatureSpec) -> dict[str, Any]:
    """The profile of labelled ``rows`` (see the module docstring)."""
    frame = _features(rows, spec)
    y = frame["label"].to_numpy(dtype="float64")
    cats = set(spec.categorical_features())
    features: dict[str, Any] = {}
    for name in spec.model_features():
        if name not in frame.columns:
            continue
        if name in cats:
            codes, keys = _key_codes(frame[name])
            sizes, wins = _key_table(codes, keys, y)  # y is 0/1: the sums are exact
            by_size = sorted(range(len(keys)), key=lambda k: (-sizes[k], keys[k]))
            top_at = [k for k in by_size[:TOP_CATEGORIES] if keys[k] != _MISSING]
            top = [keys[k] for k in top_at]
            share = {keys[k]: int(sizes[k]) / len(y) for k in top_at}
            rate = {keys[k]: float(wins[k] / sizes[k]) for k in top_at}
            at_missing = keys.index(_MISSING) if _MISSING in keys else None
            missing = float(sizes[at_missing] / len(y)) if at_missing is not None else 0.0
            is_other = np.ones(len(keys), dtype=bool)
            is_other[top_at] = False
            if at_missing is not None:
                is_other[at_missing] = False
            overall = float(y.mean()) if len(y) else math.nan
            n_other = int(sizes[is_other].sum())
            rest = float(wins[is_other].sum() / n_other) if n_other else overall
            miss_rate = float(wins[at_missing] / sizes[at_missing]) if missing else overall
            per_key = np.full(len(keys), rest)
            per_key[top_at] = [rate[k] for k in top]
            if at_missing is not None:
                per_key[at_missing] = miss_rate
            score = per_key[codes]
            other_mask = is_other[codes]
            features[name] = {"kind": "categorical", "categories": share, "won_rate": rate,
                              "other": float(other_mask.mean()), "other_rate": rest,
                              "missing": missing, "missing_rate": miss_rate,
                              "auc": _json(_auc(y, score.astype("float64")))}  # fmt: skip
        else:
            x = _numbers(frame[name])
            present = x[~np.isnan(x)]
            if present.size:
                edges = np.unique(np.quantile(present, np.linspace(0, 1, NUMERIC_BINS + 1)[1:-1]))
            else:
                edges = np.empty(0)
            shares = _numeric_shares(x, edges)
            score = np.where(np.isnan(x), -np.inf, x).astype("float64")
            features[name] = {"kind": "numeric", "edges": [float(e) for e in edges],
                              "shares": shares, "missing": float(np.isnan(x).mean()),
                              "min": _json(float(present.min())) if present.size else None,
                              "max": _json(float(present.max())) if present.size else None,
                              "auc": _json(_auc(y, score))}  # fmt: skip
    return {"version": PROFILE_VERSION, "rows": len(y),
            "base_rate": float(y.mean()) if len(y) else None, "features": features}  # fmt: skip


def _numeric_shares(x: NDArray[np.float64], edges: NDArray[np.float64]) -> list[float]:
    """Shares of rows per bin (``len(edges) + 1`` bins of values present), then missing."""
    n = max(len(x), 1)
    present = x[~np.isnan(x)]
    counts = np.bincount(np.searchsorted(edges, present, side="right"), minlength=len(edges) + 1)
    return [float(c / n) for c in counts] + [float(np.isnan(x).sum() / n)]


def _json(value: float) -> float | None:
    return None if math.isnan(value) else value


def _psi(reference: list[float], latest: list[float]) -> float:
    e = np.maximum(np.asarray(reference, dtype="float64"), FLOOR)
    a = np.maximum(np.asarray(latest, dtype="float64"), FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class FeatureDrift:
    """One feature: its PSI, how much of the latest rows is out of range or unseen, and its
    single-column ROC AUC then and now."""

    feature: str
    kind: str
    psi: float
    outside: float  # share of latest rows outside the range (numeric) or unseen (categorical)
    auc_then: float
    auc_now: float

    @property
    def relation_changed(self) -> bool:
        """The feature's relation to the outcome moved (see the module docstring)."""
        if math.isnan(self.auc_then) or math.isnan(self.auc_now):
            return False
        flipped = (self.auc_then - 0.5) * (self.auc_now - 0.5) < 0 and min(
            abs(self.auc_then - 0.5), abs(self.auc_now - 0.5)) >= 0.05  # fmt: skip
        return flipped or abs(self.auc_now - self.auc_then) >= RELATION_MOVE

    @property
    def clock_like(self) -> bool:
        """Numeric and outside the training range in at least 25% of the latest rows."""
        return self.kind == "numeric" and self.outside >= CLOCK_SHARE


@dataclass(frozen=True)
class DriftReport:
    """Drift of the latest rows against a profile (see the module docstring)."""

    reference_rows: int
    latest_rows: int
    base_rate_then: float
    base_rate_now: float
    base_rate_z: float
    features: tuple[FeatureDrift, ...]  # largest PSI first
    reference_name: str = "training rows"
    latest_name: str = "latest rows"

    @property
    def base_rate_moved(self) -> bool:
        """Whether the base rate moved beyond chance (|z| >= 3)."""
        return abs(self.base_rate_z) >= BASE_RATE_Z

    def clocks(self) -> list[FeatureDrift]:
        """Features that behave like clocks (see :attr:`FeatureDrift.clock_like`)."""
        return [f for f in self.features if f.clock_like]

    def sentences(self, top: int = 5) -> list[str]:
        """What moved, in words."""
        then, now = self.base_rate_then, self.base_rate_now
        rate = (f"base rate {then:.2%} in the {self.reference_rows:,} {self.reference_name}, "
                f"{now:.2%} in the {self.latest_rows:,} {self.latest_name} "
                f"(z = {self.base_rate_z:+.1f})")  # fmt: skip
        out = [f"Base rate moved: {rate}." if self.base_rate_moved else
               f"Base rate steady: {rate}."]  # fmt: skip
        major = [f for f in self.features if f.psi >= PSI_MAJOR]
        moderate = [f for f in self.features if PSI_MODERATE <= f.psi < PSI_MAJOR]
        for words, found in (("Major shift (PSI >= 0.25)", major),
                             ("Moderate shift (PSI 0.10-0.25)", moderate)):  # fmt: skip
            if found:
                shown = ", ".join(f"{f.feature} {f.psi:.2f}" for f in found[:top])
                more = f" and {len(found) - top} more" if len(found) > top else ""
                out.append(f"{words}: {shown}{more}.")
        if not major and not moderate:
            out.append("No feature shifted (every PSI below 0.10).")
        changed = [f for f in self.features if f.relation_changed]
        if changed:
            out.append("Relation to the outcome changed (single-column ROC AUC then -> now): "
                       + ", ".join(f"{f.feature} {f.auc_then:.2f} -> {f.auc_now:.2f}"
                                   for f in changed[:top]) + ".")  # fmt: skip
        clocks = self.clocks()
        if clocks:
            out.append("Clock-like columns you might drop (exclude them in the contract): "
                       + "; ".join(f"{f.feature}: values outside the training range in "
                                   f"{f.outside:.0%} of the {self.latest_name}" for f in clocks)
                       + ".")  # fmt: skip
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (MLflow, the report)."""
        return {
            "reference_rows": self.reference_rows, "latest_rows": self.latest_rows,
            "base_rate_then": self.base_rate_then, "base_rate_now": self.base_rate_now,
            "base_rate_z": self.base_rate_z, "base_rate_moved": self.base_rate_moved,
            "features": [{"feature": f.feature, "kind": f.kind, "psi": f.psi,
                          "outside": f.outside, "auc_then": _json(f.auc_then),
                          "auc_now": _json(f.auc_now), "relation_changed": f.relation_changed,
                          "clock_like": f.clock_like} for f in self.features],
            "sentences": self.sentences(),
        }  # fmt: skip


def drift(profile: dict[str, Any], latest: pd.DataFrame, spec: FeatureSpec, *,
          reference_name: str = "training rows", latest_name: str = "latest rows") -> DriftReport:
    """The drift of labelled ``latest`` rows against ``profile`` (see the module docstring);
    the names say what the two sets of rows are in the sentences."""
    frame = _features(latest, spec)
    y = frame["label"].to_numpy(dtype="float64")
    out = []
    for name, ref in profile["features"].items():
        if name not in frame.columns:
            continue
        if ref["kind"] == "categorical":
            codes, keys = _key_codes(frame[name])
            sizes = np.bincount(codes, minlength=len(keys))
            top = list(ref["categories"])
            n = max(len(codes), 1)
            count = {k: int(sizes[i]) for i, k in enumerate(keys)}
            shares = [float(count.get(k, 0) / n) for k in top]
            missing = float(count.get(_MISSING, 0) / n)
            known = {*top, _MISSING}
            unseen = np.array([k not in known for k in keys], dtype=bool)[codes]
            psi = _psi([*ref["categories"].values(), ref["other"], ref["missing"]],
                       [*shares, float(unseen.mean()) if len(codes) else 0.0, missing])  # fmt: skip
            rates = {**ref["won_rate"], _MISSING: ref["missing_rate"]}
            per_key = np.array([rates.get(k, ref["other_rate"]) for k in keys], dtype="float64")
            score = per_key[codes]
            outside = float(unseen.mean()) if len(codes) else 0.0
        else:
            x = _numbers(frame[name])
            psi = _psi(ref["shares"], _numeric_shares(x, np.asarray(ref["edges"], dtype="float64")))
            low, high = ref["min"], ref["max"]
            present = ~np.isnan(x)
            out_of_range = present & ((x < low) | (x > high)) if low is not None else present
            outside = float(out_of_range.mean()) if len(x) else 0.0
            score = np.where(np.isnan(x), -np.inf, x).astype("float64")
        auc_then = ref["auc"] if ref["auc"] is not None else math.nan
        out.append(FeatureDrift(name, ref["kind"], psi, outside, float(auc_then), _auc(y, score)))
    out.sort(key=lambda f: (-f.psi, f.feature))
    then = float(profile["base_rate"]) if profile.get("base_rate") is not None else math.nan
    now = float(y.mean()) if len(y) else math.nan
    n1, n2 = int(profile["rows"]), len(y)
    pooled = (then * n1 + now * n2) / (n1 + n2) if n1 + n2 else math.nan
    se = math.sqrt(pooled * (1 - pooled) * (1 / max(n1, 1) + 1 / max(n2, 1))) if 0 < pooled < 1 else 0.0
    z = (now - then) / se if se > 0 else 0.0
    return DriftReport(n1, n2, then, now, z, tuple(out), reference_name, latest_name)
