"""One pipeline for every shape of data: each shape runs the whole product through the CLI.

init-contract -> validate -> train -> train again -> promote -> score into the warehouse ->
serve one lead over HTTP -> compare, with the values each step must produce checked against
what the narrated source data says (brute-force counts, the batch score of the same lead).

The shapes:

* ``single export, no time``: one CSV, a label column with some leads still open (empty),
  the team's own columns (``Specialization`` with the form default "Select", ``TotalVisits``,
  ``Do Not Email``) and no time at all (a stratified random split, said in words);
* ``dated export with an existing score``: one CSV with a creation date, ``Won``/``Lost``/
  ``Open`` outcomes and the team's own ``Lead Score`` with gaps (compared like the rules);
* ``contacts and the team's own event types``: contacts, an activity log with the team's own
  activity names (one of them sales' own calls) and closed opportunities, scored at the
  handoff;
* ``the demo warehouse``: the synthetic CRM through the packaged contract.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from leadscore.features import Warehouse

from tests.servers import free_port, start_leadscore_serve, stop_process_group, wait_until_ok

pytestmark = pytest.mark.slow

LEADSCORE = [sys.executable, "-m", "leadscore.serving.cli"]
SPECIALIZATIONS = ["Finance", "Marketing", "IT", "Operations", "Select"]
# conversion odds by specialization: the signal the model must find ("Select" = not given)
SPEC_LOGIT = {"Finance": 1.6, "Marketing": 0.4, "IT": -0.2, "Operations": -1.0, "Select": -1.4}


def _run(args: list[str], cwd: Path, expect: int = 0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{cwd / 'mlflow.db'}"}
    done = subprocess.run([*LEADSCORE, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900)  # fmt: skip
    assert done.returncode == expect, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def _post(port: int, body: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/score", json.dumps(body).encode(),
                                 {"content-type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(req, timeout=60) as response:
        return dict(json.loads(response.read()))


def _get(port: int, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=60) as response:
        return dict(json.loads(response.read()))


def _champion(cwd: Path, name: str) -> str:
    from mlflow.tracking import MlflowClient

    store = f"sqlite:///{cwd / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    return str(client.get_model_version_by_alias(name, "champion").version)


def _whole_product(cwd: Path, contract: Path, name: str) -> None:
    """validate, train twice, promote: the second identical version passes the gate."""
    _run(["validate", "--contract", str(contract), "-w", "duckdb:///wh.duckdb"], cwd)
    first = _run(["train", "--contract", str(contract), "-w", "duckdb:///wh.duckdb"], cwd)
    assert f"registered {name} version 1 as @challenger, @champion" in first.stdout
    _run(["train", "--contract", str(contract), "-w", "duckdb:///wh.duckdb"], cwd)
    # a few thousand leads: calibration error is noisier than the default absolute bound
    (cwd / "gate.yaml").write_text("max_ece: 0.1\n")
    promoted = _run(["promote", "--contract", str(contract), "-w", "duckdb:///wh.duckdb",
                     "--gate", "gate.yaml"], cwd)  # fmt: skip
    assert "promoted" in promoted.stdout
    assert _champion(cwd, name) == "2"  # same data, same model: the gate passes


def _scores(cwd: Path) -> pd.DataFrame:
    with Warehouse("duckdb:///" + str(cwd / "wh.duckdb"), read_only=True) as wh:
        return wh.query("SELECT * FROM lead_scores")


def test_single_export_without_time(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    n = 3_000
    spec = rng.choice(SPECIALIZATIONS, size=n)
    visits = rng.poisson(3, size=n)
    logit = np.array([SPEC_LOGIT[s] for s in spec]) + 0.15 * visits - 2.0
    won = rng.random(n) < 1 / (1 + np.exp(-logit))
    label = np.where(won, "1", "0").astype(object)
    still_open = rng.random(n) < 0.04  # no outcome yet: these are the leads to score
    label[still_open] = ""
    export = pd.DataFrame({
        "Lead Number": np.arange(100_001, 100_001 + n),
        "Specialization": spec,
        "Lead Source": rng.choice(["Google", "Direct Traffic", "Referral"], size=n),
        "TotalVisits": visits,
        "Do Not Email": rng.choice(["Yes", "No"], size=n, p=[0.1, 0.9]),
        "Converted": label,
    })  # fmt: skip
    export.to_csv(tmp_path / "leads.csv", index=False)
    _run(["init-contract", "--source", "leads.csv"], tmp_path)
    text = (tmp_path / "leadscore.yaml").read_text()
    assert "contact_id: Lead Number" in text and "created_at: null" in text
    assert "outcome: Converted" in text and "Select" in text  # the form default is missing
    contract = tmp_path / "leadscore.yaml"
    # The review list asks about Specialization (alone it ranks the leads at about 0.76,
    # high for an attribute known when the lead arrives): init-contract lists it as filled in
    # after contact until someone answers. It is a form field the lead fills in.
    data = yaml.safe_load(text)
    assert data["contacts"]["known_after_contact"] == ["Specialization"]
    data["contacts"]["known_after_contact"] = []
    data["contacts"]["known_before_contact"] = ["Specialization"]
    contract.write_text(yaml.safe_dump(data, sort_keys=False))
    shown = _run(["validate", "--contract", str(contract), "-w", "duckdb:///wh.duckdb"], tmp_path)
    assert "Specialization (categorical)" in shown.stdout
    assert "stratified-random" in shown.stdout
    _whole_product(tmp_path, contract, _name(contract))

    _run(["score", "--contract", str(contract), "-w", "duckdb:///wh.duckdb"], tmp_path)
    scores = _scores(tmp_path)
    expected = set(export.loc[still_open, "Lead Number"].tolist())
    assert set(scores["contact_id"].tolist()) == expected  # exactly the open leads
    assert len(scores) == len(expected)

    port = free_port()
    proc, log = start_leadscore_serve(tmp_path, port, model=f"models:/{_name(contract)}@champion")
    try:
        wait_until_ok(f"http://127.0.0.1:{port}/readyz", proc, 120, log)
        lead_id = int(sorted(expected)[0])
        row = export.loc[export["Lead Number"] == lead_id].iloc[0]
        body = {"leads": [{"lead_id": lead_id, "specialization": row["Specialization"],
                           "lead_source": row["Lead Source"], "total_visits": float(row["TotalVisits"]),
                           "do_not_email": row["Do Not Email"] == "Yes"}]}  # fmt: skip
        if row["Specialization"] == "Select":
            body["leads"][0]["specialization"] = None  # "Select" is read as missing
        answer = _post(port, body)["scores"][0]
        batch = scores.loc[scores["contact_id"] == lead_id].iloc[0]
        assert answer["lead_id"] == lead_id
        assert answer["probability"] == pytest.approx(batch["probability"], abs=1e-12)
        schema = _get(port, "/openapi.json")["components"]["schemas"]["LeadIn"]["properties"]
        assert {"specialization", "total_visits", "do_not_email"} <= set(schema)
        # the team's own column, in its own words, among the reasons of the leads
        texts = [r for s in _post(port, {"leads": [
            {"lead_id": i, "specialization": s} for i, s in enumerate(SPECIALIZATIONS[:4])]}
        )["scores"] for r in s["reasons"]]  # fmt: skip
        assert any(t.startswith("Specialization: Finance (raises)") for t in texts), texts
    finally:
        stop_process_group(proc)

    _run(["compare", "--contract", str(contract), "-w", "duckdb:///wh.duckdb", "--report",
          "report.html"], tmp_path)  # fmt: skip
    report = json.loads((tmp_path / "report.json").read_text())
    assert "no time" in report["pipeline"]["missing"]  # one decision: the whole comparison
    figures = report["handoff"]
    labelled = (export["Converted"] != "").sum()
    won_total = (export["Converted"] == "1").sum()
    # the stratified test split: 20% of each class, rounded
    assert figures["meta"]["rows"] == round(0.2 * won_total) + round(0.2 * (labelled - won_total))
    assert any("no time" in note for note in figures["meta"]["notes"])

    # the export's model asked to score a warehouse of other data: stops, naming the columns
    _run(["generate", "-w", "duckdb:///other.duckdb", "--contacts", "300"], tmp_path)
    refused = _run(["score", "-w", "duckdb:///other.duckdb", "--model",
                    f"models:/{_name(contract)}@champion"], tmp_path, expect=4)  # fmt: skip
    assert "lacks 3 of them" in refused.stderr
    assert "specialization" in refused.stderr and "total_visits" in refused.stderr
    with Warehouse("duckdb:///" + str(tmp_path / "other.duckdb"), read_only=True) as wh:
        assert not wh.has_table("lead_scores")  # nothing written


def _name(contract: Path) -> str:
    from leadscore.features._contract import load_contract

    return load_contract(contract).model_name


def test_dated_export_with_an_existing_score_with_gaps(tmp_path: Path) -> None:
    rng = np.random.default_rng(12)
    n = 3_000
    created = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.sort(rng.uniform(0, 600, n)), unit="D")
    quality = rng.normal(size=n)
    won = rng.random(n) < 1 / (1 + np.exp(-(1.5 * quality - 2.0)))
    outcome = np.where(won, "Won", "Lost").astype(object)
    still_open = rng.random(n) < 0.05
    outcome[still_open] = "Open"
    score = np.round(50 + 15 * quality + rng.normal(scale=10, size=n))
    gaps = rng.random(n) < 0.3
    export = pd.DataFrame({
        "Lead ID": [f"L-{i:05d}" for i in range(n)],
        "Created Date": created.strftime("%Y-%m-%d %H:%M:%S"),
        "Region": rng.choice(["EMEA", "AMER", "APAC"], size=n),
        "Employees": np.round(np.exp(rng.normal(5, 1.5, size=n))),
        "Signal": np.round(quality + rng.normal(scale=0.5, size=n), 3),
        "Lead Score": np.where(gaps, np.nan, score),
        "Stage": outcome,
    })  # fmt: skip
    export.to_csv(tmp_path / "crm.csv", index=False)
    _run(["init-contract", "--source", "crm.csv"], tmp_path)
    text = (tmp_path / "leadscore.yaml").read_text()
    assert "contact_id: Lead ID" in text and "created_at: Created Date" in text
    assert "existing_score: Lead Score" in text
    contract = tmp_path / "leadscore.yaml"
    data = yaml.safe_load(text)
    # "Open" is no built-in label value, so init-contract could not tell Stage is the label:
    # it listed it for review as filled in after contact. It is the outcome.
    assert "Stage" in data["contacts"]["known_after_contact"]
    data["contacts"]["known_after_contact"].remove("Stage")
    # The leakage guard's review list would ask about Signal (alone about 0.79, high for an
    # attribute known when the lead arrives; init-contract could not measure it without a
    # label it could read): it is the web form's own score, known before contact.
    assert "Signal" not in data["contacts"]["known_after_contact"]
    data["contacts"]["known_before_contact"] = ["Signal"]
    data["contacts"]["outcome"] = "Stage"
    data["label"] = {"won_values": ["Won"], "lost_values": ["Lost"], "open_values": ["Open"],
                     "horizon_days": 90}  # fmt: skip
    contract.write_text(yaml.safe_dump(data, sort_keys=False))
    name = _name(contract)
    _whole_product(tmp_path, contract, name)

    _run(["score", "--contract", str(contract), "-w", "duckdb:///wh.duckdb"], tmp_path)
    scores = _scores(tmp_path)
    assert set(scores["contact_id"]) == set(export.loc[still_open, "Lead ID"])

    port = free_port()
    proc, log = start_leadscore_serve(tmp_path, port, model=f"models:/{name}@champion")
    try:
        wait_until_ok(f"http://127.0.0.1:{port}/readyz", proc, 120, log)
        lead = export.loc[still_open].iloc[0]
        answer = _post(port, {"leads": [{
            "lead_id": lead["Lead ID"], "region": lead["Region"],
            "employees": float(lead["Employees"]), "signal": float(lead["Signal"]),
            "existing_score": None if np.isnan(lead["Lead Score"]) else float(lead["Lead Score"]),
            "created_at": pd.Timestamp(lead["Created Date"]).isoformat()}]})["scores"][0]  # fmt: skip
        batch = scores.loc[scores["contact_id"] == lead["Lead ID"]].iloc[0]
        assert answer["probability"] == pytest.approx(batch["probability"], abs=1e-12)
    finally:
        stop_process_group(proc)

    _run(["compare", "--contract", str(contract), "-w", "duckdb:///wh.duckdb", "--report",
          "report.html"], tmp_path)  # fmt: skip
    report = json.loads((tmp_path / "report.json").read_text())
    assert "has no events" in report["pipeline"]["missing"]  # a single export
    figures = report["handoff"]
    decided = export.loc[~still_open].sort_values("Created Date").reset_index(drop=True)
    test = decided.iloc[round(0.8 * len(decided)):]  # the latest 20% of decided leads
    assert figures["meta"]["rows"] == len(test)
    coverage = test["Lead Score"].notna().mean()
    assert figures["meta"]["reference"] == (
        f"the team's existing score ({coverage:.0%} of leads have one)")


def test_contacts_with_their_own_event_types_at_the_handoff(tmp_path: Path) -> None:
    rng = np.random.default_rng(13)
    n = 2_500
    created = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.sort(rng.uniform(0, 500, n)), unit="D")
    intent = rng.normal(size=n)
    contacts = pd.DataFrame({"lead_id": np.arange(1, n + 1), "created": created,
                             "Industry": rng.choice(["Retail", "Banking", "Media"], size=n)})  # fmt: skip
    rows = []
    for i in range(n):
        # marketing's own activity in the first days, more with intent
        for _ in range(rng.poisson(np.exp(0.8 * intent[i]))):
            rows.append((i + 1, created[i] + pd.Timedelta(minutes=float(rng.uniform(1, 50))),
                         rng.choice(["Viewed Pricing", "Webinar"], p=[0.6, 0.4])))  # fmt: skip
        # sales calls come later: after the handoff (1 hour), never a handoff feature
        rows.append((i + 1, created[i] + pd.Timedelta(hours=float(rng.uniform(2, 48))), "Sales Call"))
    events = pd.DataFrame(rows, columns=["lead_id", "ts", "activity"])
    won = rng.random(n) < 1 / (1 + np.exp(-(1.4 * intent - 2.2)))
    closed = created + pd.to_timedelta(rng.uniform(5, 60, n), unit="D")
    decided = closed < pd.Timestamp("2025-05-01")
    outcomes = pd.DataFrame({"lead_id": contacts["lead_id"][decided], "closed": closed[decided],
                             "stage": np.where(won, "Closed Won", "Closed Lost")[decided]})  # fmt: skip
    contacts.to_csv(tmp_path / "contacts.csv", index=False)
    events.to_csv(tmp_path / "events.csv", index=False)
    outcomes.to_csv(tmp_path / "opps.csv", index=False)
    _run(["init-contract", "--source", "contacts.csv", "--events", "events.csv", "--outcomes",
          "opps.csv"], tmp_path)  # fmt: skip
    data = yaml.safe_load((tmp_path / "leadscore.yaml").read_text())
    assert data["events"]["columns"] == {"contact_id": "lead_id", "occurred_at": "ts",
                                         "event_type": "activity"}  # fmt: skip
    data["events"]["sales_owned"] = ["Sales Call"]
    data["events"]["high_intent"] = ["Viewed Pricing"]
    data["label"] = {"won_values": ["Closed Won"], "lost_values": ["Closed Lost"],
                     "horizon_days": 60}  # fmt: skip
    data["decision"] = {"moment": "handoff"}
    contract = tmp_path / "leadscore.yaml"
    contract.write_text(yaml.safe_dump(data, sort_keys=False))
    name = _name(contract)
    _whole_product(tmp_path, contract, name)

    as_of = "2025-05-20"
    _run(["score", "--contract", str(contract), "-w", "duckdb:///wh.duckdb", "--as-of", as_of,
          "--reasons", "all"], tmp_path)  # fmt: skip
    scores = _scores(tmp_path)
    handed_off = contacts["created"] + pd.Timedelta(hours=1) < pd.Timestamp(as_of)
    open_ids = set(contacts.loc[handed_off & ~contacts["lead_id"].isin(outcomes["lead_id"]),
                                "lead_id"])  # fmt: skip
    assert set(scores["contact_id"]) == open_ids
    # sales' own calls are never a reason of the handoff score
    assert not scores["reasons"].fillna("").str.contains("sales call", case=False).any()

    port = free_port()
    proc, log = start_leadscore_serve(tmp_path, port, model=f"models:/{name}@champion")
    try:
        wait_until_ok(f"http://127.0.0.1:{port}/readyz", proc, 120, log)
        lead_id = int(sorted(open_ids)[0])
        lead = contacts.loc[contacts["lead_id"] == lead_id].iloc[0]
        its = events.loc[events["lead_id"] == lead_id]
        answer = _post(port, {"leads": [{
            "lead_id": lead_id, "industry": lead["Industry"],
            "created_at": lead["created"].isoformat(),
            "events": [{"occurred_at": t.isoformat(), "event_type": a}
                       for t, a in zip(its["ts"], its["activity"], strict=True)]}]})["scores"][0]  # fmt: skip
        batch = scores.loc[scores["contact_id"] == lead_id].iloc[0]
        assert answer["probability"] == pytest.approx(batch["probability"], abs=1e-12)
    finally:
        stop_process_group(proc)

    _run(["compare", "--contract", str(contract), "-w", "duckdb:///wh.duckdb", "--report",
          "report.html"], tmp_path)  # fmt: skip
    figures = json.loads((tmp_path / "report.json").read_text())["handoff"]
    assert figures["meta"]["rows"] > 0 and figures["meta"]["reference"] == "the rules"


def test_the_demo_warehouse_through_the_packaged_contract(tmp_path: Path) -> None:
    _run(["generate", "-w", "duckdb:///wh.duckdb", "--contacts", "2500", "--seed", "3"], tmp_path)
    with Warehouse("duckdb:///" + str(tmp_path / "wh.duckdb"), read_only=True) as wh:
        open_at = int(wh.scalar(
            "SELECT count(*) FROM contacts c WHERE c.created_at < TIMESTAMP '2026-01-01' AND NOT "
            "EXISTS (SELECT 1 FROM outcomes o WHERE o.contact_id = c.contact_id AND "
            "o.closed_at < TIMESTAMP '2026-01-01')") or 0)  # fmt: skip
    _run(["validate", "-w", "duckdb:///wh.duckdb"], tmp_path)
    _run(["train", "-w", "duckdb:///wh.duckdb", "--as-of", "2026-01-01"], tmp_path)
    _run(["score", "-w", "duckdb:///wh.duckdb", "--as-of", "2026-01-01"], tmp_path)
    assert len(_scores(tmp_path)) == open_at
    _run(["compare", "-w", "duckdb:///wh.duckdb", "--report", "report.html", "--as-of",
          "2026-01-01"], tmp_path)  # fmt: skip
    report = json.loads((tmp_path / "report.json").read_text())
    assert "--decision handoff" in report["handoff"]["missing"]  # none trained there
    figures = report["pipeline"]
    assert figures["meta"]["reference"] == "the rules"
