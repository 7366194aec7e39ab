"""The promotion gate: a challenger becomes champion only if it is not worse where it counts.

The gate is data (:class:`PromotionGate`, pydantic, ``extra="forbid"``; defaults below or a
YAML file). :func:`promote` scores champion and challenger on the same rows of the latest
labelled quarter, evaluates every check, logs the inputs and the verdict to MLflow, and only
then moves the ``champion`` alias (or refuses, saying which checks failed and by how much;
``force`` moves it anyway, and the run records that it was forced).

The calibration check is relative to the base rate: the expected calibration error divided
by the rows' conversion rate (``max_relative_ece``), so a model predicting 0 for every lead
fails at any base rate (its ECE is the base rate itself: a ratio of 1) while a 0.002 error at
a 0.4% base rate is judged as the 50% error it is. ``max_ece`` (absolute) is optional.
``backtest_tolerance`` is what training allows a new version below the rules (or the team's
existing score) on the backtest before it declines to make it champion; the verdict is kept
with the version, and the gate checks it too (``backtest``), so a version the backtest does
not support never becomes champion without ``force``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import mlflow
import yaml
from leadscore.features import ConfigError, Warehouse
from leadscore.training._fitting import evaluation_rows
from leadscore.training._metrics import classification_metrics
from leadscore.training._registry import alias_version, load_bundle, set_champion
from leadscore.training._tracking import configure_tracking, ensure_experiment, start_run
from pydantic import BaseModel, ConfigDict, Field, ValidationError

log = logging.getLogger(__name__)


class PromotionGate(BaseModel):
    """Thresholds a challenger must meet on the latest quarter (same rows as the champion)."""

    model_config = ConfigDict(extra="forbid")

    max_roc_auc_drop: float = Field(
        default=0.005, ge=0, description="challenger AUC >= champion AUC - this"
    )
    max_captured_drop: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="challenger captured >= champion captured * (1 - this)",
    )
    max_relative_ece: float = Field(
        default=0.5, gt=0,
        description="challenger expected calibration error / the rows' base rate <= this",
    )
    max_ece: float | None = Field(
        default=None, gt=0,
        description="challenger expected calibration error <= this (absolute; off by default)",
    )
    backtest_tolerance: float = Field(
        default=0.01, ge=0, le=0.5,
        description="at training, a version becomes champion only if its mean backtest ROC AUC "
        "is at least the rules' (or existing score's) minus this",
    )  # fmt: skip


def load_gate(path: str | Path | None) -> PromotionGate:
    """The gate from a YAML file, or the defaults; errors name the file and the key."""
    if path is None:
        return PromotionGate()
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
        return PromotionGate.model_validate(data)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"gate file {str(path)!r}: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"gate file {str(path)!r}: {problems}") from exc


@dataclass(frozen=True)
class Check:
    """One gate check: the challenger's value, the bound it must meet, and the outcome."""

    name: str
    challenger: float
    bound: float
    passed: bool
    detail: str


@dataclass
class PromotionResult:
    """The gate's verdict and what happened to the aliases."""

    model_name: str
    champion_version: str | None
    challenger_version: str
    snapshot: datetime | None
    checks: list[Check] = field(default_factory=list)
    promoted: bool = False
    reason: str = ""
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    forced: bool = False


def evaluate_gate(
    gate: PromotionGate, champion: dict[str, float], challenger: dict[str, float]
) -> list[Check]:
    """The gate's checks for two metric dicts measured on the same rows."""
    auc_bound = champion["roc_auc"] - gate.max_roc_auc_drop
    cap_bound = champion["captured_at_capacity"] * (1 - gate.max_captured_drop)
    return [
        Check(
            "roc_auc", challenger["roc_auc"], auc_bound, challenger["roc_auc"] >= auc_bound,
            f"challenger ROC AUC {challenger['roc_auc']:.4f} vs champion {champion['roc_auc']:.4f} "
            f"(allowed drop {gate.max_roc_auc_drop})",
        ),
        Check(
            "captured_at_capacity", challenger["captured_at_capacity"], cap_bound,
            challenger["captured_at_capacity"] >= cap_bound,
            f"challenger captured {challenger['captured_at_capacity']:.1f} vs champion "
            f"{champion['captured_at_capacity']:.1f} conversions at capacity "
            f"(allowed drop {gate.max_captured_drop:.0%})",
        ),
        _relative_ece(gate, challenger),
        *([] if gate.max_ece is None else [Check(
            "ece", challenger["ece"], gate.max_ece, challenger["ece"] <= gate.max_ece,
            f"challenger expected calibration error {challenger['ece']:.4f} (bound "
            f"{gate.max_ece})")]),
    ]  # fmt: skip


def _relative_ece(gate: PromotionGate, challenger: dict[str, float]) -> Check:
    """ECE over the base rate of the rows (see the module docstring)."""
    rate = challenger["base_rate"]
    ratio = challenger["ece"] / rate if rate > 0 else float("inf")
    return Check(
        "relative_ece", ratio, gate.max_relative_ece, ratio <= gate.max_relative_ece,
        f"challenger expected calibration error {challenger['ece']:.4f} is {ratio:.0%} of the "
        f"base rate {rate:.2%} (bound {gate.max_relative_ece:.0%})",
    )  # fmt: skip


def backtest_check(metadata: dict[str, Any]) -> Check | None:
    """The challenger's own backtest verdict, recorded when it was trained: a version the
    backtest did not support (it lost to the rules, the existing score, the other family,
    or a coin) is never made champion without ``force``. None for versions trained before
    the verdict was recorded."""
    tournament = metadata.get("tournament")
    if not tournament:
        return None
    ok = bool(tournament.get("champion_ok"))
    said = " ".join(tournament.get("sentences", [])[-1:])
    return Check("backtest", float(ok), 1.0, ok,
                 "challenger's backtest supports it" if ok else
                 f"challenger's own backtest does not support it as champion ({said})")  # fmt: skip


def promote(
    warehouse: str,
    *,
    model_name: str = "lead-quality",
    gate: PromotionGate | None = None,
    as_of: datetime | None = None,
    experiment: str = "leadscore",
    force: bool = False,
) -> PromotionResult:
    """Run the gate and move ``champion`` to ``challenger`` if it passes, or anyway with
    ``force`` (see the module docstring)."""
    gate = gate or PromotionGate()
    configure_tracking()
    challenger_v = alias_version(model_name, "challenger")
    if challenger_v is None:
        raise ConfigError(f"model {model_name!r} has no @challenger; run `leadscore train` first")
    champion_v = alias_version(model_name, "champion")
    result = PromotionResult(model_name, champion_v, challenger_v, None)
    experiment_id = ensure_experiment(experiment)
    with start_run(experiment_id, run_name="promotion-gate"):
        mlflow.set_tag("leadscore.job", "promote")
        mlflow.log_params({"champion_version": str(champion_v), "challenger_version": challenger_v,
                           **{f"gate.{k}": v for k, v in gate.model_dump().items()}})  # fmt: skip
        if champion_v is None or champion_v == challenger_v:
            result.promoted = champion_v is None
            result.reason = (
                "no champion yet: the challenger becomes champion"
                if champion_v is None
                else f"version {challenger_v} is already champion"
            )
        else:
            challenger = load_bundle(f"models:/{model_name}/{challenger_v}")
            champion = load_bundle(f"models:/{model_name}/{champion_v}")
            horizon = int(challenger.metadata.get("horizon_days", 90))
            with Warehouse(warehouse, read_only=True) as wh:
                judged = evaluation_rows(wh, challenger.spec, as_of=as_of, horizon_days=horizon,
                                         capacity_per_week=challenger.metadata.get(
                                             "capacity_per_week"))  # fmt: skip
            rows, capacity = judged.rows, judged.capacity.leads
            y = rows["label"].to_numpy()
            snapshot = judged.start
            result.snapshot = snapshot
            for name, bundle in (("champion", champion), ("challenger", challenger)):
                p = bundle.lead_model.predict_proba(rows)
                result.metrics[name] = classification_metrics(y, p, p, capacity)
            result.checks = evaluate_gate(
                gate, result.metrics["champion"], result.metrics["challenger"]
            )
            backtest = backtest_check(challenger.metadata)
            if backtest is not None:
                result.checks.append(backtest)
            failed = [c for c in result.checks if not c.passed]
            result.promoted = not failed or force
            result.reason = (
                f"all {len(result.checks)} checks passed on {judged.period}"
                if not failed
                else ("forced (--force) although: " if force else "refused: ")
                + "; ".join(c.detail for c in failed)
            )
            result.forced = bool(failed) and force
            mlflow.log_param("snapshot", judged.period)
            for who, values in result.metrics.items():
                mlflow.log_metrics({f"{who}_{k}": v for k, v in values.items() if v == v})
            mlflow.log_dict(
                {"checks": [c.__dict__ for c in result.checks], "metrics": result.metrics},
                "gate/checks.json",
            )
        mlflow.set_tag("leadscore.verdict", "forced" if result.forced else
                       "promoted" if result.promoted else "refused")  # fmt: skip
        mlflow.set_tag("leadscore.reason", result.reason[:5000])
        # the verdict is logged before any alias moves
    if result.promoted:
        set_champion(model_name, challenger_v)
        log.info("champion -> version %s (%s)", challenger_v, result.reason)
    else:
        log.warning("promotion of version %s %s", challenger_v, result.reason)
    return result


def gate_summary(result: PromotionResult) -> dict[str, Any]:
    """A JSON-ready view of a promotion result."""
    return {
        "model_name": result.model_name,
        "champion_version": result.champion_version,
        "challenger_version": result.challenger_version,
        "snapshot": result.snapshot.isoformat() if result.snapshot else None,
        "promoted": result.promoted,
        "reason": result.reason,
        "checks": [c.__dict__ for c in result.checks],
    }
