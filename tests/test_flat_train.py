"""Flat mode end to end on small generated CRM exports: guard, train, register, compare,
backtest and score, with a real MLflow sqlite store.

The generator knows each lead's true propensity, so the model is judged against the best
any scorer could do on the same rows (the ceiling), not against a made-up number.
One training run on the main export is shared by the tests that only read its results.
"""

from __future__ import annotations

import html
import json
import pickle
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from leadscore.features._contract import load_contract
from leadscore.features._errors import ConfigError
from leadscore.features._flat import FlatSplit, flat_split, load_flat
from leadscore.models._flat_model import FlatModel, FlatModelParams
from leadscore.models._flat_pyfunc import (
    TIERS,
    FlatScoringBundle,
    flat_model_input,
    tier_thresholds_by_share,
)
from leadscore.training._flat_backtest import backtest_flat
from leadscore.training._flat_compare import compare_flat
from leadscore.training._flat_evaluation import FLAT_SECTIONS, clock_notes, drift_table
from leadscore.training._flat_output import write_atomically, write_table
from leadscore.training._flat_score import score_flat
from leadscore.training._flat_train import FlatTrainResult, scoring_frame, train_flat
from leadscore.training._leakage import LeakageError
from leadscore.training._tracking import configure_tracking
from mlflow.tracking import MlflowClient
from sklearn.metrics import roc_auc_score

from tests.servers import tracking_store

pytestmark = pytest.mark.slow

SEGMENT_EFFECT = {"enterprise": 0.8, "mid-market": 0.0, "smb": -0.8}
LABELLED, OPEN = 3000, 150


@dataclass(frozen=True)
class Export:
    """A generated export: the file's rows and each row's true probability of a win."""

    rows: pd.DataFrame
    propensity: pd.Series  # indexed like load_flat's ``row`` index (1-based)


def make_export(n: int, *, seed: int, intercept: float, open_rows: int = 0) -> Export:
    """``n`` decided leads, then ``open_rows`` undecided ones (the latest, as in a live CRM).

    The truth: log-odds = intercept + 1.4 * intent + the segment's effect; ``noise`` and
    ``newsletter`` carry nothing. ``status`` is written by sales after the call: every won
    lead with an even number is "Converted" (no lost lead ever is), the others "Contacted"
    or "No answer" at random. ``legacy_score`` is the team's old score: intent seen through
    heavy noise, on a 0-100 scale.
    """
    rng = np.random.default_rng(seed)
    total = n + open_rows
    intent = rng.normal(size=total).round(3)
    segment = rng.choice(list(SEGMENT_EFFECT), size=total, p=[0.25, 0.35, 0.4])
    logit = intercept + 1.4 * intent + np.vectorize(SEGMENT_EFFECT.get)(segment)
    propensity = 1 / (1 + np.exp(-logit))
    won = rng.random(total) < propensity
    status = rng.choice(["Contacted", "No answer"], size=total)
    status[won & (np.arange(total) % 2 == 0)] = "Converted"
    outcome = np.where(won, "won", "lost").astype(object)
    outcome[n:] = "open"
    rows = pd.DataFrame(
        {
            "lead_id": [f"L{i:05d}" for i in range(1, total + 1)],
            "created_at": pd.date_range("2023-01-02", periods=total, freq="3h").strftime(
                "%Y-%m-%d %H:%M"
            ),
            "intent": intent,
            "segment": segment,
            "noise": rng.normal(size=total).round(3),
            "newsletter": rng.choice(["yes", "no"], size=total),
            "status": status,
            "legacy_score": np.clip(50 + 12 * (intent + 1.5 * rng.normal(size=total)), 0, 100)
            .round()
            .astype(int),
            "outcome": outcome,
        }
    )
    return Export(rows, pd.Series(propensity, index=pd.RangeIndex(1, total + 1, name="row")))


def write_contract(folder: Path, export: Export, leads_yaml: str) -> Path:
    """``folder/leads.csv`` from the export and ``folder/leadscore.yaml`` around it."""
    folder.mkdir(parents=True, exist_ok=True)
    export.rows.to_csv(folder / "leads.csv", index=False)
    path = folder / "leadscore.yaml"
    path.write_text(
        "mode: flat\nleads:\n  source: {kind: csv, path: leads.csv}\n" + leads_yaml,
        encoding="utf-8",
    )
    return path


MAIN_CONTRACT = """\
  id: lead_id
  label: outcome
  label_values: {open: [open]}
  created_at: created_at
  rule_score: legacy_score
"""
FAST = FlatModelParams(n_estimators=300, early_stopping_rounds=30)


@dataclass(frozen=True)
class Trained:
    root: Path
    export: Export
    contract: Path
    result: FlatTrainResult


@pytest.fixture(scope="module")
def main_export() -> Export:
    return make_export(LABELLED, seed=11, intercept=-1.6, open_rows=OPEN)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, main_export: Export) -> Iterator[Trained]:
    root = tmp_path_factory.mktemp("flat")
    contract = write_contract(
        root / "crm", main_export, MAIN_CONTRACT + "  known_after_contact: [status]\n"
    )
    with tracking_store(root):
        result = train_flat(contract, params=FAST, bootstrap_reps=200)
        yield Trained(root, main_export, contract, result)


# --------------------------------------------------------------------------- the guard


def test_the_guard_stops_training_on_a_status_written_after_the_call(
    tmp_path: Path, trained: Trained
) -> None:
    # the same export, but the contract does not say that status is filled in after contact
    contract = write_contract(tmp_path / "crm", trained.export, MAIN_CONTRACT)
    train_rows = trained.export.rows.iloc[:1800]  # time split: the first 60% of the 3,000 decided
    converted = int((train_rows["status"] == "Converted").sum())
    assert set(train_rows.loc[train_rows["status"] == "Converted", "outcome"]) == {"won"}
    with tracking_store(trained.root), pytest.raises(LeakageError) as info:
        train_flat(contract, params=FAST, model_name="guarded", experiment="guarded")
    suspects = {s.column: s.reasons for s in info.value.suspects}
    assert list(suspects) == ["status"]
    assert (
        f"value 'Converted' is won in {converted} of {converted} rows (100%)" in suspects["status"]
    )
    assert "known_after_contact" in str(info.value)
    # the findings were logged before training stopped: a failed run, no registered model
    with tracking_store(trained.root):
        configure_tracking()
        client = MlflowClient()
        experiment = client.get_experiment_by_name("guarded")
        assert experiment is not None
        (run,) = client.search_runs([experiment.experiment_id])
        assert run.info.status == "FAILED"
        assert run.data.tags["leakage.suspects"] == "status"
        ranking = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/leakage/ranking.txt")
        assert "status" in ranking and "SUSPECT" in ranking
        assert len(client.search_registered_models("name = 'guarded'")) == 0


def test_allow_leaky_trains_with_the_suspect_and_records_it(
    tmp_path: Path, trained: Trained
) -> None:
    contract = write_contract(tmp_path / "crm", trained.export, MAIN_CONTRACT)
    with tracking_store(trained.root):
        result = train_flat(
            contract, allow_leaky=True, params=FAST, bootstrap_reps=100,
            model_name="leaky", experiment="leaky",
        )  # fmt: skip
        run = MlflowClient().get_run(result.run_id)
    assert [s.column for s in result.allowed_suspects] == ["status"]
    assert run.data.tags["leakage.trained_with"] == "status"
    # with the answer among its features the model looks far better than the true ceiling:
    # exactly the lucky win the guard exists to prevent
    export = trained.export
    test = pd.RangeIndex(2401, 3001)
    ceiling = roc_auc_score(
        export.rows["outcome"].iloc[2400:3000] == "won", export.propensity.loc[test]
    )
    assert result.metrics["model"]["roc_auc"] > ceiling + 0.05


# --------------------------------------------------------------------------- training


def test_training_registers_the_model_and_logs_what_it_left_out(trained: Trained) -> None:
    result = trained.result
    assert (result.model_name, result.model_version) == ("lead-quality-flat", "1")
    assert result.aliases == ["challenger", "champion"]
    assert result.row_counts == {
        "read": LABELLED + OPEN, "labelled": LABELLED, "open": OPEN,
        "train": 1800, "validation": 600, "test": 600,
    }  # fmt: skip
    rows = trained.export.rows
    assert result.positives == {
        "train": int((rows["outcome"].iloc[:1800] == "won").sum()),
        "validation": int((rows["outcome"].iloc[1800:2400] == "won").sum()),
        "test": int((rows["outcome"].iloc[2400:3000] == "won").sum()),
    }
    assert result.trustworthy and result.figures["headline"]["reference"] == "rule_score"
    assert result.split.by_time
    with tracking_store(trained.root):
        client = MlflowClient()
        assert (
            str(client.get_model_version_by_alias("lead-quality-flat", "champion").version) == "1"
        )
        run = client.get_run(result.run_id)
        left_out = mlflow.artifacts.load_dict(f"runs:/{result.run_id}/data/columns_and_rows.json")
        report = mlflow.artifacts.load_dict(f"runs:/{result.run_id}/leakage/report.json")
    assert run.data.tags["trustworthy"] == "true"
    assert run.data.tags["leadscore.split"] == result.split.description
    assert run.data.metrics["rows_train"] == 1800 and run.data.metrics["rows_open"] == OPEN
    assert run.data.metrics["rows_left_out"] == OPEN  # open rows: kept for scoring, not trained
    assert left_out["excluded_columns"] == [
        {"column": "status", "reason": "known only after contact (known_after_contact); never used"}
    ]
    assert left_out["features"] == {
        "intent": "numeric", "segment": "categorical", "noise": "numeric",
        "newsletter": "boolean",
    }  # fmt: skip
    # the guard ran on the 1,800 training rows only, and its strongest column is the signal
    assert (report["rows"], report["positives"]) == (1800, result.positives["train"])
    assert report["columns"][0]["column"] == "intent"
    assert run.data.metrics["leakage_auc/intent"] == pytest.approx(report["columns"][0]["auc"])


def test_the_model_comes_close_to_the_true_propensity_on_the_test_rows(trained: Trained) -> None:
    rows, result = trained.export.rows, trained.result
    test = pd.RangeIndex(2401, 3001, name="row")
    y = (rows["outcome"].iloc[2400:3000] == "won").to_numpy()
    ceiling = roc_auc_score(y, trained.export.propensity.loc[test])
    noise_alone = roc_auc_score(y, rows["noise"].iloc[2400:3000])
    model = result.metrics["model"]
    assert abs(noise_alone - 0.5) < 0.06  # the no-signal column really carries nothing
    assert ceiling - 0.04 <= model["roc_auc"] <= ceiling + 0.01
    # the team's noisy legacy score is far behind, and the test rows were the same for all
    assert model["roc_auc"] > result.metrics["rule_score"]["roc_auc"] + 0.05
    assert model["rows"] == result.metrics["baseline"]["rows"] == 600
    assert model["capacity"] == 60  # the default: the top 10% of the test rows
    assert model["ece"] < 0.06


def test_compare_writes_a_report_that_matches_training_and_its_json(trained: Trained) -> None:
    report = trained.root / "out" / "flat.html"
    with tracking_store(trained.root):
        compared = compare_flat(
            trained.contract, "models:/lead-quality-flat@champion", report, bootstrap_reps=200
        )
    figures = json.loads(compared.json_path.read_text())
    assert tuple(figures) == FLAT_SECTIONS
    # the same test rows, the same scorers: the same numbers as at training time
    assert figures["metrics"] == trained.result.figures["metrics"]
    assert figures["headline"]["winner"] == trained.result.figures["headline"]["winner"]
    assert figures["meta"]["notes"] == []  # same data: out of sample, nothing to warn about
    page = report.read_text()
    assert html.escape(trained.result.split.description) in page
    assert "Leakage guard: each column alone against the label (1800 rows" in page
    cells = dict(re.findall(r'data-key="([^"]+)" data-value="([^"]*)"', page))
    for scorer in ("model", "baseline", "rule_score"):
        key = f"metrics.{scorer}.roc_auc"
        assert json.loads(html.unescape(cells[key])) == figures["metrics"][scorer]["roc_auc"]
    assert "status: known only after contact" in html.unescape(page).replace("</b>", "")


def test_compare_warns_when_the_data_changed_since_training(trained: Trained) -> None:
    # a newer export: 300 more decided leads, so the old test rows now sit in training
    newer = make_export(LABELLED + 300, seed=11, intercept=-1.6)
    contract = write_contract(
        trained.root / "newer", newer, MAIN_CONTRACT + "  known_after_contact: [status]\n"
    )
    with tracking_store(trained.root):
        compared = compare_flat(
            contract, trained.result.model_uri, trained.root / "newer.html", bootstrap_reps=100
        )
    (note,) = compared.figures["meta"]["notes"]
    assert note.startswith("Warning: the data differ") and "NOT" in note


# --------------------------------------------------------------------------- scoring


def test_score_writes_one_row_per_open_lead_equal_to_the_pyfunc(trained: Trained) -> None:
    out = trained.root / "scores" / "open.csv"
    with tracking_store(trained.root):
        result = score_flat(trained.contract, trained.result.model_uri, out)
        model = mlflow.pyfunc.load_model(trained.result.model_uri)
    scored = pd.read_csv(out)
    data = load_flat(load_contract(trained.contract))
    open_rows = trained.export.rows.iloc[LABELLED:]
    assert result.rows == OPEN and result.scope == "open rows"
    assert list(scored.columns) == ["lead_id", "probability", "model_tier", "reasons", "rule_score"]
    assert scored["lead_id"].tolist() == open_rows["lead_id"].tolist()
    bundle = model.unwrap_python_model().bundle
    expected = model.predict(
        flat_model_input(
            scoring_frame(
                load_contract(trained.contract).flat, data.open_rows, data.open_ids,
                data.open_rule_score,
            ),
            bundle,
        )
    )  # fmt: skip
    np.testing.assert_allclose(scored["probability"], expected["probability"], rtol=1e-12)
    assert scored["model_tier"].tolist() == expected["model_tier"].tolist()
    assert scored["reasons"].tolist() == expected["reasons"].tolist()
    assert scored["rule_score"].tolist() == open_rows["legacy_score"].astype(float).tolist()
    assert set(scored["model_tier"]) <= set(TIERS)
    # every reason names a feature, its value and a direction
    pattern = r"^(intent|segment|noise|newsletter) = \S+ (raises|lowers) the odds$"
    assert all(re.match(pattern, part) for text in scored["reasons"] for part in text.split("; "))
    # raw export rows (text, as in the CSV) score exactly like the typed rows
    raw = pd.read_csv(trained.contract.parent / "leads.csv", dtype=str).iloc[LABELLED:]
    raw_scores = model.predict(raw.reset_index(drop=True))
    np.testing.assert_array_equal(raw_scores["probability"], expected["probability"])


def test_rescoring_replaces_the_file_whole(trained: Trained) -> None:
    out = trained.root / "rescore" / "scores.csv"
    out.parent.mkdir()
    out.write_text("stale,file\n1,2\n")
    with tracking_store(trained.root):
        score_flat(trained.contract, trained.result.model_uri, out)
        first = out.read_bytes()
        score_flat(trained.contract, trained.result.model_uri, out)
    assert out.read_bytes() == first
    assert first.startswith(b"lead_id,probability,model_tier,reasons,rule_score\n")
    assert sorted(p.name for p in out.parent.iterdir()) == ["scores.csv"]  # no temporary left


def test_score_all_rows_to_parquet(trained: Trained) -> None:
    out = trained.root / "all.parquet"
    with tracking_store(trained.root):
        result = score_flat(trained.contract, trained.result.model_uri, out, all_rows=True)
    scored = pd.read_parquet(out)
    assert result.rows == LABELLED + OPEN and result.scope == "all rows"
    assert scored["lead_id"].tolist() == trained.export.rows["lead_id"].tolist()
    # the test rows score as at training time
    test = scored.iloc[2400:3000]["probability"].to_numpy()
    auc = roc_auc_score(trained.export.rows["outcome"].iloc[2400:3000] == "won", test)
    assert auc == pytest.approx(trained.result.metrics["model"]["roc_auc"], abs=1e-12)


# --------------------------------------------------------------------------- backtest


def test_backtest_rolls_forward_over_the_latest_blocks(trained: Trained) -> None:
    with tracking_store(trained.root):
        result = backtest_flat(trained.contract, folds=2, params=FAST)
    first, second = result.folds
    # 3,000 decided rows in time order, blocks of 300: test the last two blocks
    assert [list(first.train), list(first.validation), list(first.test)] == [
        list(range(1, 2101)), list(range(2101, 2401)), list(range(2401, 2701))
    ]  # fmt: skip
    assert list(second.test) == list(range(2701, 3001))
    assert list(second.train) == list(range(1, 2401))
    assert result.by_time and result.description.startswith("rolling-origin backtest over time")
    won = trained.export.rows["outcome"] == "won"
    model = result.table[result.table["scorer"] == "model"].set_index("fold")
    assert model.loc[1, "positives"] == won.iloc[2400:2700].sum()
    assert model.loc[2, "positives"] == won.iloc[2700:3000].sum()
    assert model.loc[1, "train_positives"] == won.iloc[:2100].sum()
    assert list(result.table["scorer"].unique()) == ["model", "baseline", "rule_score"]
    assert result.summary.loc["model", "roc_auc_mean"] == pytest.approx(model["roc_auc"].mean())
    assert result.summary.loc["model", "roc_auc_std"] == pytest.approx(model["roc_auc"].std())


# --------------------------------------------------------------------------- too little data


def test_without_time_and_with_few_wins_the_comparison_says_so(
    tmp_path: Path, trained: Trained
) -> None:
    # 1,200 leads, about one in ten won, no date: about 70 wins among the 720 training rows
    export = make_export(1200, seed=5, intercept=-3.0)
    rows = export.rows.drop(columns=["created_at", "status", "legacy_score"])
    contract = write_contract(
        tmp_path / "crm", Export(rows, export.propensity), "  id: lead_id\n  label: outcome\n"
    )
    with tracking_store(trained.root):
        result = train_flat(
            contract, params=FAST, bootstrap_reps=100, model_name="small", experiment="small"
        )
        run = MlflowClient().get_run(result.run_id)
        backtest = backtest_flat(contract, folds=3, params=FAST, experiment="small")
    assert result.positives["train"] < 100 and not result.trustworthy
    assert result.figures["headline"]["winner"] == "not yet trustworthy"
    assert result.verdict.startswith(
        f"Not yet trustworthy: only {result.positives['train']} won leads in the training rows"
    )
    assert result.figures["headline"]["reference"] == "baseline"  # no rule score to compare
    assert run.data.tags["trustworthy"] == "false" and run.data.params["trustworthy"] == "False"
    assert not result.split.by_time
    assert result.split.description.startswith("no time column: stratified random split")
    assert backtest.description.startswith("no time column: stratified 3-fold cross-validation")
    tested = sorted(int(r) for fold in backtest.folds for r in fold.test)
    assert tested == list(range(1, 1201))  # every row is tested exactly once
    assert not backtest.table["trustworthy"].any()


# --------------------------------------------------------------------------- the model alone


def test_flat_model_scores_unseen_categories_as_missing_and_pickles(main_export: Export) -> None:
    rows = main_export.rows.iloc[:LABELLED]
    X = rows[["intent", "segment", "noise"]]
    y = (rows["outcome"] == "won").astype(int)
    features = {"intent": "numeric", "segment": "categorical", "noise": "numeric"}
    model = FlatModel(features, FAST).fit(
        X.iloc[:2000], y.iloc[:2000], validation=(X.iloc[2000:], y.iloc[2000:])
    )
    lead = pd.DataFrame(
        {"intent": [0.3, 0.3], "segment": ["government", None], "noise": [0.0, 0.0]}
    )
    p = model.predict_proba(lead)
    assert p[0] == p[1]  # a segment never seen in training counts as missing
    (unseen,) = [r for r in model.explain(lead.iloc[:1], top_n=3)[0] if r.feature == "segment"]
    assert unseen.text.startswith("segment = government (not seen in training) ")
    enterprise = pd.DataFrame({"intent": [0.0], "segment": ["enterprise"], "noise": [0.0]})
    smb = enterprise.assign(segment="smb")
    assert model.predict_proba(enterprise)[0] > model.predict_proba(smb)[0]
    (top,) = model.explain(enterprise, top_n=1)
    assert [r.text for r in top] == ["segment = enterprise raises the odds"]
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict_proba(X), model.predict_proba(X))


def test_split_and_data_are_those_load_flat_gives(trained: Trained) -> None:
    # the training result's split is flat_split's own (one definition of the split)
    data = load_flat(load_contract(trained.contract))
    split = flat_split(data)
    assert split.description == trained.result.split.description
    assert list(split.test) == list(trained.result.split.test)


def test_drift_names_a_column_that_counts_time_as_a_clock(tmp_path: Path) -> None:
    # 200 leads a day apart; "rate" is the month's interest rate, which only ever falls, so
    # every test value is below every training value; "size" is a lead attribute
    rng = np.random.default_rng(3)
    rows = pd.DataFrame(
        {
            "created": pd.date_range("2024-01-01", periods=200, freq="D").strftime("%Y-%m-%d"),
            "rate": np.linspace(5.0, 1.0, 200).round(3),
            "size": rng.integers(1, 500, 200),
            "won": np.where(rng.random(200) < 0.3, "yes", "no"),
        }
    )
    (tmp_path / "leads.csv").write_text(rows.to_csv(index=False))
    (tmp_path / "leadscore.yaml").write_text(
        "mode: flat\nleads:\n  source: {kind: csv, path: leads.csv}\n"
        "  label: won\n  created_at: created\n"
    )
    data = load_flat(load_contract(tmp_path / "leadscore.yaml"))
    split = flat_split(data)
    drift = {r["column"]: r for r in drift_table(data, split.train, split.test)}
    assert drift["rate"]["separation"] == 1.0 and drift["rate"]["outside_share"] == 1.0
    assert drift["rate"]["train_min"] == rows["rate"].iloc[119]  # the 120th row: last trained
    assert drift["size"]["separation"] < 0.7
    (note,) = clock_notes(list(drift.values()), split)
    assert note.startswith("Warning: columns ['rate'] tell the test rows from the training rows")
    # without a time column the test rows are a random draw: nothing to call a clock
    shuffled = FlatSplit(split.train, split.validation, split.test, False, "random")
    assert clock_notes(list(drift.values()), shuffled) == []


def test_tiers_hold_the_documented_shares_of_the_validation_rows() -> None:
    # ten validation probabilities: A is the top 10% (1 row), B the next 20% (2), C the next
    # 30% (3), D the remaining 4
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
    cuts = tier_thresholds_by_share(p)
    assert cuts == {"A": 0.9, "B": 0.7, "C": 0.4}
    bundle = FlatScoringBundle(model=FlatModel({}), tier_thresholds=cuts)
    assert bundle.tier(p).tolist() == ["A", "B", "B", "C", "C", "C", "D", "D", "D", "D"]


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "scores.csv"
    target.write_text("previous scores\n")

    def half_then_fail(path: Path) -> None:
        path.write_text("half of the new")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, half_then_fail)
    assert target.read_text() == "previous scores\n"
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"]
    with pytest.raises(ConfigError, match=r"output file must end in one of \['.csv', "):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "scores.xlsx")
