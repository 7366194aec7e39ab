"""The spine end to end on a small synthetic warehouse: train, register, load elsewhere, score.

Real DuckDB file, real MLflow sqlite tracking store and registry, a real second Python
process. One training run is shared by the tests in this module (it takes seconds).
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from leadscore.features import ScoringError, Warehouse, build_lead_frame
from leadscore.features._contract import default_contract
from leadscore.models import LeadModelParams, score_leads, to_model_input
from leadscore.serving import LEAD_SCORES_COLUMNS, ScoreConfig, score_warehouse
from leadscore.training import (
    SECTIONS,
    CompareConfig,
    TrainConfig,
    TrainResult,
    compare,
    load_bundle,
    promote,
    resolve_model,
    rollback,
    train,
)
from mlflow.tracking import MlflowClient
from sklearn.metrics import roc_auc_score

from tests.conftest import open_contacts
from tests.servers import generate_and_train, tracking_store, tracking_uri

pytestmark = pytest.mark.slow
AS_OF = datetime(2026, 1, 1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, TrainResult]]:
    root = tmp_path_factory.mktemp("e2e")
    with tracking_store(root):
        url, result = generate_and_train(root, n_contacts=12_000, seed=3, as_of=AS_OF)
        yield url, root, result


def test_training_registers_champion_and_logs_what_it_measured(
    trained: tuple[str, Path, TrainResult],
) -> None:
    url, _, result = trained
    client = MlflowClient()
    version = client.get_model_version_by_alias("lead-quality", "champion")
    assert str(version.version) == result.model_version == "1"
    run = client.get_run(result.run_id)
    # The split: quarterly snapshots, the latest with a full horizon before 2026-01-01 is test.
    assert run.data.params["test_snapshot"] == "2025-10-01"
    assert run.data.params["validation_snapshot"] == "2025-07-01"
    assert run.data.params["horizon_days"] == "90"
    assert len(run.data.params["dataset_digest"]) == 16
    for scorer in ("model", "rules", "ceiling"):
        for metric in ("roc_auc", "pr_auc", "captured_at_capacity"):
            logged = run.data.metrics[f"test_{scorer}_{metric}"]
            assert logged == pytest.approx(result.metrics[scorer][metric])
    # Recompute the held-out metrics independently from the registered model.
    with Warehouse(url, read_only=True) as wh:
        frame = build_lead_frame(
            wh, [datetime(2025, 10, 1)], with_labels=True, horizon_days=90, data_end=AS_OF
        ).frame
    model = mlflow.pyfunc.load_model("models:/lead-quality@champion")
    scored = model.predict(to_model_input(frame), params={"reasons": False})
    assert run.data.metrics["rows_test"] == len(frame)
    assert roc_auc_score(frame["label"], scored["probability"]) == pytest.approx(
        result.metrics["model"]["roc_auc"], abs=1e-12
    )
    assert roc_auc_score(frame["label"], scored["rule_score"]) == pytest.approx(
        result.metrics["rules"]["roc_auc"], abs=1e-12
    )
    top = np.argsort(-scored["probability"].to_numpy(), kind="stable")[: result.capacity]
    assert frame["label"].to_numpy()[top].sum() == pytest.approx(
        result.metrics["model"]["captured_at_capacity"], abs=0.5
    )


def test_model_beats_rules_on_the_held_out_quarter(trained: tuple[str, Path, TrainResult]) -> None:
    _, _, result = trained
    m, r = result.metrics["model"], result.metrics["rules"]
    assert m["roc_auc"] > r["roc_auc"]
    assert m["captured_at_capacity"] > r["captured_at_capacity"]
    # and never better than the generator's own latent propensity by more than noise
    assert m["roc_auc"] <= result.metrics["ceiling"]["roc_auc"] + 0.01


def test_a_separate_process_loads_the_champion(trained: tuple[str, Path, TrainResult]) -> None:
    _, root, _ = trained
    leads = pd.DataFrame(
        {
            "contact_id": ["a-1", "a-2"],
            "title": ["VP Sales", "Student"],
            "company_size": [400.0, None],
            "industry": ["software", "a-vertical-never-seen"],
            "country": ["US", "BR"],
            "lead_source": ["webinar", "giveaway"],
            "email_domain": ["acme.io", "gmail.com"],
            "phone_valid": [1.0, 0.0],
            "buying_timeline": ["0-3 months", None],
            "requested_demo": [1.0, 1.0],
            "days_since_created": [12.0, 40.0],
            "pricing_page_view_30d": [3.0, 0.0],
            "giveaway_entry_180d": [0.0, 2.0],
        }
    )
    script = (
        "import sys, mlflow, pandas as pd\n"
        "leads = pd.read_json(sys.stdin, orient='records')\n"
        "model = mlflow.pyfunc.load_model('models:/lead-quality@champion')\n"
        "print(model.predict(leads).to_json(orient='records', double_precision=15))\n"
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri(root)}
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=leads.to_json(orient="records"),
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=300,
        check=True,
    )
    other = pd.DataFrame(json.loads(done.stdout.strip().splitlines()[-1]))
    here = mlflow.pyfunc.load_model("models:/lead-quality@champion")
    expected = here.predict(leads)
    assert other["contact_id"].tolist() == ["a-1", "a-2"]
    # equal up to the 15 decimals the JSON text carries
    np.testing.assert_allclose(other["probability"], expected["probability"], rtol=1e-9)
    np.testing.assert_allclose(other["rule_score"], expected["rule_score"], rtol=1e-9)
    assert other["rule_grade"].tolist() == expected["rule_grade"].tolist()
    # the VP with pricing views outranks the student from a giveaway on both scores
    assert other["probability"][0] > other["probability"][1]
    assert other["rule_score"][0] > other["rule_score"][1]
    assert "Student" not in other["reasons"][0] and other["reasons"][1] != ""


def test_batch_scoring_writes_one_row_per_open_contact(
    trained: tuple[str, Path, TrainResult],
) -> None:
    url, _, result = trained
    as_of = datetime(2025, 11, 15)
    written = score_warehouse(
        ScoreConfig(warehouse=url, model_uri=result.model_uri, as_of=as_of, reasons="all")
    )
    with Warehouse(url, read_only=True) as wh:
        table = wh.query("SELECT * FROM lead_scores WHERE as_of = ?", [as_of])
        frame = build_lead_frame(wh, [as_of]).frame
    assert list(table.columns) == list(LEAD_SCORES_COLUMNS)
    assert written.rows == len(table)
    assert set(table["contact_id"]) == open_contacts(url, as_of)
    assert table["contact_id"].is_unique
    assert set(table["model_name"]) == {"lead-quality"} and set(table["model_version"]) == {"1"}
    # The numbers equal a direct call of the shared scoring function on the same rows.
    bundle = mlflow.pyfunc.load_model(result.model_uri).unwrap_python_model().bundle
    direct = score_leads(bundle, frame).assign(contact_id=frame["contact_id"].to_numpy())
    merged = table.merge(direct, on="contact_id", suffixes=("", "_direct"))
    assert len(merged) == len(table)
    np.testing.assert_allclose(merged["probability"], merged["probability_direct"], rtol=1e-12)
    np.testing.assert_array_equal(merged["rule_score"], merged["rule_score_direct"])
    assert (merged["reasons"] == merged["reasons_direct"]).all()
    assert (merged["rule_hits"] == merged["rule_hits_direct"]).all()


def test_rerun_replaces_and_other_as_of_is_kept(trained: tuple[str, Path, TrainResult]) -> None:
    url, _, result = trained
    first, second = datetime(2025, 6, 1), datetime(2025, 9, 1)
    for as_of in (first, second, second):
        score_warehouse(
            ScoreConfig(warehouse=url, model_uri=result.model_uri, as_of=as_of, reasons="none")
        )
    with Warehouse(url, read_only=True) as wh:
        counts = wh.query("SELECT as_of, count(*) AS n FROM lead_scores GROUP BY 1")
    by_as_of = dict(zip(pd.to_datetime(counts["as_of"]), counts["n"], strict=True))
    assert by_as_of[pd.Timestamp(first)] == len(open_contacts(url, first))
    assert by_as_of[pd.Timestamp(second)] == len(open_contacts(url, second))


def test_a_failed_write_keeps_the_previous_scores(trained: tuple[str, Path, TrainResult]) -> None:
    url, _, result = trained
    as_of = datetime(2025, 8, 1)
    score_warehouse(
        ScoreConfig(warehouse=url, model_uri=result.model_uri, as_of=as_of, reasons="none")
    )
    with Warehouse(url) as wh:
        before = wh.query("SELECT * FROM lead_scores WHERE as_of = ? ORDER BY contact_id", [as_of])
        broken = before.head(10).assign(probability=0.5)
        # The count check inside the transaction fails: 10 rows written, all of them expected.
        with pytest.raises(ScoringError, match="rolled back, previous rows kept"):
            wh.replace_partition(
                "lead_scores",
                broken,
                partition_column="as_of",
                partition_value=as_of,
                create_sql="unused INTEGER",
                expected_rows=len(before),
            )
        after = wh.query("SELECT * FROM lead_scores WHERE as_of = ? ORDER BY contact_id", [as_of])
    pd.testing.assert_frame_equal(before, after)


def _lookup(figures: dict[str, Any], key: str) -> Any:
    node: Any = figures
    for part in key.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _assert_cells_equal_json(page: str, figures: dict[str, Any]) -> set[str]:
    """Every number on the page equals the JSON value its data-key names; the keys."""
    cells = re.findall(r'data-key="([^"]+)" data-value="([^"]*)"', page)
    for key, raw in cells:
        shown, expected = json.loads(html.unescape(raw)), _lookup(figures, key)
        if isinstance(expected, float) and math.isnan(expected):
            assert math.isnan(shown), key
        else:
            assert shown == expected, key
    return {k for k, _ in cells}


def test_compare_report_holds_both_decisions_handoff_first_and_matches_its_json(
    trained: tuple[str, Path, TrainResult], tmp_path: Path
) -> None:
    url, _, result = trained
    at_handoff = train(TrainConfig(warehouse=url, as_of=AS_OF, backtest_folds=1,
                                   contract=default_contract().at_decision("handoff")))  # fmt: skip
    assert at_handoff.model_name == "lead-quality-handoff" and at_handoff.spec.decision == "handoff"
    out = compare(
        CompareConfig(warehouse=url, report=tmp_path / "report.html", model_uri=result.model_uri,
                      other_model_uri=at_handoff.model_uri, as_of=AS_OF, bootstrap_reps=200)
    )  # fmt: skip
    page = out.html_path.read_text()
    figures = json.loads(out.json_path.read_text())
    assert tuple(figures) == ("meta", "handoff", "pipeline")
    assert tuple(figures["pipeline"]) == SECTIONS
    assert set(figures["handoff"]) == set(SECTIONS) - {"speed_to_lead"} | {"selective_labels"}
    assert page.index("<section id='handoff'>") < page.index("<section id='pipeline'>")
    for kind in ("handoff", "pipeline"):
        for section in ("headline", "metrics", "curves", "calibration", "grades", "quadrant",
                        "sources", "thresholds", "drift"):  # fmt: skip
            assert f"<section id='{kind}-{section}'>" in page
    assert "<section id='pipeline-speed'>" in page and "handoff-speed" not in page
    assert page.count("data:image/png;base64,") == 8  # ROC, PR, gains, reliability per section
    assert "http://" not in page and "https://" not in page  # opens offline
    keys = _assert_cells_equal_json(page, figures)
    assert len(keys) > 300
    for kind in ("handoff", "pipeline"):  # every cell of every table section is there
        assert {f"{kind}.by_grade.{i}.rate" for i in range(4)} <= keys
        assert {f"{kind}.top_disagreements.{i}.probability" for i in range(20)} <= keys
    assert {f"pipeline.speed_to_lead.{i}.leads" for i in range(7)} <= keys
    assert {f"handoff.selective_labels.scorers.{i}.never_worked" for i in range(3)} <= keys
    assert {"handoff.thresholds.rule_never_worked", "handoff.metrics.ceiling.roc_auc"} <= keys

    # the pipeline section: internal consistency of the figures themselves
    pipe = figures["pipeline"]
    head, meta = pipe["headline"], pipe["meta"]
    assert head["difference"] == pytest.approx(head["model_captured"] - head["rules_captured"])
    assert head["ci_low"] <= head["difference"] <= head["ci_high"]
    quads = {q["quadrant"]: q for q in pipe["quadrant"]}
    assert sum(q["leads"] for q in quads.values()) == meta["rows"]
    assert quads["both high"]["leads"] + quads["model only high"]["leads"] == head["capacity_leads"]
    assert sum(q["conversions"] for q in quads.values()) == meta["positives"]
    assert sum(s["leads"] for s in pipe["speed_to_lead"]) == meta["rows"]
    assert sum(g["leads"] for g in pipe["by_grade"]) == meta["rows"]
    assert pipe["thresholds"]["model_leads"] == pipe["thresholds"]["rule_leads"]
    assert meta["snapshot"] == "2025-10-01" and "out of sample" in meta["notes"][0]
    # ... and it names the model's top features that are sales' own actions
    actions = pipe["sales_actions"]
    reads = {r["feature"]: r["reads"] for r in actions["top_features"]}
    assert set(actions["sales_only"]) == {f for f, r in reads.items() if r == "sales' own actions"}
    for feature in actions["sales_only"]:
        assert feature.startswith(("sales_touch", "meeting_held", "hours_to_first_touch"))
        assert feature in actions["sentence"]

    # the handoff section: each week's picks, as the decision is made
    hand = figures["handoff"]
    head, sel = hand["headline"], hand["selective_labels"]
    picks = {r["scorer"]: r for r in sel["scorers"]}
    assert head["model_wins"] == picks["model"]["wins"] == hand["metrics"]["model"][
        "captured_at_capacity"]  # fmt: skip
    assert head["rules_wins"] == picks["rules"]["wins"]
    assert head["ceiling_wins"] == picks["ceiling"]["wins"]
    assert head["difference"] == head["model_wins"] - head["rules_wins"]
    assert head["capacity_leads"] == picks["model"]["picked"] <= head["per_week"] * head["weeks"]
    assert sum(g["leads"] for g in hand["by_grade"]) == hand["meta"]["rows"] == head["leads"]
    assert sum(t["conversions"] for t in hand["by_tier"]) == hand["meta"]["positives"]
    assert hand["thresholds"]["model_leads"] == hand["thresholds"]["rule_leads"]
    assert not hand["sales_actions"]["sales_only"] and not hand["sales_actions"]["sales_mixed"]
    assert f"Winner at capacity: <b>{html.escape(head['winner'])}</b>" in page


def test_lifecycle_gate_refuses_a_worse_challenger_promotes_an_equal_one_and_rolls_back(
    trained: tuple[str, Path, TrainResult],
) -> None:
    url, _, first = trained
    client = MlflowClient()
    # v2: a crippled LightGBM (one stump), forced by --model-family (left to itself, the
    # tournament would register the logistic family instead): the gate must refuse it and
    # say why, on the latest quarter and on its own backtest.
    weak = train(TrainConfig(warehouse=url, as_of=AS_OF, model_family="lightgbm",
                             model_params=LeadModelParams(n_estimators=1, num_leaves=2)))  # fmt: skip
    assert weak.aliases == ["challenger"] and weak.family == "lightgbm"
    refused = promote(url, as_of=AS_OF)
    assert not refused.promoted
    assert refused.reason.startswith("refused: ") and "challenger ROC AUC" in refused.reason
    assert {c.name for c in refused.checks if not c.passed} >= {"roc_auc", "backtest"}
    assert resolve_model("models:/lead-quality@champion") == ("lead-quality", first.model_version)
    gate_runs = mlflow.search_runs(
        experiment_names=["leadscore"], filter_string="tags.`leadscore.job` = 'promote'"
    )
    assert gate_runs["tags.leadscore.verdict"].tolist() == ["refused"]
    # v3: same data, same seed: the same model, so the gate passes and champion moves.
    again = train(TrainConfig(warehouse=url, as_of=AS_OF))
    with Warehouse(url, read_only=True) as wh:
        rows = build_lead_frame(wh, [datetime(2025, 10, 1)]).frame
    p1 = load_bundle(first.model_uri).lead_model.predict_proba(rows)
    p3 = load_bundle(again.model_uri).lead_model.predict_proba(rows)
    np.testing.assert_array_equal(p1, p3)
    passed = promote(url, as_of=AS_OF)
    assert passed.promoted and all(c.passed for c in passed.checks)
    assert resolve_model("models:/lead-quality@champion")[1] == again.model_version
    # rollback returns to the previous champion
    moved = rollback("lead-quality")
    assert moved == (again.model_version, first.model_version)
    assert (
        str(client.get_model_version_by_alias("lead-quality", "champion").version)
        == first.model_version
    )
