"""``leadscore score`` in flat mode: score the export's open rows with a registered model.

Contract of :func:`score_flat`: reads and validates the contract's ``leads`` table, takes its
open rows (labels marked ``open`` in ``label_values``: not decided yet), or every row with
``all_rows``, and scores them with the registered model's MLflow pyfunc (the same code and
numbers as ``mlflow.pyfunc.load_model(uri).predict``). It writes one row per scored row, in
source order, with the id (the contract's id column, or ``row``, the 1-based row number in
the source, when the contract has none), ``probability``, ``model_tier``, ``reasons`` and,
when the model was trained with a ``rule_score``, ``rule_score``. CSV or Parquet by the
output's extension, written atomically (a temporary file in the same folder, then
``os.replace``): a rerun replaces the file whole, a failed run leaves the old one. With no
row to score it writes the header only and says so in ``notes``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from leadscore.models._flat_pyfunc import flat_model_input
from leadscore.training._flat_compare import DEFAULT_FLAT_MODEL_URI, load_flat_pyfunc
from leadscore.training._flat_output import table_format, write_table
from leadscore.training._flat_train import load_flat_contract, scoring_frame
from leadscore.training._registry import resolve_model
from leadscore.training._tracking import configure_tracking

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FlatScoreResult:
    """Where the scores went and what was scored."""

    path: Path
    rows: int
    model_uri: str
    model_version: str
    columns: list[str]
    scope: str  # "open rows" or "all rows"
    notes: list[str] = field(default_factory=list)


def score_flat(
    contract_path: str | Path,
    model_uri: str = DEFAULT_FLAT_MODEL_URI,
    output_path: str | Path = "scores.csv",
    *,
    all_rows: bool = False,
    reasons: bool = True,
    progress: Callable[[str], None] | None = None,
) -> FlatScoreResult:
    """Score and write (see the module docstring)."""
    say = progress or (lambda msg: log.info("%s", msg))
    output = Path(output_path)
    table_format(output)  # a wrong extension fails before any work
    configure_tracking()
    _, version = resolve_model(model_uri)
    pyfunc, bundle = load_flat_pyfunc(model_uri)
    _, spec, data = load_flat_contract(contract_path)
    notes: list[str] = []
    missing = [c for c in bundle.model.features if c not in data.features]
    if missing:
        notes.append(f"model features {missing} are not in these data: scored as missing")
    if all_rows:
        frame = pd.concat([data.frame, data.open_rows]).sort_index()
        ids = pd.concat([data.ids, data.open_ids]).sort_index()
        rule = None
        if data.rule_score is not None and data.open_rule_score is not None:
            rule = pd.concat([data.rule_score, data.open_rule_score]).sort_index()
        scope = "all rows"
    else:
        frame, ids, rule = data.open_rows, data.open_ids, data.open_rule_score
        scope = "open rows"
    id_name = spec.id or "row"
    columns = [id_name, *bundle.score_columns]
    if len(frame) == 0:
        notes.append(
            "no open rows to score (rows whose label is listed under label_values.open); "
            "score every row with --all"
        )
        scored = pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
    else:
        say(f"scoring {len(frame):,} {scope} with {model_uri} (version {version})")
        rows = flat_model_input(scoring_frame(spec, frame, ids, rule), bundle)
        predicted = pd.DataFrame(pyfunc.predict(rows, params={"reasons": reasons}))
        scored = predicted[bundle.score_columns].copy()
        scored.insert(0, id_name, ids.to_numpy())
    for note in notes:
        log.warning("%s", note)
    write_table(scored, output)
    say(f"wrote {len(scored):,} scores to {output}")
    return FlatScoreResult(output, len(scored), model_uri, version, columns, scope, notes)
