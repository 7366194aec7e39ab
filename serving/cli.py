"""The ``leadscore`` command line: one pipeline for every team's data.

Every command takes ``--contract`` (a ``leadscore.yaml``; default: the packaged contract of
the demo warehouse), imports its sources into ``--warehouse`` (in place when they are the
warehouse's own tables) and runs the one pipeline on them. The CLI owns the terminal:
library code only logs. Errors exit with the codes of :mod:`features._errors` (2
configuration, 3 data contract, 4 model, 5 scoring check, 6 promotion refused).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from leadscore.features import DEFAULT_WAREHOUSE, ConfigError, LeadscoreError
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    import pandas as pd
    from leadscore.features._contract import Contract
    from leadscore.features._import import ImportResult

app = typer.Typer(
    help="leadscore: a calibrated lead-quality model beside your rule score, compared fairly. "
    "One pipeline for every team's data: every command takes --contract leadscore.yaml "
    "(write one with `leadscore init-contract --source export.csv`); without it, the demo "
    "warehouse's packaged contract.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Wide enough for the result tables when the output is piped to a file or a CI log.
console = Console(stderr=True, width=None if sys.stderr.isatty() else 140)
out = Console(width=None if sys.stdout.isatty() else 140)

WarehouseOpt = Annotated[
    str, typer.Option("--warehouse", "-w", help="Warehouse URL, e.g. duckdb:///leadscore.duckdb")
]
ContractOpt = Annotated[
    Path | None,
    typer.Option("--contract", help="Your data contract (leadscore.yaml; see `leadscore "
                 "init-contract`). Default: the packaged contract of the demo warehouse."),
]  # fmt: skip
AsOfOpt = Annotated[
    datetime | None,
    typer.Option("--as-of", help="Point in time (YYYY-MM-DD[THH:MM:SS], UTC).", formats=[
        "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]),
]  # fmt: skip
HorizonOpt = Annotated[
    int | None, typer.Option(help="Label horizon (sales cycle) in days (default: the contract's).")
]
RulesOpt = Annotated[Path | None, typer.Option(help="Rules YAML (default: packaged rules).")]
CapacityOpt = Annotated[
    float | None, typer.Option(help="Leads sales can work per WEEK (default: measured from the "
                               "data's first sales touches).")]  # fmt: skip
ModelOpt = Annotated[
    str | None, typer.Option(help="MLflow model URI (default: the contract's model @champion).")
]
DecisionOpt = Annotated[
    str | None,
    typer.Option("--decision", help="Score at this decision instead of the contract's own: "
                 "'handoff' (each new lead once, when marketing passes it to sales, with only "
                 "what marketing knows then) or 'pipeline' (open leads at each quarter start). "
                 "At the other decision the model registers as <name>-<decision>."),
]  # fmt: skip
HandoffAfterOpt = Annotated[
    float | None,
    typer.Option("--handoff-after", help="Hours from a lead's creation to its handoff (default: "
                 "the contract's decision.handoff_delay_hours, 1); 0 scores at creation. "
                 "Implies --decision handoff."),
]  # fmt: skip


def _at_decision(contract: Contract, decision: str | None, handoff_after: float | None
                 ) -> Contract:  # fmt: skip
    """``contract`` at ``--decision`` / ``--handoff-after`` (see Contract.at_decision)."""
    if decision is None and handoff_after is None:
        return contract
    if decision not in (None, "handoff", "pipeline"):
        raise ConfigError(f"--decision must be 'handoff' or 'pipeline', got {decision!r}")
    moment = "handoff" if decision is None else decision
    return contract.at_decision(moment, handoff_delay_hours=handoff_after)  # type: ignore[arg-type]


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, show_time=False)],
        force=True,
    )
    for noisy in ("mlflow", "alembic", "urllib3", "git", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    _setup_logging(verbose)


@dataclass(frozen=True)
class _Prepared:
    contract: Contract
    imported: ImportResult


def _contract(path: Path | None) -> Contract:
    from leadscore.features._contract import default_contract, load_contract

    return load_contract(path) if path is not None else default_contract()


def _prepare(contract_path: Path | None, warehouse: str, as_of: datetime | None = None
             ) -> _Prepared:  # fmt: skip
    """Load the contract and import its sources into ``warehouse`` (see
    :mod:`features._import`); an ``--as-of`` on data without time is an error."""
    from leadscore.features._import import import_tables

    contract = _contract(contract_path)
    if as_of is not None and not contract.has_time:
        raise ConfigError("--as-of does not apply: the contract's contacts have no time "
                          "(contacts.columns.created_at is null)")  # fmt: skip
    result = import_tables(contract, warehouse, progress=lambda msg: console.log(msg))
    if not result.skipped:
        out.print(f"imported {', '.join(f'{t}: {n:,}' for t, n in result.rows.items())} rows "
                  f"into {warehouse} in {result.seconds:.1f} s")  # fmt: skip
    for note in result.notes():
        out.print(f"[yellow]{note}[/]")
    return _Prepared(contract, result)


def _model_uri(given: str | None, contract: Contract) -> str:
    return given or f"models:/{contract.model_name}@champion"


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True, disable=not console.is_terminal,
    )  # fmt: skip


@app.command()
def generate(
    warehouse: WarehouseOpt = DEFAULT_WAREHOUSE,
    contacts: Annotated[int, typer.Option(help="Number of contacts.")] = 50_000,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same data.")] = 0,
) -> None:
    """Write a synthetic CRM (contacts, events, outcomes, _truth) into a warehouse.

    On PostgreSQL or Spark the data is generated in a temporary DuckDB file and copied over
    through Arrow (bulk COPY on PostgreSQL)."""
    import tempfile

    import duckdb
    from leadscore.features import Warehouse, WarehouseURL
    from leadscore.features._generator import GeneratorConfig, write_crm
    from leadscore.features._schema import CONTACTS, EVENTS, OUTCOMES, TRUTH
    from leadscore.features._warehouse import copy_tables

    parsed = WarehouseURL.parse(warehouse)
    config = GeneratorConfig(n_contacts=contacts, seed=seed)
    with tempfile.TemporaryDirectory(prefix="leadscore-generate-") as tmp:
        if parsed.engine == "duckdb":
            database = parsed.database
            if database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
        else:
            database = str(Path(tmp) / "generated.duckdb")
        con = duckdb.connect(database)
        try:
            with _progress() as bar:
                task = bar.add_task("generating contacts", total=contacts)
                counts = write_crm(
                    con, config, progress=lambda done, total: bar.update(task, completed=done)
                )
        finally:
            con.close()
        if parsed.engine != "duckdb":
            with (
                Warehouse(f"duckdb:///{database}", read_only=True) as src,
                Warehouse(warehouse) as dst,
            ):
                counts = copy_tables(src, dst, [CONTACTS, EVENTS, OUTCOMES, TRUTH])
    out.print(f"wrote {', '.join(f'{k}: {v:,}' for k, v in counts.items())} rows to {warehouse}")


@app.command()
def validate(warehouse: WarehouseOpt = DEFAULT_WAREHOUSE, contract: ContractOpt = None) -> None:
    """Import the contract's sources and check them; print the features they give."""
    from leadscore.features import Warehouse, validate_warehouse
    from leadscore.features._spec import spec_for

    prepared = _prepare(contract, warehouse)
    with Warehouse(warehouse, read_only=True) as wh:
        report = validate_warehouse(wh, dated=prepared.contract.has_time)
        spec = spec_for(prepared.contract, wh)
    out.print(f"ok: {report.row_counts}; data from {report.data_start} to {report.data_end}")
    own = [f"{a.label} ({a.kind})" for a in spec.attributes if a.role is None]
    roles = [a.name for a in spec.attributes if a.role is not None]
    out.print(f"decision: {spec.decision}; {len(spec.model_features())} model features: "
              f"standard roles {roles}; your own attributes {own}; "
              f"{len(spec.engagement_names())} engagement features")  # fmt: skip
    if not spec.has_time:
        out.print("[yellow]no time in the data: splits are stratified-random[/]")


FamilyOpt = Annotated[
    str | None,
    typer.Option("--model-family", help="Register this model family ('lightgbm' or 'logistic') "
                 "instead of the one the backtest supports; it still becomes champion only if "
                 "the backtest supports it (or with --force)."),
]  # fmt: skip
GateOpt = Annotated[
    Path | None,
    typer.Option(help="Gate YAML (max_roc_auc_drop, max_captured_drop, max_relative_ece, "
                 "max_ece, backtest_tolerance)."),
]  # fmt: skip


@app.command("train")
def train_cmd(
    warehouse: WarehouseOpt = DEFAULT_WAREHOUSE,
    contract: ContractOpt = None,
    as_of: AsOfOpt = None,
    horizon_days: HorizonOpt = None,
    rules: RulesOpt = None,
    capacity: CapacityOpt = None,
    allow_leaky: Annotated[
        bool, typer.Option(help="Train even when the leakage guard finds suspects or columns "
                           "to review.")
    ] = False,
    model_family: FamilyOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Make this version @champion even when the backtest "
                           "does not support it (it loses to the rules, the existing score, the "
                           "other family, or a coin).")
    ] = False,
    backtest_folds: Annotated[
        int, typer.Option(help="Backtest folds before the test period that choose the model "
                          "family and decide whether it may be champion.")
    ] = 3,
    gate: GateOpt = None,
    decision: DecisionOpt = None,
    handoff_after: HandoffAfterOpt = None,
) -> None:
    """Train on the contract's data at its decision moment: backtest every model family on
    the periods before the test period, refit the one the backtest supports on every row
    before it, compare every scorer on the test rows, register as @challenger (and @champion
    when there is none yet and the backtest supports it, or with --force)."""
    from leadscore.training import TrainConfig, load_gate, train

    prepared = _prepare(contract, warehouse, as_of)
    result = train(
        TrainConfig(warehouse=warehouse, as_of=as_of,
                    contract=_at_decision(prepared.contract, decision, handoff_after),
                    horizon_days=horizon_days, rules_path=str(rules) if rules else None,
                    capacity=capacity, allow_leaky=allow_leaky,
                    known_before_contact=tuple(prepared.imported.known_before_contact),
                    model_family=model_family, force=force, backtest_folds=backtest_folds,
                    gate=load_gate(gate)),
        progress=lambda msg: console.log(msg),
    )  # fmt: skip
    out.print(_metrics_table(result.metrics, result.capacity, f"test rows: {result.split.description}",
                             registered=result.family))  # fmt: skip
    if not result.backtest.empty:
        out.print(_folds_table(result.backtest, "Backtest before the test period: each fold "
                               "fitted by the same procedure on what came before it"))  # fmt: skip
    out.print(f"[bold]Refit:[/] {result.refit[result.family]['description']}")
    if result.drift is not None:
        out.print("[bold]Drift[/] (rows before the test period vs the test rows):")
        for sentence in result.drift.sentences():
            out.print(f"  {sentence}")
    out.print("[bold]Verdict:[/]")
    for sentence in result.verdict:
        out.print(f"  {sentence}")
    out.print(f"registered [bold]{result.model_name}[/] version {result.model_version} as "
              f"@{', @'.join(result.aliases)}; run {result.run_id} at {result.tracking_uri}")  # fmt: skip
    if "champion" not in result.aliases:
        out.print("run `leadscore promote` to make it champion if it passes the gate")


@app.command()
def backtest(
    warehouse: WarehouseOpt = DEFAULT_WAREHOUSE,
    contract: ContractOpt = None,
    quarters: Annotated[int, typer.Option(help="How many of the latest periods to replay.")] = 4,
    as_of: AsOfOpt = None,
    horizon_days: HorizonOpt = None,
    rules: RulesOpt = None,
    capacity: CapacityOpt = None,
    decision: DecisionOpt = None,
    handoff_after: HandoffAfterOpt = None,
) -> None:
    """For each of the last N periods (quarters, or blocks of leads at the handoff): run the
    training procedure on what was known before it (every model family), test on it."""
    from leadscore.training import BacktestConfig
    from leadscore.training import backtest as run_backtest

    prepared = _prepare(contract, warehouse, as_of)
    result = run_backtest(
        BacktestConfig(warehouse=warehouse, quarters=quarters, as_of=as_of,
                       horizon_days=horizon_days,
                       contract=_at_decision(prepared.contract, decision, handoff_after),
                       rules_path=str(rules) if rules else None, capacity=capacity),
        progress=lambda msg: console.log(msg),
    )  # fmt: skip
    out.print(_folds_table(result.table, "Backtest: each period tested on models fitted before "
                           "it", summary=result.summary))  # fmt: skip
    if result.tournament is not None:
        for sentence in result.tournament.sentences():
            out.print(sentence)
    out.print(f"logged as MLflow run {result.run_id} (one child run per period)")


def _folds_table(folds: pd.DataFrame, title: str, summary: pd.DataFrame | None = None) -> Table:
    """Per fold and scorer: ROC AUC, PR AUC, Brier, ECE, captured at capacity, lift; then
    each scorer's mean and standard deviation over the folds."""
    import pandas as pd
    from leadscore.training import BACKTEST_METRICS

    cols = [m for m in BACKTEST_METRICS if m in ("roc_auc", "pr_auc", "brier", "ece",
                                                 "captured_at_capacity", "lift_top_decile")]
    table = Table(title=title)
    heads = {"roc_auc": "ROC AUC", "pr_auc": "PR AUC", "brier": "Brier", "ece": "ECE",
             "captured_at_capacity": "captured", "lift_top_decile": "top-decile lift"}
    for c in ("period", "scorer", *cols, "positives", "capacity"):
        table.add_column(heads.get(c, c), justify="left" if c in ("period", "scorer") else "right",
                         no_wrap=c == "period")  # fmt: skip
    for _, row in folds.iterrows():
        table.add_row(row["quarter"], _LABELS.get(row["scorer"], row["scorer"]), *[
            f"{row[c]:.1f}" if c == "captured_at_capacity" else f"{row[c]:.3f}" for c in cols],
            f"{row['positives']:.0f}", f"{row['capacity']:.0f}")  # fmt: skip
    if summary is None:
        grouped = folds.groupby("scorer", sort=False)[cols]
        summary = pd.concat([grouped.mean().add_suffix("_mean"), grouped.std().add_suffix("_std")],
                            axis=1)  # fmt: skip
    for scorer, row in summary.iterrows():
        table.add_row("mean ± sd", _LABELS.get(str(scorer), str(scorer)), *[
            f"{row[c + '_mean']:.3f} ± {row[c + '_std']:.3f}" for c in cols], "", "")  # fmt: skip
    return table


CompareModelsOpt = Annotated[
    list[str] | None,
    typer.Option("--model", help="MLflow model URI; give it twice for one model per decision. "
                 "Default: the contract's champion, and its sibling at the other decision "
                 "(<name>-handoff or <name>-pipeline) when one is registered."),
]  # fmt: skip


def _compare_models(given: list[str] | None, contract: Contract
                    ) -> tuple[list[str], tuple[tuple[str, str], ...]]:  # fmt: skip
    """The models to compare and, per decision left without one, why."""
    from leadscore.training._registry import alias_version

    if given:
        if len(given) > 2:
            raise ConfigError(f"--model: at most two models (one per decision), got {len(given)}")
        return list(given), ()
    own = contract.decision_moment
    other: Literal["handoff", "pipeline"] = "pipeline" if own == "handoff" else "handoff"
    uris = [f"models:/{contract.model_name}@champion"]
    sibling = contract.name_at(other)
    if alias_version(sibling, "champion") is not None:
        uris.append(f"models:/{sibling}@champion")
        return uris, ()
    if not contract.has_time or (other == "pipeline" and contract.events is None):
        reason = ("has no time" if not contract.has_time else
                  "has no events: each lead is scored once, at its handoff")  # fmt: skip
        why = (f"The data {reason}, so there is no {other} decision to compare: the {own} "
               "section is the whole comparison.")  # fmt: skip
    else:
        where = f" --contract {contract.path}" if contract.path else ""
        why = (f"No model trained at the {other} decision is registered ({sibling}@champion). "
               f"Train one: leadscore train{where} --decision {other}")  # fmt: skip
    return uris, ((other, why),)


@app.command()
def compare(
    report: Annotated[
        Path, typer.Option(help="Where to write the HTML report (JSON goes beside it).")
    ],
    warehouse: WarehouseOpt = DEFAULT_WAREHOUSE,
    contract: ContractOpt = None,
    model: CompareModelsOpt = None,
    as_of: AsOfOpt = None,
    capacity: CapacityOpt = None,
) -> None:
    """Model vs rules (or your existing score) on the latest labelled period, at the handoff
    (new leads, as marketing passes them to sales) and in the pipeline (open leads): one
    HTML report, handoff first, and its JSON twin."""
    from leadscore.training import CompareConfig
    from leadscore.training import compare as run_compare
    from leadscore.training._report import SECTION_TITLES

    prepared = _prepare(contract, warehouse, as_of)
    uris, missing = _compare_models(model, prepared.contract)
    result = run_compare(
        CompareConfig(warehouse=warehouse, report=report, model_uri=uris[0],
                      other_model_uri=uris[1] if len(uris) > 1 else None, as_of=as_of,
                      capacity_per_week=capacity, contract_name=prepared.contract.model_name,
                      missing=missing),
        progress=lambda msg: console.log(msg),
    )  # fmt: skip
    for kind, section in result.sections():
        out.print(f"[bold]{SECTION_TITLES[kind]}[/]")
        out.print(section["headline"]["sentence"])
        for note in section["meta"]["notes"] + section.get("selective_labels", {}).get("notes", []):
            out.print(f"[yellow]{note}[/]")
        if "sales_actions" in section and section["sales_actions"]["sales_only"]:
            out.print(f"[yellow]{section['sales_actions']['sentence']}[/]")
        out.print("[bold]Drift[/] (the rows the model was fitted on vs these):")
        for sentence in section["drift"]["sentences"]:
            out.print(f"  {sentence}")
    for _, why in missing:
        out.print(f"[yellow]{why}[/]")
    out.print(
        f"report: {result.html_path}  figures: {result.json_path}  MLflow run {result.run_id}"
    )


@app.command()
def promote(
    warehouse: WarehouseOpt = DEFAULT_WAREHOUSE,
    contract: ContractOpt = None,
    gate: GateOpt = None,
    as_of: AsOfOpt = None,
    name: Annotated[
        str | None, typer.Option(help="Registered model name (default: the contract's).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Move @champion to @challenger even when checks "
                           "fail (the MLflow run records that it was forced).")
    ] = False,
) -> None:
    """Move @champion to @challenger if the promotion gate passes on the latest period (its
    checks: ranking, conversions at capacity, calibration relative to the base rate, and the
    challenger's own backtest verdict)."""
    from leadscore.training import load_gate
    from leadscore.training import promote as run_promote

    prepared = _prepare(contract, warehouse, as_of)
    model_name = name or prepared.contract.model_name
    result = run_promote(warehouse, model_name=model_name, gate=load_gate(gate), as_of=as_of,
                         force=force)  # fmt: skip
    if result.checks:
        period = f"{result.snapshot:%Y-%m-%d}" if result.snapshot else "the test split"
        table = Table(title=f"Promotion gate on {period}: v{result.challenger_version} vs "
                      f"champion v{result.champion_version}")  # fmt: skip
        for header in ("check", "challenger", "bound", "passed", "detail"):
            table.add_column(header)
        for c in result.checks:
            table.add_row(c.name, f"{c.challenger:.4f}", f"{c.bound:.4f}",
                          "yes" if c.passed else "[red]no[/]", c.detail)  # fmt: skip
        out.print(table)
    out.print(
        ("[green]promoted[/]: " if result.promoted else "[red]not promoted[/]: ") + result.reason
    )
    if not result.promoted and result.checks:
        raise typer.Exit(code=6)


@app.command()
def rollback(
    contract: ContractOpt = None,
    name: Annotated[
        str | None, typer.Option(help="Registered model name (default: the contract's).")
    ] = None,
) -> None:
    """Move @champion back to the previous champion."""
    from leadscore.training import configure_tracking
    from leadscore.training._registry import rollback as run_rollback

    configure_tracking()
    model_name = name or _contract(contract).model_name
    previous, current = run_rollback(model_name)
    out.print(f"champion of {model_name}: version {previous} -> version {current}")


@app.command()
def score(
    warehouse: WarehouseOpt = DEFAULT_WAREHOUSE,
    contract: ContractOpt = None,
    model: ModelOpt = None,
    as_of: AsOfOpt = None,
    reasons: Annotated[
        str,
        typer.Option(
            help="Model reasons (exact SHAP, ~150x a prediction) for: 'capacity' (the leads "
            "sales can work in a quarter, measured from the data), 'all', 'none', or the top N."
        ),
    ] = "capacity",
    require: Annotated[
        str | None,
        typer.Option(help="Comma-separated attributes without which a lead is not scored "
                     "(it goes to lead_score_errors)."),
    ] = None,
    features_table: Annotated[
        str | None,
        typer.Option(help="Read the lead frame from this table (see `leadscore features`)."),
    ] = None,
    output_parquet: Annotated[
        str | None,
        typer.Option(help="Spark: write Parquet partitions under this path instead of tables."),
    ] = None,
    chunk_rows: Annotated[
        int, typer.Option(help="Leads scored per chunk (progress and peak memory per chunk).")
    ] = 100_000,
    allow_future_as_of: Annotated[
        bool, typer.Option(help="Score at an --as-of later than now (refused by default).")
    ] = False,
) -> None:
    """Score the leads of the model's decision moment (open leads at --as-of, or each new
    lead at its handoff) and write table lead_scores (atomic per as_of)."""
    from leadscore.serving._batch import LEAD_SCORE_ERRORS, ScoreConfig, score_warehouse

    if warehouse.startswith("spark://") and contract is not None:
        raise ConfigError("--contract cannot be imported into a Spark warehouse: import it into "
                          "DuckDB or PostgreSQL, copy the tables, then score on Spark")  # fmt: skip
    prepared = _prepare(contract, warehouse, as_of)
    required = tuple(c.strip() for c in (require or "").split(",") if c.strip())
    config = ScoreConfig(warehouse=warehouse, model_uri=_model_uri(model, prepared.contract),
                         as_of=as_of, reasons=reasons, required=required,
                         features_table=features_table, chunk_rows=chunk_rows,
                         allow_future_as_of=allow_future_as_of)  # fmt: skip
    if warehouse.startswith("spark://"):
        # Spark: features in Spark SQL, scores in the executors (mapInPandas, broadcast model)
        from leadscore.serving._spark_score import score_spark

        result = score_spark(config, output_parquet=output_parquet)
    else:
        with _progress() as bar:
            task = bar.add_task("scoring leads", total=None)
            result = score_warehouse(
                config, progress=lambda done, total: bar.update(task, completed=done, total=total)
            )
    out.print(f"wrote {result.rows:,} rows to table {result.table} (as_of {result.as_of}, "
              f"{result.model_name} v{result.model_version}, reasons for {result.reasons_rows:,}) "
              f"in {result.seconds:.1f} s")  # fmt: skip
    if result.validation_reused:
        out.print(f"tables unchanged since `leadscore features` validated them for table "
                  f"{features_table}: not validated again")  # fmt: skip
    if result.errors:
        detail = "; ".join(f"{n:,} x {r}" for r, n in result.error_reasons.items())
        out.print(f"{result.errors:,} leads could not be scored, see table "
                  f"{LEAD_SCORE_ERRORS}: {detail}")  # fmt: skip
    else:
        out.print("0 leads could not be scored")


@app.command()
def features(
    warehouse: WarehouseOpt = DEFAULT_WAREHOUSE,
    contract: ContractOpt = None,
    as_of: AsOfOpt = None,
    table: Annotated[str, typer.Option(help="Table to write (one partition per as_of).")] = (
        "lead_features"
    ),
) -> None:
    """Materialise the point-in-time lead frame of the leads to score (atomic per as_of)."""
    from datetime import UTC

    from leadscore.features import Warehouse
    from leadscore.features._spec import spec_for
    from leadscore.serving._batch import materialise_features

    prepared = _prepare(contract, warehouse, as_of)
    with Warehouse(warehouse, read_only=True) as wh:
        spec = spec_for(prepared.contract, wh)
    when = as_of or datetime.now(UTC).replace(tzinfo=None)
    took: dict[str, float] = {}
    rows = materialise_features(warehouse, when, table=table, spec=spec, timings=took)
    index = f", index {took['index']:.1f} s" if took["index"] >= 0.1 else ""  # (built once)
    out.print(f"wrote {rows:,} rows to table {table} (as_of {when}): validated in "
              f"{took['validate']:.1f} s{index}, features in {took['features']:.1f} s, written "
              f"in {took['write']:.1f} s")  # fmt: skip


@app.command("init-contract")
def init_contract(
    source: Annotated[
        str,
        typer.Option(help="The contacts: a CSV/Parquet file, a .duckdb file, or a duckdb:/// or "
                     "postgresql:// URL (one export with a label column is enough)."),
    ],
    events: Annotated[str | None, typer.Option(help="The events (activity log), if any.")] = None,
    outcomes: Annotated[
        str | None, typer.Option(help="The outcomes (closed opportunities), if not a column.")
    ] = None,
    table: Annotated[str | None, typer.Option(help="The contacts table (databases).")] = None,
    output: Annotated[Path, typer.Option(help="Where to write the contract.")] = Path(
        "leadscore.yaml"
    ),
    force: Annotated[bool, typer.Option(help="Overwrite an existing contract.")] = False,
) -> None:
    """Write a starting contract by inspecting your sources (review its TODO lines, then use
    it with --contract)."""
    from leadscore.features._init_contract import write_starting_contract
    from leadscore.training import review_columns

    if output.exists() and not force:
        raise ConfigError(f"{output} exists; pass --force to overwrite it")
    text = write_starting_contract(source, table=table, contract_dir=output.resolve().parent,
                                   events=events, outcomes=outcomes, review=review_columns)  # fmt: skip
    output.write_text(text)
    out.print(f"wrote {output}; review its TODO lines, then: leadscore train --contract {output}")


@app.command()
def serve(
    contract: ContractOpt = None,
    model: ModelOpt = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (each loads the model).")] = 1,
    poll_seconds: Annotated[
        float | None, typer.Option(help="Alias check interval (default 30).")
    ] = None,
    max_leads: Annotated[
        int | None, typer.Option(help="Most leads per request (default 1000).")
    ] = None,
) -> None:
    """Serve POST /v1/score (model probability + rule score per lead) over HTTP."""
    import copy
    import os

    import uvicorn
    from leadscore.serving._settings import settings_from_env
    from leadscore.training import configure_tracking

    model = _model_uri(model, _contract(contract))
    settings = settings_from_env(model_uri=model, poll_seconds=poll_seconds, max_leads=max_leads)
    # Workers are separate processes: hand them the settings and the tracking store
    # through the environment they inherit.
    os.environ["LEADSCORE_MODEL_URI"] = settings.model_uri
    os.environ["LEADSCORE_POLL_SECONDS"] = str(settings.poll_seconds)
    os.environ["LEADSCORE_MAX_LEADS"] = str(settings.max_leads)
    os.environ["MLFLOW_TRACKING_URI"] = configure_tracking()
    # uvicorn configures logging in each worker: route leadscore's loggers there too
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    levels = {"leadscore.serving": "INFO", "leadscore.models": "INFO", "leadscore.training": "INFO",
              "leadscore.features": "WARNING"}
    for name, level in levels.items():  # features logs every frame it builds: too chatty here
        log_config["loggers"][name] = {"handlers": ["default"], "level": level, "propagate": False}
    uvicorn.run("leadscore.serving._app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="info", access_log=False, log_config=log_config)  # fmt: skip


@app.command()
def demo(
    workdir: Annotated[Path, typer.Option(help="Where the warehouse and MLflow store go.")] = Path(
        "demo-output"
    ),
    contacts: Annotated[int, typer.Option(help="Synthetic contacts to generate.")] = 50_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
) -> None:
    """Generate a synthetic CRM, train at the handoff and in the pipeline, compare both with
    the rules (the handoff first), batch-score the open leads."""
    from leadscore.serving._demo import comparison_lines, run_demo

    result = run_demo(workdir, contacts=contacts, seed=seed, say=lambda msg: console.log(msg))
    for line in comparison_lines(result.compared.figures):
        out.print(line, highlight=False)
    for t in (result.handoff, result.train):
        out.print(f"[bold]Verdict at the {t.spec.decision}:[/]")
        for sentence in t.verdict:
            out.print(f"  {sentence}")
    where = Table(title="Outputs", show_header=False)
    where.add_row("warehouse", result.warehouse)
    where.add_row("MLflow tracking URI", result.tracking_uri)
    for t in (result.handoff, result.train):
        where.add_row(f"registered model ({t.spec.decision})",
                      f"{t.model_name} v{t.model_version} (@{', @'.join(t.aliases)})")  # fmt: skip
    out.print(f"report: {result.compared.html_path} (figures: {result.compared.json_path})",
              soft_wrap=True, highlight=False)  # fmt: skip
    where.add_row("scores table", f"{result.score.table}: {result.score.rows:,} rows as of "
                  f"{result.score.as_of:%Y-%m-%d}")  # fmt: skip
    out.print(where)


_LABELS = {"lightgbm": "LightGBM", "logistic": "logistic regression",
           "rules": "rules (points)", "existing_score": "your existing score",
           "ceiling": "ceiling (latent propensity)"}  # fmt: skip


def _metrics_table(metrics: dict[str, dict[str, float]], capacity: int, title: str,
                   registered: str | None = None) -> Table:  # fmt: skip
    """Every scorer on the same test rows; ``model`` (the registered family) is shown once,
    under its family's name."""
    table = Table(title=f"Every scorer, {title} (capacity {capacity:,} leads)")
    table.add_column("scorer")
    for col in ("ROC AUC", "PR AUC", "Brier", "ECE", "captured at capacity", "share captured"):
        table.add_column(col, justify="right")
    for name, m in metrics.items():
        if name == "model":
            continue
        label = _LABELS.get(name, name)
        if name == registered:
            label = f"model ({label})"
        table.add_row(
            label, f"{m['roc_auc']:.3f}", f"{m['pr_auc']:.3f}",
            f"{m.get('brier', float('nan')):.4f}", f"{m.get('ece', float('nan')):.4f}",
            f"{m['captured_at_capacity']:.1f} of {m['positives']:.0f}",
            f"{m['share_captured_at_capacity']:.1%}",
        )  # fmt: skip
    return table


def main() -> None:
    """Console entry point: maps leadscore errors to exit codes with a one-paragraph message."""
    try:
        app()
    except LeadscoreError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
