"""The leakage guard on small narrated tables, checked against slow, obvious oracles."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest
from leadscore.features import DataValidationError
from leadscore.training._leakage import (
    LeakageError,
    LeakageReport,
    Suspect,
    ValueOutcome,
    check_leakage,
    leakage_report,
)
from sklearn.model_selection import StratifiedKFold

# --------------------------------------------------------------------------- oracles


def _pair_auc(pos: list[float], neg: list[float]) -> float:
    """ROC AUC by counting every (won, lost) pair: a win is 1, a tie one half."""
    wins = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def _folds(y: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The guard's documented folds: StratifiedKFold(folds, shuffle=True, random_state=seed)."""
    return list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))


def _oracle_numeric(x: list[float | None], y: np.ndarray, folds: int, seed: int) -> float:
    """The numeric AUC the slow way: on each training part try the four orderings (higher or
    lower is won; missing below or above every number), keep the first best, count pairs on
    the held-out part."""
    orderings = [(+1, float("-inf")), (+1, float("inf")), (-1, float("-inf")), (-1, float("inf"))]

    def score(i: int, ordering: tuple[int, float]) -> float:
        direction, missing_at = ordering
        value = x[i]
        return missing_at if value is None else direction * value

    def auc(rows: np.ndarray, ordering: tuple[int, float]) -> float:
        pos = [score(i, ordering) for i in rows if y[i] == 1]
        neg = [score(i, ordering) for i in rows if y[i] == 0]
        return _pair_auc(pos, neg)

    aucs = []
    for train, test in _folds(y, folds, seed):
        on_train = [auc(train, o) for o in orderings]
        best = orderings[on_train.index(max(on_train))]
        aucs.append(auc(test, best))
    return sum(aucs) / len(aucs)


def _oracle_categorical(
    x: list[str | None], y: np.ndarray, folds: int, seed: int, smoothing: float = 10.0
) -> float:
    """Out-of-fold target encoding the slow way: counts from the training part only."""
    aucs = []
    for train, test in _folds(y, folds, seed):
        rows: dict[str | None, int] = {}
        won: dict[str | None, int] = {}
        for i in train:
            rows[x[i]] = rows.get(x[i], 0) + 1
            won[x[i]] = won.get(x[i], 0) + int(y[i])
        prior = sum(int(y[i]) for i in train) / len(train)

        encoded = [
            (won.get(x[i], 0) + smoothing * prior) / (rows.get(x[i], 0) + smoothing)
            for i in range(len(x))
        ]
        pos = [encoded[i] for i in test if y[i] == 1]
        neg = [encoded[i] for i in test if y[i] == 0]
        aucs.append(_pair_auc(pos, neg))
    return sum(aucs) / len(aucs)


# --------------------------------------------------------------------------- exact values


def test_numeric_auc_matches_the_pair_counting_oracle() -> None:
    # 60 leads, 20 won; a column with ties, missing values and a weak signal
    rng = np.random.default_rng(3)
    y = np.array([1] * 20 + [0] * 40)
    x = (rng.integers(0, 8, size=60) + y * 2).astype(float)
    x[rng.choice(60, size=9, replace=False)] = np.nan
    report = leakage_report(pd.DataFrame({"x": x}), y, {"x": "numeric"}, folds=4, seed=11)
    as_list = [None if np.isnan(v) else float(v) for v in x]
    assert report["x"].auc == pytest.approx(_oracle_numeric(as_list, y, 4, 11), abs=1e-12)


def test_a_column_ranked_against_the_label_picks_its_direction_on_the_training_part() -> None:
    # fewer emails opened means more won here: the guard must find it, like the oracle
    rng = np.random.default_rng(5)
    y = np.array([1] * 15 + [0] * 30)
    x = rng.normal(size=45) - 1.5 * y
    report = leakage_report(pd.DataFrame({"x": x}), y, {"x": "numeric"}, folds=3, seed=0)
    assert report["x"].auc == pytest.approx(_oracle_numeric(list(x), y, 3, 0), abs=1e-12)
    assert report["x"].auc > 0.75


def test_categorical_auc_matches_the_out_of_fold_oracle() -> None:
    rng = np.random.default_rng(8)
    y = np.array([1] * 25 + [0] * 50)
    values = rng.choice(["a", "b", "c", "d", "e"], size=75).astype(object)
    values[y == 1] = np.where(rng.random(25) < 0.5, "a", values[y == 1])  # 'a' leans won
    values[rng.choice(75, size=6, replace=False)] = None
    frame = pd.DataFrame({"tag": pd.Series(values, dtype="str")})
    report = leakage_report(frame, y, {"tag": "categorical"}, folds=5, seed=2)
    assert report["tag"].auc == pytest.approx(_oracle_categorical(list(values), y, 5, 2), abs=1e-12)


def test_hand_worked_values() -> None:
    # ten leads, four won. 'perfect' is 1 exactly for the won; 'flat' is the same everywhere;
    # 'gaps' is missing for 1 of the 4 won and 3 of the 6 lost:
    #   P(won gap > lost gap) = 1/4 * 3/6 = 1/8, ties = 1/4 * 3/6 + 3/4 * 3/6 = 1/2,
    #   AUC = 1/8 + 1/2 * 1/2 = 0.375, reported symmetric: 0.625.
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    frame = pd.DataFrame(
        {
            "perfect": y.astype(float),
            "flat": np.ones(10),
            "gaps": [np.nan, 1, 1, 1, np.nan, np.nan, np.nan, 1, 1, 1],
        }
    )
    kinds = {"perfect": "numeric", "flat": "numeric", "gaps": "numeric"}
    report = leakage_report(frame, y, kinds, folds=2)
    assert report["perfect"].fold_aucs == (1.0, 1.0)
    assert report["flat"].fold_aucs == (0.5, 0.5)  # every pair tied
    gaps = report["gaps"]
    assert (gaps.missing_auc, gaps.missing_in_won, gaps.missing_in_lost, gaps.missing_share) == (
        0.625,
        0.25,
        0.5,
        0.4,
    )
    assert report["perfect"].missing_auc == 0.5  # nothing missing: no signal


# --------------------------------------------------------------------------- the narrated table


def _crm(seed: int = 7) -> tuple[pd.DataFrame, np.ndarray]:
    """400 leads, 100 won, with the columns a real CRM export mixes together."""
    rng = np.random.default_rng(seed)
    y = np.array([1] * 100 + [0] * 300)
    n = len(y)
    # sales reps tag each call; "Converted" is written only after a won deal (40 of 100 won)
    status = rng.choice(["Called", "Voicemail", "No answer"], size=n).astype(object)
    status[:40] = "Converted"
    # the number of words in the meeting notes: there are notes for every won lead but only
    # for 30 of the 300 lost ones
    notes_words = rng.integers(5, 200, size=n).astype(float)
    notes_words[100 + 30 :] = np.nan
    # 200 postcodes, two leads each, assigned at random: pure noise with many levels
    postcode = np.array([f"P{k:03d}" for k in rng.permutation(np.repeat(np.arange(200), 2))])
    echo = y + rng.normal(0, 0.1, size=n)  # the label again, with a little noise
    frame = pd.DataFrame(
        {
            "echo_of_label": echo,
            "call_status": pd.Series(status, dtype="str"),
            "notes_words": notes_words,
            # an honest, weak predictor: bigger companies buy a little more often
            "company_size": rng.lognormal(4 + 0.5 * y, 1.0),
            "postcode": postcode,
            # the same echo, but the team declares it is known before contact
            "declared_score": echo,
        }
    )
    return frame, y


KINDS = {
    "echo_of_label": "numeric",
    "call_status": "categorical",
    "notes_words": "numeric",
    "company_size": "numeric",
    "postcode": "categorical",
    "declared_score": "numeric",
}


@pytest.fixture(scope="module")
def crm_report() -> LeakageReport:
    frame, y = _crm()
    return leakage_report(frame, y, KINDS, known_before_contact=["declared_score"])


def test_the_suspects_and_their_reasons(crm_report: LeakageReport) -> None:
    report = crm_report
    suspects = report.suspects()
    assert [s.column for s in suspects] == ["echo_of_label", "notes_words"]
    echo, notes = suspects
    assert echo == Suspect(
        "echo_of_label", ("alone predicts the label with ROC AUC 1.00 (5-fold cross-validated)",)
    )
    # notes_words: its missingness alone gives (270 + 30 / 2) / 300 = 0.95
    assert report["notes_words"].missing_auc == pytest.approx(0.95, abs=1e-12)
    assert notes.reasons[1] == (
        "missing mostly when lost (in 90% of lost rows, 0% of won rows): missingness ROC AUC 0.95"
    )
    assert notes.reasons[0].startswith("alone predicts the label with ROC AUC 0.9")
    # call_status: 'Converted' is won in 40 of 40 rows, but an honest value won 97% of the
    # time does that once in 3.4 tries (0.97 ** 40 = 0.30): not shown near-certain, so not a
    # suspect. Its name and its values are sales' own work: a person must answer it.
    assert report["call_status"].auc < 0.8
    assert report["call_status"].near_certain == ()
    assert report.review() == [Suspect("call_status", (
        "its name 'call_status' reads like sales' own work",
        "its values read like sales' own work ('Voicemail', 'Called', 'Converted')",
    ))]


def test_honest_and_noisy_columns_are_not_suspects(crm_report: LeakageReport) -> None:
    report = crm_report
    assert 0.55 < report["company_size"].auc < 0.75
    assert report["company_size"].reasons(0.90) == []
    assert report["postcode"].reasons(0.90) == []


def test_high_cardinality_noise_scores_near_one_half_out_of_fold(crm_report: LeakageReport) -> None:
    frame, y = _crm()
    out_of_fold = crm_report["postcode"].auc
    assert abs(out_of_fold - 0.5) < 0.08
    # Encoding every row with counts that include its own label (the naive way, one pass over
    # all rows) makes the same noise look like a strong predictor.
    rows: dict[str, int] = {}
    won: dict[str, int] = {}
    for value, label in zip(frame["postcode"], y, strict=True):
        rows[value] = rows.get(value, 0) + 1
        won[value] = won.get(value, 0) + int(label)
    prior = y.mean()
    naive = [(won[v] + 10 * prior) / (rows[v] + 10) for v in frame["postcode"]]
    in_fold = _pair_auc(
        [s for s, t in zip(naive, y, strict=True) if t == 1],
        [s for s, t in zip(naive, y, strict=True) if t == 0],
    )
    assert in_fold > 0.85  # 0.90 on this table, against 0.51 out of fold


def test_a_column_declared_known_before_contact_is_reported_not_suspected(
    crm_report: LeakageReport,
) -> None:
    report = crm_report
    declared = report["declared_score"]
    assert declared.auc == report["echo_of_label"].auc  # measured like any other column
    assert "declared_score" not in [s.column for s in report.suspects()]
    assert declared.reasons(0.90) == [
        "alone predicts the label with ROC AUC 1.00 (5-fold cross-validated)"
    ]
    assert "  declared_score: alone predicts the label with ROC AUC 1.00" in report.format_table()


def test_ranking_is_by_the_stronger_of_auc_and_missingness(crm_report: LeakageReport) -> None:
    ranked = [c.column for c in crm_report.columns]
    assert ranked[:2] == ["declared_score", "echo_of_label"]  # tied at 1.00: by name
    assert ranked[2] == "notes_words"
    strengths = [c.strength for c in crm_report.columns]
    assert strengths == sorted(strengths, reverse=True)


def _tags(converted: int, lost: int) -> tuple[pd.DataFrame, np.ndarray]:
    """1,000 leads, 300 won: a tag column where 'Converted' marks ``converted`` won leads
    and ``lost`` lost ones; every other lead is 'Open'."""
    y = np.array([1] * 300 + [0] * 700)
    tag = np.array(["Open"] * 1000, dtype=object)
    tag[:converted] = "Converted"
    tag[300 : 300 + lost] = "Converted"
    return pd.DataFrame({"tag": pd.Series(tag, dtype="str")}), y


@pytest.mark.parametrize(
    ("converted", "lost", "settings", "flagged"),
    [
        (100, 0, {}, True),  # 100 of 100: P = 0.97 ** 100 = 0.048 < 0.05
        (99, 0, {}, True),  # 0.97 ** 99 = 0.049
        (40, 0, {}, False),  # 40 of 40: P = 0.30, an honest value's lucky run
        (90, 1, {}, False),  # 90 of 91: P = 0.24 (a lead source known at creation)
        (200, 1, {}, True),  # 200 of 201: P = 0.016
        (40, 0, {"alpha": 0.5}, True),  # at a lax level 0.30 is enough
        (100, 0, {"min_rows": 101}, False),  # 100 rows are not enough at 101
        (100, 0, {"min_positive_share": 0.5}, False),  # 100 won are fewer than 50% of 300
        (100, 0, {"purity": 1.0}, False),  # nothing is shown above 100%
    ],
)
def test_near_certain_is_a_test_on_the_count(converted: int, lost: int,
                                             settings: dict[str, float], flagged: bool) -> None:  # fmt: skip
    frame, y = _tags(converted, lost)
    report = leakage_report(frame, y, {"tag": "categorical"}, **settings)  # type: ignore[arg-type]
    assert bool(report["tag"].near_certain) is flagged
    if flagged:
        assert report["tag"].near_certain == (ValueOutcome("Converted", converted + lost, converted),)
        assert "tag" in [s.column for s in report.suspects()]


def test_no_value_is_near_certain_when_almost_everything_is_won() -> None:
    # 98% won overall: a value won 100% of the time says nothing
    y = np.array([1] * 98 + [0] * 2)
    frame = pd.DataFrame({"tag": pd.Series(["a"] * 50 + ["b"] * 50, dtype="str")})
    report = leakage_report(frame, y, {"tag": "categorical"}, folds=2)
    assert report["tag"].near_certain == ()
    assert report["tag"].top_value == ValueOutcome("a", 50, 50)


# --------------------------------------------------------------------------- output


def _small() -> tuple[pd.DataFrame, np.ndarray]:
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    frame = pd.DataFrame(
        {"perfect": y.astype(float), "flat": np.ones(10), "declared": y.astype(float)}
    )
    return frame, y


def test_format_table_shows_the_top_and_every_flagged_column() -> None:
    frame, y = _small()
    kinds = {"perfect": "numeric", "flat": "numeric", "declared": "boolean"}
    report = leakage_report(frame, y, kinds, folds=2, known_before_contact=["declared"])
    lines = report.format_table(top=1).splitlines()
    assert lines[0] == (
        "Leakage guard: each column alone against the label (10 rows, 4 won; "
        "2-fold cross-validated ROC AUC, 0.50 = no signal, 1.00 = perfect)."
    )
    assert lines[1] == (
        "A column is a suspect at ROC AUC >= 0.90, missingness AUC >= 0.90, or a "
        "value shown won in more than 97% of its >= 30 rows (binomial test, p < 0.05). Check "
        "that none of these is filled in after contact."
    )
    assert lines[3].split() == [
        "#",
        "column",
        "kind",
        "ROC",
        "AUC",
        "missing",
        "missing",
        "AUC",
        "most-won",
        "value",
        "(rows",
        ">=",
        "30)",
        "verdict",
    ]
    # declared is ranked first (1.00, then by name) and allowed; perfect is the suspect; flat
    # is weaker than the top 1 and not flagged, so it is only counted
    assert [line.split() for line in lines[5:8]] == [
        [
            "1",
            "declared",
            "boolean",
            "1.00",
            "0.0%",
            "0.50",
            "allowed",
            "(known",
            "before",
            "contact)",
        ],
        ["2", "perfect", "numeric", "1.00", "0.0%", "0.50", "SUSPECT"],
        ["...", "1", "weaker", "column(s)", "not", "shown"],
    ]
    assert lines[8:] == [
        "",
        "Suspects:",
        "  perfect: alone predicts the label with ROC AUC 1.00 (2-fold cross-validated)",
        "",
        "Flagged but allowed by the contract (not stopping):",
        "  declared: alone predicts the label with ROC AUC 1.00 (2-fold cross-validated)",
    ]


def test_check_leakage_stops_unless_allowed(caplog: pytest.LogCaptureFixture) -> None:
    frame, y = _small()
    report = leakage_report(frame, y, {"perfect": "numeric", "flat": "numeric"}, folds=2)
    with pytest.raises(LeakageError) as info:
        check_leakage(report)
    error = info.value
    assert error.exit_code == 3
    assert error.suspects == [
        Suspect("perfect", ("alone predicts the label with ROC AUC 1.00 (2-fold cross-validated)",))
    ]
    assert error.table == report.format_table()
    assert str(error).startswith(
        "leakage guard: 1 column(s) predict the label too well to be known before contact: "
        "'perfect'\n  - perfect: alone predicts the label with ROC AUC 1.00"
    )
    assert str(error).endswith("To train anyway, pass --allow-leaky.")
    # the contract excludes it: nothing to stop on, and the table says why
    assert check_leakage(report, ["perfect"]) == []
    assert report.format_table(allowed=["perfect"]).splitlines()[5].split()[-2:] == [
        "allowed",
        "(contract)",
    ]
    with caplog.at_level(logging.WARNING, logger="leadscore.training._leakage"):
        assert check_leakage(report, allow_leaky=True) == error.suspects
    assert "training with 1 suspect column(s) (--allow-leaky): perfect" in caplog.text


def test_to_dict_is_plain_json_for_mlflow() -> None:
    frame, y = _small()
    report = leakage_report(frame, y, {"perfect": "numeric", "flat": "numeric"}, folds=2)
    data = json.loads(json.dumps(report.to_dict()))
    assert {k: data[k] for k in ("rows", "positives", "folds", "seed", "threshold_auc")} == {
        "rows": 10,
        "positives": 4,
        "folds": 2,
        "seed": 0,
        "threshold_auc": 0.9,
    }
    assert [c["column"] for c in data["columns"]] == ["perfect", "flat"]
    assert data["columns"][1] == {
        "column": "flat",
        "kind": "numeric",
        "auc": 0.5,
        "fold_aucs": [0.5, 0.5],
        "missing_share": 0.0,
        "missing_auc": 0.5,
        "distinct": 1,
        "near_certain": [],
        "top_value": None,
    }
    assert report.to_dict(allowed=["perfect"])["suspects"] == []
    assert data["suspects"] == [
        {
            "column": "perfect",
            "reasons": ["alone predicts the label with ROC AUC 1.00 (2-fold cross-validated)"],
        }
    ]


# --------------------------------------------------------------------------- inputs


def test_inputs_are_checked() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(ValueError, match=r"label must be 0/1 \(or booleans\) with no missing"):
        leakage_report(frame, [1, 0, np.nan, 0], {"a": "numeric"})
    with pytest.raises(ValueError, match=r"found \['0', '1', '2'\]"):
        leakage_report(frame, [1, 0, 2, 0], {"a": "numeric"})
    with pytest.raises(ValueError, match="kind must be one of"):
        leakage_report(frame, [1, 0, 1, 0], {"a": "text"})
    with pytest.raises(DataValidationError, match="needs at least 2 won and 2 lost rows"):
        leakage_report(frame, [1, 0, 0, 0], {"a": "numeric"})


def test_folds_shrink_to_the_smaller_class(caplog: pytest.LogCaptureFixture) -> None:
    frame = pd.DataFrame({"a": np.arange(23.0), "won": [1, 1, 1] + [0] * 20})
    with caplog.at_level(logging.WARNING, logger="leadscore.training._leakage"):
        report = leakage_report(frame, "won", {"a": "numeric"})
    assert report.folds == 3
    assert "3 folds instead of 5" in caplog.text
