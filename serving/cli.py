"""The ``leadscore`` command line. The CLI owns the terminal: library code only logs."""

from __future__ import annotations

import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from leadscore.features import DEFAULT_WAREHOUSE, LeadscoreError
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    from leadscore.features._import import ImportResult

app = typer.Typer(
    help="leadscore: a calibrated lead-quality model beside your rule score, compared fairly.",
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
    typer.Option(
        "--contract",
        help="A leadscore.yaml data contract: flat mode (one CRM export), or tables mode (your "
        "contacts/events/outcomes, imported into --warehouse first).",
    ),
]
AsOfOpt = Annotated[
    datetime | None,
    typer.Option("--as-of", help="Point in time (YYYY-MM-DD[THH:MM:SS], UTC).", formats=[
        "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]),
]  # fmt: skip


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


def _contract_mode(contract: Path | None, warehouse: str) -> Literal["flat"] | ImportResult | None:
    """``"flat"`` for a flat-mode contract (the command then runs in flat mode); for a
    tables-mode contract, what importing its tables into ``warehouse`` did (see
    :mod:`features._import`: the command then runs on that warehouse as usual); None
    without a contract."""
    if contract is None:
        return None
    from leadscore.features._contract import load_contract
    from leadscore.features._import import import_tables

    parsed = load_contract(contract)
    if parsed.mode == "flat":
        return "flat"
    result = import_tables(parsed, warehouse, progress=lambda msg: console.log(msg))
    if not result.skipped:
        out.print(f"imported {', '.join(f'{t}: {n:,}' for t, n in result.rows.items())} rows "
                  f"into {warehouse} in {result.seconds:.1f} s")  # fmt: skip
    for note in result.notes():
        out.print(f"[yellow]{note}[/]")
    return result


def _horizon(given: int | None, imported: ImportResult | None) -> int:
    """--horizon-days if given, else the imported contract's label.horizon_days, else 90."""
    if given is not None:
        return given
    return imported.horizon_days if imported is not None else 90


def _metric_rows(metrics: dict[str, dict[str, float]]) -> Table:
    table = Table(title="test rows")
    names = ("roc_auc", "pr_auc", "brier", "ece", "captured_at_capacity")
    table.add_column("scorer")
    for n in names:
        table.add_column(n, justify="right")
    for scorer, values in metrics.items():
        table.add_row(scorer, *[f"{values[n]:.4f}" if n in values else "" for n in names])
    return table


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
    """Check the warehouse tables (or a contract's export) against the data contract."""
    from leadscore.features import Warehouse, validate_warehouse

    if _contract_mode(contract, warehouse) == "flat":
        from leadscore.features._contract import load_contract
        from leadscore.features._flat import load_flat

        assert contract is not None
        data = load_flat(load_contract(contract))
        out.print(data.describe())
        return

    with Warehouse(warehouse, read_only=True) as wh:
        report = validate_warehouse(wh)
    out.print(f"ok: {report.row_counts}; data from {report.data_start} to {report.data_end}")


@app.command("train")
def train_cmd(
    warehouse: WarehouseOpt = DEFAULT_WAREHOUSE,
    as_of: AsOfOpt = None,
    horizon_days: Annotated[
        int | None,
        typer.Option(help="Label horizon (sales cycle) in days (default: the contract's, or 90)."),
    ] = None,
    rules: Annotated[
        Path | None, typer.Option(help="Rules YAML (default: packaged rules).")
    ] = None,
    capacity: Annotated[
        int | None, typer.Option(help="Leads sales can work per horizon (default: from data).")
    ] = None,
    contract: ContractOpt = None,
    allow_leaky: Annotated[
        bool, typer.Option(help="Train even when the leakage guard finds suspects.")
    ] = False,
) -> None:
    """Train on quarterly snapshots, compare with the rules on the held-out quarter, register
    as @challenger (and @champion if there is none yet). With a flat-mode --contract: guard
    against leakage, train on the earlier rows, test on the latest 20%."""
    from leadscore.training import TrainConfig, train

    mode = _contract_mode(contract, warehouse)
    if mode == "flat":
        from leadscore.training._flat_train import train_flat

        assert contract is not None
        flat = train_flat(contract, allow_leaky=allow_leaky, capacity=capacity,
                          progress=lambda msg: console.log(msg))  # fmt: skip
        out.print(_metric_rows(flat.metrics))
        out.print(flat.verdict)
        out.print(f"registered [bold]{flat.model_name}[/] version {flat.model_version} as "
                  f"@{', @'.join(flat.aliases)}; run {flat.run_id} at {flat.tracking_uri}")  # fmt: skip
        return

    result = train(
        TrainConfig(warehouse=warehouse, as_of=as_of, horizon_days=_horizon(horizon_days, mode),
                    rules_path=str(rules) if rules else None, capacity=capacity,
                    allow_leaky=allow_leaky,
                    known_before_contact=tuple(mode.known_before_contact) if mode else ()),
        progress=lambda msg: console.log(msg),
    )  # fmt: skip
    out.print(
        _metrics_table(
            result.metrics, result.capacity, f"held-out quarter from {result.split.test:%Y-%m-%d}"
        )
    )
    out.print(f"registered [bold]{result.model_name}[/] version {result.model_version} as "
              f"@{', @'.join(result.aliases)}; run {result.run_id} at {result.tracking_uri}")  # fmt: skip
    if "champion" not in result.aliases:
        out.print("run `leadscore promote` to make it champion if it passes the gate")


@app.command()
def backtest(
    warehouse: WarehouseOpt = DEFAULT_WAREHOUSE,
    quarters: Annotated[int, typer.Option(help="How many of the latest quarters to replay.")] = 4,
    as_of: AsOfOpt = None,
    horizon_days: Annotated[
        int | None, typer.Option(help="Label horizon in days (default: the contract's, or 90).")
    ] = None,
    rules: Annotated[
        Path | None, typer.Option(help="Rules YAML (default: packaged rules).")
    ] = None,
    capacity: Annotated[
        int | None, typer.Option(help="Leads per horizon (default: from data).")
    ] = None,
    contract: ContractOpt = None,
    allow_leaky: Annotated[
        bool, typer.Option(help="Run even when the leakage guard finds suspects.")
    ] = False,
) -> None:
    """For each of the last N quarters: train on what was known before it, test on it.
    With a flat-mode --contract: rolling-origin folds over the latest blocks of rows."""
    from leadscore.training import BACKTEST_METRICS, BacktestConfig
    from leadscore.training import backtest as run_backtest

    mode = _contract_mode(contract, warehouse)
    if mode == "flat":
        from leadscore.training._flat_backtest import backtest_flat

        assert contract is not None
        flat = backtest_flat(contract, folds=quarters, allow_leaky=allow_leaky,
                             progress=lambda msg: console.log(msg))  # fmt: skip
        out.print(flat.description)
        out.print(flat.summary.to_string(float_format=lambda v: f"{v:.4f}"))
        out.print(f"logged as MLflow run {flat.run_id}")
        return

    result = run_backtest(
        BacktestConfig(warehouse=warehouse, quarters=quarters, as_of=as_of,
                       horizon_days=_horizon(horizon_days, mode),
                       rules_path=str(rules) if rules else None, capacity=capacity),
        progress=lambda msg: console.log(msg),
    )  # fmt: skip
    counts = ("share_captured_at_capacity", "positives", "rows", "capacity")
    cols = [m for m in BACKTEST_METRICS if m not in counts]
    table = Table(title="Backtest: each quarter tested on a model trained before it")
    for c in ("quarter", "scorer", *cols, "positives", "capacity"):
        table.add_column(c, justify="left" if c in ("quarter", "scorer") else "right")
    for _, row in result.table.iterrows():
        table.add_row(row["quarter"], row["scorer"], *[f"{row[c]:.4f}" if c not in (
            "captured_at_capacity",) else f"{row[c]:.1f}" for c in cols],
            f"{row['positives']:.0f}", f"{row['capacity']:.0f}")  # fmt: skip
    for scorer, row in result.summary.iterrows():
        table.add_row("mean ± sd", str(scorer), *[
            f"{row[c + '_mean']:.4f} ± {row[c + '_std']:.4f}" for c in cols], "", "")  # fmt: skip
    out.print(table)
    out.print(f"logged as MLflow run {result.run_id} (one child run per quarter)")


@app.command()
def compare(
    report: Annotated[
        Path, typer.Option(help="Where to write the HTML report (JSON goes beside it).")
    ],
    warehouse: WarehouseOpt = DEFAULT_WAREHOUSE,
    model: Annotated[str, typer.Option(help="MLflow model URI.")] = "models:/lead-quality@champion",
    as_of: AsOfOpt = None,
    capacity: Annotated[
        float | None, typer.Option(help="Leads sales can work per WEEK (default: from data).")
    ] = None,
    contract: ContractOpt = None,
) -> None:
    """Model vs rules on the latest quarter with known outcomes: HTML report + JSON. With a
    flat-mode --contract: model vs the export's rule score (or the baseline) on the test rows."""
    from leadscore.training import CompareConfig
    from leadscore.training import compare as run_compare

    if _contract_mode(contract, warehouse) == "flat":
        from leadscore.training._flat_compare import compare_flat

        assert contract is not None
        uri = model if model != "models:/lead-quality@champion" else (
            "models:/lead-quality-flat@champion")  # fmt: skip
        flat = compare_flat(contract, uri, report, progress=lambda msg: console.log(msg))
        out.print(flat.figures.get("headline", {}).get("sentence", ""))
        out.print(f"report: {flat.html_path}  figures: {flat.json_path}  MLflow run {flat.run_id}")
        return

    result = run_compare(
        CompareConfig(warehouse=warehouse, report=report, model_uri=model, as_of=as_of,
                      capacity_per_week=capacity),
        progress=lambda msg: console.log(msg),
    )  # fmt: skip
    out.print(result.figures["headline"]["sentence"])
    for note in result.figures["meta"]["notes"]:
        out.print(f"[yellow]{note}[/]")
    out.print(
        f"report: {result.html_path}  figures: {result.json_path}  MLflow run {result.run_id}"
    )


@app.command()
def promote(
    warehouse: WarehouseOpt = DEFAULT_WAREHOUSE,
    gate: Annotated[
        Path | None, typer.Option(help="Gate YAML (max_roc_auc_drop, max_captured_drop, max_ece).")
    ] = None,
    as_of: AsOfOpt = None,
    name: Annotated[str, typer.Option(help="Registered model name.")] = "lead-quality",
) -> None:
    """Move @champion to @challenger if the promotion gate passes on the latest quarter."""
    from leadscore.training import load_gate
    from leadscore.training import promote as run_promote

    result = run_promote(warehouse, model_name=name, gate=load_gate(gate), as_of=as_of)
    if result.checks:
        table = Table(
            title=f"Promotion gate on {result.snapshot:%Y-%m-%d}: v{result.challenger_version} vs champion v{result.champion_version}"
        )
        for header in ("check", "challenger", "bound", "passed", "detail"):
            table.add_column(header)
        for c in result.checks:
            table.add_row(
                c.name,
                f"{c.challenger:.4f}",
                f"{c.bound:.4f}",
                "yes" if c.passed else "[red]no[/]",
                c.detail,
            )
        out.print(table)
    out.print(
        ("[green]promoted[/]: " if result.promoted else "[red]not promoted[/]: ") + result.reason
    )
    if not result.promoted and result.checks:
        raise typer.Exit(code=6)


@app.command()
def rollback(
    name: Annotated[str, typer.Option(help="Registered model name.")] = "lead-quality",
) -> None:
    """Move @champion back to the previous champion."""
    from leadscore.training import configure_tracking
    from leadscore.training._registry import rollback as run_rollback

    configure_tracking()
    previous, current = run_rollback(name)
    out.print(f"champion of {name}: version {previous} -> version {current}")


@app.command()
def score(
    warehouse: WarehouseOpt = DEFAULT_WAREHOUSE,
    model: Annotated[str, typer.Option(help="MLflow model URI.")] = "models:/lead-quality@champion",
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
        typer.Option(
            help="Comma-separated attributes without which a lead is not scored "
            "(it goes to lead_score_errors)."
        ),
    ] = None,
    features_table: Annotated[
        str | None,
        typer.Option(help="Read the lead frame from this table (see `leadscore features`)."),
    ] = None,
    contract: ContractOpt = None,
    output: Annotated[
        Path | None, typer.Option(help="Flat mode: scores file to write (.csv or .parquet).")
    ] = None,
    all_rows: Annotated[
        bool, typer.Option("--all", help="Flat mode: score every row, not only open ones.")
    ] = False,
    output_parquet: Annotated[
        str | None,
        typer.Option(help="Spark: write Parquet partitions under this path instead of tables."),
    ] = None,
    chunk_rows: Annotated[
        int, typer.Option(help="Leads scored per chunk (progress and peak memory per chunk).")
    ] = 100_000,
) -> None:
    """Score every open contact and write table lead_scores (atomic per as_of). With a
    flat-mode --contract: score the export's open rows into --output (atomic)."""
    from leadscore.serving._batch import LEAD_SCORE_ERRORS, ScoreConfig, score_warehouse

    if _contract_mode(contract, warehouse) == "flat":
        from leadscore.training._flat_score import score_flat

        assert contract is not None
        uri = model if model != "models:/lead-quality@champion" else (
            "models:/lead-quality-flat@champion")  # fmt: skip
        flat = score_flat(contract, uri, output or Path("scores.csv"), all_rows=all_rows,
                          reasons=reasons != "none", progress=lambda msg: console.log(msg))  # fmt: skip
        out.print(f"wrote {flat.rows:,} rows ({flat.scope}) to {flat.path} with "
                  f"{flat.model_uri} (version {flat.model_version})")  # fmt: skip
        for note in flat.notes:
            out.print(f"[yellow]{note}[/]")
        return

    required = tuple(c.strip() for c in (require or "").split(",") if c.strip())
    config = ScoreConfig(warehouse=warehouse, model_uri=model, as_of=as_of, reasons=reasons,
                         required=required, features_table=features_table,
                         chunk_rows=chunk_rows)  # fmt: skip
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
    if result.errors:
        detail = "; ".join(f"{n:,} x {r}" for r, n in result.error_reasons.items())
        out.print(f"{result.errors:,} leads could not be scored, see table "
                  f"{LEAD_SCORE_ERRORS}: {detail}")  # fmt: skip
    else:
        out.print("0 leads could not be scored")


@app.command()
def features(
    warehouse: WarehouseOpt = DEFAULT_WAREHOUSE,
    as_of: AsOfOpt = None,
    table: Annotated[str, typer.Option(help="Table to write (one partition per as_of).")] = (
        "lead_features"
    ),
) -> None:
    """Materialise the point-in-time lead frame of every open contact (atomic per as_of)."""
    from datetime import UTC

    from leadscore.serving._batch import materialise_features

    when = as_of or datetime.now(UTC).replace(tzinfo=None)
    rows = materialise_features(warehouse, when, table=table)
    out.print(f"wrote {rows:,} rows to table {table} (as_of {when})")


@app.command("init-contract")
def init_contract(
    source: Annotated[
        str,
        typer.Option(
            help="A CSV/Parquet file, a .duckdb file, or a duckdb:/// or postgresql:// URL."
        ),
    ],
    table: Annotated[str | None, typer.Option(help="The leads table (databases).")] = None,
    output: Annotated[Path, typer.Option(help="Where to write the contract.")] = Path(
        "leadscore.yaml"
    ),
    force: Annotated[bool, typer.Option(help="Overwrite an existing contract.")] = False,
) -> None:
    """Write a starting flat-mode contract by inspecting a source (edit its TODOs, then use
    it with --contract)."""
    from leadscore.features import ConfigError
    from leadscore.features._contract import write_starting_contract

    if output.exists() and not force:
        raise ConfigError(f"{output} exists; pass --force to overwrite it")
    text = write_starting_contract(source, table=table, contract_dir=output.resolve().parent)
    output.write_text(text)
    out.print(f"wrote {output}; review its TODO lines, then: leadscore train --contract {output}")


@app.command()
def serve(
    model: Annotated[
        str, typer.Option(help="MLflow model URI; an alias is followed.")
    ] = "models:/lead-quality@champion",
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
    """Generate a synthetic CRM, train and register, batch-score, and print the comparison."""
    from leadscore.serving._demo import run_demo

    result = run_demo(workdir, contacts=contacts, seed=seed, say=lambda msg: console.log(msg))
    t = result.train
    out.print(
        _metrics_table(t.metrics, t.capacity, f"held-out quarter from {t.split.test:%Y-%m-%d}")
    )
    where = Table(title="Outputs", show_header=False)
    where.add_row("warehouse", result.warehouse)
    where.add_row("MLflow tracking URI", result.tracking_uri)
    where.add_row(
        "registered model", f"{t.model_name} v{t.model_version} (@{', @'.join(t.aliases)})"
    )
    where.add_row(
        "scores table",
        f"{result.score.table}: {result.score.rows:,} rows as of {result.score.as_of:%Y-%m-%d}",
    )
    out.print(where)


def _metrics_table(metrics: dict[str, dict[str, float]], capacity: int, title: str) -> Table:
    table = Table(title=f"Model vs rules, {title} (capacity {capacity:,} leads)")
    table.add_column("scorer")
    for col in ("ROC AUC", "PR AUC", "Brier", "ECE", "captured at capacity", "share captured"):
        table.add_column(col, justify="right")
    labels = {
        "model": "model (LightGBM)",
        "rules": "rules (points)",
        "ceiling": "ceiling (latent propensity)",
    }
    for name, m in metrics.items():
        table.add_row(
            labels.get(name, name), f"{m['roc_auc']:.3f}", f"{m['pr_auc']:.3f}",
            f"{m.get('brier', float('nan')):.4f}",
            f"{m.get('ece', float('nan')):.4f}",
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
