"""``leadscore init-contract``: a commented starting contract written from a team's sources.

Contract: :func:`write_starting_contract` reads the contacts source (and, when given, an
events and an outcomes source), types every contact column the way the import will
(:func:`features._profile.profile_columns`) and returns the text of a contract in the one
format of :mod:`features._contract`, with comments and ``TODO`` lines where it could not
decide. The text loads back with :func:`features._contract.load_contract`. It guesses:

- the id (unique and never empty, named like an id), the creation time (a date named like a
  creation date), the label column when there is no outcomes source (a column whose values
  all read as won or lost, preferring label-like names), an existing score (a number named
  like a score), and the events' and outcomes' columns by name;
- the review list: columns named like things filled in during or after contact (status,
  stage, notes, call duration, last activity, owner ...) or whose values read like sales'
  own work (calls, callbacks, "converted", "qualified" ...), and, when ``review`` is given
  and a label column was found, the columns it names (the leakage guard's review list:
  a single-column ROC AUC high for an attribute known when the lead arrives, a
  missingness that predicts the outcome; see :func:`training.review_columns`, which the
  CLI passes) are written under ``known_after_contact`` with a TODO and the reason, asking
  a person to confirm, since leaving out a column wrongly costs a feature while keeping a
  leak fools everyone. Answering them there or under ``known_before_contact`` is what the
  guard asks for before training;
- ``column_types`` pinning the typing of every attribute, and every column left out with
  its reason as a comment.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Literal

import pandas as pd
from leadscore.features._contract import CSV_DELIMITERS, Source, detect_delimiter, name_words
from leadscore.features._errors import ConfigError
from leadscore.features._profile import (
    ColumnProfile,
    label_outcome,
    profile_columns,
    typed_column,
)

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Name hints, matched on a column's words (``Lead Status`` and ``leadStatus`` are
# ``lead``, ``status``) or on its snake_case form.
_LABEL_NAMES = frozenset(
    {
        "y",
        "label",
        "target",
        "won",
        "is_won",
        "converted",
        "is_converted",
        "conversion",
        "outcome",
        "result",
        "closed_won",
        "class",
        "status",
    }
)
_LABEL_WORDS = frozenset({"label", "target", "won", "converted", "outcome"})
_CREATED_WORDS = frozenset(
    {"created", "creation", "signup", "registered", "added", "inserted", "submitted"}
)
_CREATED_NAMES = frozenset({"create_date", "sign_up", "first_seen", "lead_date", "date_added"})
_ID_WORDS = frozenset({"id", "key", "uuid", "guid", "number", "no"})
_SCORE_WORDS = frozenset({"score", "grade", "rating"})
# Columns usually filled in during or after contact with sales.
_AFTER_CONTACT_WORDS = frozenset(
    {
        "status",
        "stage",
        "disposition",
        "outcome",
        "result",
        "reason",
        "notes",
        "note",
        "comment",
        "comments",
        "closed",
        "converted",
        "conversion",
        "won",
        "lost",
        "duration",
        "call",
        "calls",
        "contacted",
        "meeting",
        "meetings",
        "opportunity",
        "deal",
        "amount",
        "revenue",
        "modified",
        "updated",
    }
)
_AFTER_CONTACT_NAMES = ("last_activity", "last_contact", "last_touch", "last_call")
# Plain YAML scalars that would not be read back as the same text.
_YAML_WORDS = frozenset(
    {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "none", "~"}
)


AFTER_CONTACT_WORDS = _AFTER_CONTACT_WORDS | {"owner", "assigned", "tags", "tag", "quality",
                                              "grade", "activity", "disqualified", "qualified",
                                              "qualification", "rep", "profile"}  # fmt: skip
"""Words of a column name that read like sales' own work (matched on the name's words)."""
AFTER_CONTACT_NAMES = (*_AFTER_CONTACT_NAMES, "next_step", "follow_up")
SALES_VALUE_WORDS = frozenset({
    "call", "called", "calling", "callback", "ringing", "busy", "voicemail", "revert",
    "reverted", "converted", "closed", "qualified", "disqualified", "unqualified",
    "contacted", "unreachable", "sms", "meeting", "scheduled", "conversation", "junk",
    "followup", "negotiation", "proposal", "switched", "interested",
})  # fmt: skip
"""Words of a value that read like sales' own work."""
SALES_VALUE_SHARE = 0.05
ReviewColumns = Callable[[pd.DataFrame, Sequence[int], Mapping[str, str]],
                         Mapping[str, Sequence[str]]]  # fmt: skip
"""(typed candidate columns, 0/1 labels, column kinds) -> the columns to review and why."""
_EVENT_TIME_WORDS = frozenset({"occurred", "timestamp", "time", "date", "at", "ts", "when"})
_EVENT_TYPE_WORDS = frozenset({"type", "event", "activity", "action", "kind", "name"})


def _snake(name: str) -> str:
    return "_".join(name_words(name))


def _scalar(value: str) -> str:
    """``value`` as a one-line YAML scalar, quoted when YAML would misread it."""
    if _IDENT.match(value) and value.lower() not in _YAML_WORDS:
        return value
    if re.fullmatch(r"[A-Za-z_/.][\w .\-/]*[\w.]", value) and value.lower() not in _YAML_WORDS:
        return value  # plain text: Lead Number, emp.var.rate, /data/leads.csv
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML double-quoted one


def _only_table(url: str, source: str) -> str:
    from leadscore.features._warehouse import Warehouse

    with Warehouse(url, read_only=True) as wh:
        found = wh.tables()
    if len(found) != 1:
        raise ConfigError(
            f"source {source!r} holds {len(found)} tables {found}; name the leads table with "
            "--table"
        )
    return found[0]


def _source_for(source: str, table: str | None, delimiter: str | None,
                contract_dir: Path | None) -> Source:
    """The contract's ``source`` section for a path or URL given on the command line."""
    if source.startswith(("duckdb:///", "postgresql://", "postgres://")):
        kind: Literal["duckdb", "postgresql"] = (
            "duckdb" if source.startswith("duckdb:") else "postgresql"
        )
        return Source(kind=kind, url=source, table=table or _only_table(source, source))
    path = Path(source).expanduser()
    if not path.exists():
        raise ConfigError(f"source file {source!r} does not exist")
    written = str(path.resolve())
    if contract_dir is not None:
        with contextlib.suppress(ValueError):  # outside the folder: keep it absolute
            written = str(path.resolve().relative_to(contract_dir.resolve()))
    suffix = "".join(path.suffixes[-2:]).lower()
    if suffix.endswith((".parquet", ".pq")):
        return Source(kind="parquet", path=written)
    if suffix.endswith((".duckdb", ".db")):
        table = table or _only_table(f"duckdb:///{path}", source)
        return Source(kind="duckdb", path=written, table=table)
    if suffix.endswith((".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz")):
        found = delimiter or (_gzip_delimiter(path) if suffix.endswith(".gz")
                              else detect_delimiter(path))  # fmt: skip
        if found not in CSV_DELIMITERS:
            raise ConfigError(f"delimiter {found!r} is not one of {list(CSV_DELIMITERS)}")
        return Source(kind="csv", path=written, delimiter=None if found == "," else found)
    raise ConfigError(
        f"source {source!r}: expected a .csv, .parquet or .duckdb file, or a "
        "duckdb:///... or postgresql://... URL"
    )


def _gzip_delimiter(path: Path) -> str:
    """The delimiter of a gzipped CSV file, sniffed on its first 64 KiB decompressed (``,``
    when the sniffer cannot tell)."""
    with gzip.open(path, "rt", encoding="utf-8-sig", errors="replace", newline="") as handle:
        sample = handle.read(65536)
    try:
        return csv.Sniffer().sniff(sample, delimiters=CSV_DELIMITERS).delimiter
    except csv.Error:
        return ","


def _sample(source: Source, base: Path, limit: int) -> pd.DataFrame:
    """The first ``limit`` rows of ``source`` as the import reads them."""
    from leadscore.features._sources import load_source
    from leadscore.features._warehouse import Warehouse

    with Warehouse("duckdb:///:memory:") as stage:
        load_source(stage, "sample", source, base, "source", "duckdb:///:memory:")
        return stage.query(f"SELECT * FROM sample ORDER BY rowid LIMIT {int(limit)}")


def _source_lines(src: Source, indent: str = "    ") -> list[str]:
    lines = [f"{indent}kind: {src.kind}"]
    lines += [f"{indent}{key}: {_scalar(getattr(src, key))}" for key in ("path", "url", "table")
              if getattr(src, key) is not None]  # fmt: skip
    if src.delimiter is not None:
        lines.append(f"{indent}delimiter: {json.dumps(src.delimiter)}  # detected")
    return lines


def _pick(columns: Sequence[str], words: frozenset[str], exclude: Sequence[str] = ()) -> str | None:
    for column in columns:
        if column not in exclude and set(name_words(column)) & words:
            return column
    return None


def write_starting_contract(
    source: str,
    *,
    table: str | None = None,
    delimiter: str | None = None,
    contract_dir: str | Path | None = None,
    events: str | None = None,
    outcomes: str | None = None,
    sample_rows: int = 100_000,
    review: ReviewColumns | None = None,
) -> str:
    """The text of a starting contract (see the module docstring). ``source`` is the
    contacts: a CSV or Parquet file, a ``.duckdb`` file or a ``duckdb:///`` or
    ``postgresql://`` URL (then ``table`` names the table; it may be left out when the
    database holds only one); ``events`` and ``outcomes`` optional further sources. Paths
    are written relative to ``contract_dir`` when inside it, else absolute. ``review``
    measures the other columns against the label column found (see the module docstring)."""
    base = Path(contract_dir) if contract_dir is not None else None
    src = _source_for(source, table, delimiter, base)
    frame = _sample(src, base or Path.cwd(), sample_rows)
    if frame.empty:
        raise ConfigError(f"source {source!r} has no rows to inspect")
    profiles = profile_columns(frame)
    id_column, id_note = _guess_id(profiles)
    created, created_note = _guess_created(profiles)
    if outcomes is None:
        label, maybe_label, label_lines = _guess_label(frame, profiles)
    else:
        label, maybe_label, label_lines = None, None, []
    taken = {label, maybe_label, id_column, created}
    scores = [p.column for p in profiles if p.column not in taken and p.kind == "numeric"
              and set(name_words(p.column)) & _SCORE_WORDS]  # fmt: skip
    score = scores[0] if scores and not _after_contact(scores[0]) else None
    taken.add(score)
    after = [p for p in profiles if p.column not in taken and _after_contact(p.column)]
    notes = {p.column: "TODO confirm" for p in after}
    for p in profiles:
        if p.column in taken or p in after or p.kind != "categorical":
            continue
        counts = frame[p.column].dropna().astype(str).value_counts()
        shown = sales_like_values(list(counts.items()), len(frame))
        if shown:
            after.append(p)
            notes[p.column] = ("TODO review: its values read like sales' own work ("
                               + ", ".join(_short(v) for v in shown) + ")")  # fmt: skip
    if review is not None and label is not None:
        for column, reasons in _reviewed(frame, profiles, label, taken, after, review).items():
            after.append(next(p for p in profiles if p.column == column))
            notes[column] = "TODO review: " + "; ".join(reasons)
    roles = {r: c for r in ("title", "company_size", "industry", "country", "lead_source",
                            "email_domain", "phone_valid", "buying_timeline", "requested_demo")
             for c in [p.column for p in profiles] if _snake(c) == r and c not in taken}  # fmt: skip

    lines = [
        "# leadscore contract: a starting point written by `leadscore init-contract`",
        f"# from {source} ({len(frame)} rows read, {len(frame.columns)} columns).",
        "# Check every line marked TODO. Reference: the README, 'Bring your own data'.",
        "contacts:",
        "  source:",
        *_source_lines(src),
        "  columns:",
    ]
    single = events is None and outcomes is None  # one export: rows may be numbered
    if id_column is not None:
        lines.append(f"    contact_id: {_scalar(id_column)}  # {id_note}")
    elif single:
        lines.append(f"    contact_id: null  # TODO {id_note}")
    else:
        lines.append(f"    contact_id: TODO  # TODO {id_note}; events and outcomes name "
                     "contacts by it")  # fmt: skip
    if created is not None:
        lines.append(f"    created_at: {_scalar(created)}  # {created_note}")
    else:
        lines += [f"    created_at: null  # TODO {created_note}: without a time, splits are",
                  "    #   stratified-random and every report says so"]  # fmt: skip
    for role, column in roles.items():
        lines.append(f"    {role}: {_scalar(column)}  # a standard role: unlocks derived features")
    if created is None and single:
        lines += ["  # If the rows are in time order (oldest first), uncomment (or name a column",
                  "  # whose ascending order is time, such as a growing lead number):",
                  "  # order_by: row_order"]  # fmt: skip
    lines += [line.replace("  label:", "  outcome:", 1) for line in label_lines]
    if score is not None:
        lines.append(f"  existing_score: {_scalar(score)}  # guessed: the team's own score; "
                     "compared with the model, never a feature")  # fmt: skip
    lines += [
        "  # TODO review: columns named like things sales fill in during or after contact.",
        "  # They are never used while listed here; move one to known_before_contact only if",
        "  # it is truly known when the lead arrives (keeping a leak fools everyone).",
    ]
    if any(note != "TODO confirm" for note in notes.values()):
        lines += ["  # TODO review also: columns the leakage guard asks about (values like sales'",
                  "  # own work, or predicting the label too well for an attribute known when",
                  "  # the lead arrives); answer each here or under known_before_contact."]  # fmt: skip
    if after:
        lines.append("  known_after_contact:")
        lines += [f"    - {_scalar(p.column)}  # {notes[p.column]}; {p.summary()}" for p in after]
    else:
        lines.append("  known_after_contact: []")
    lines += [
        "  known_before_contact: []  # columns the leakage guard may flag but are safe",
        "  exclude: []",
        '  missing_values: ["Select", "--", "N/A"]  # form defaults read as missing; TODO adjust',
    ]
    used = [p for p in profiles if p.column not in taken and p.column not in roles.values()
            and p not in after]  # fmt: skip
    typed = [p for p in used if p.usable]
    if typed:
        lines.append("  column_types:  # the typing the import will use (first rows read)")
        lines += [f"    {_scalar(p.column)}: {p.kind}  # {p.summary()}" for p in typed]
    dropped = [p for p in used if not p.usable]
    if dropped:
        lines.append("  # left out automatically (identifiers, free text, dates, constants):")
        lines += [f"  #   {p.column}: {p.summary()}" for p in dropped]
    if events is not None:
        lines += _events_lines(events, base)
    label_section = ["label:"]
    if outcomes is not None:
        outcome_lines, label_section = _outcomes_lines(outcomes, base)
        lines += outcome_lines
    lines += [*label_section, "  horizon_days: 90  # TODO your sales cycle, in days"]
    return "\n".join(lines) + "\n"


def _events_lines(events: str, base: Path | None) -> list[str]:
    src = _source_for(events, None, None, base)
    frame = _sample(src, base or Path.cwd(), 50_000)
    cols = [str(c) for c in frame.columns]
    who = _pick(cols, _ID_WORDS | {"contact", "lead"}) or "TODO"
    when = next((c for c in cols if pd.api.types.is_datetime64_any_dtype(frame[c])), None)
    when = when or _pick(cols, _EVENT_TIME_WORDS, [who]) or "TODO"
    what = _pick(cols, _EVENT_TYPE_WORDS, [who, when]) or "TODO"
    types = (frame[what].value_counts().head(12).index.astype(str).tolist()
             if what in frame else [])  # fmt: skip
    return [
        "events:",
        "  source:",
        *_source_lines(src),
        f"  columns: {{contact_id: {_scalar(who)}, occurred_at: {_scalar(when)}, "
        f"event_type: {_scalar(what)}}}  # TODO check",
        f"  # event types found (most frequent first): {types}",
        "  # Each type is a feature of its own. TODO give meanings (your values):",
        "  # high_intent: [...]        # pricing views, demo requests, trials",
        "  # borrowed_interest: [...]  # giveaways, prize draws, event lunches, badge scans",
        "  # sales_owned: [...]        # calls, meetings, emails sent by sales: never a handoff feature",
    ]


def _outcomes_lines(outcomes: str, base: Path | None) -> tuple[list[str], list[str]]:
    """The ``outcomes`` section and the ``label`` section's value lists, guessed from the
    outcome values found (won: read as won or naming "won"; lost likewise; the rest open)."""
    src = _source_for(outcomes, None, None, base)
    frame = _sample(src, base or Path.cwd(), 50_000)
    cols = [str(c) for c in frame.columns]
    who = _pick(cols, _ID_WORDS | {"contact", "lead"}) or "TODO"
    when = next((c for c in cols if pd.api.types.is_datetime64_any_dtype(frame[c])), None) or "TODO"
    what = _pick(cols, frozenset({"outcome", "stage", "status", "result"}), [who, when]) or "TODO"
    values = (frame[what].dropna().astype(str).value_counts().head(10).index.tolist()
              if what in frame else [])  # fmt: skip
    section = [
        "outcomes:",
        "  source:",
        *_source_lines(src),
        f"  columns: {{contact_id: {_scalar(who)}, closed_at: {_scalar(when)}, "
        f"outcome: {_scalar(what)}}}  # TODO check",
        f"  # outcome values found (most frequent first): {values}",
    ]
    groups: dict[str, list[str]] = {"won": [], "lost": [], "open": []}
    for value in values:
        words = set(name_words(value))
        read: str = label_outcome(value) or (
            "won" if "won" in words else "lost" if "lost" in words else "open")
        groups[read].append(value)
    label = ["label:"]
    for group, values_in in groups.items():
        if values_in:
            listed = ", ".join(_scalar(v) for v in values_in)
            note = ("TODO check: not decided yet (left out, counted)?" if group == "open"
                    else "guessed from the values found; TODO check")  # fmt: skip
            label.append(f"  {group}_values: [{listed}]  # {note}")
    return section, label


def after_contact_name(column: str) -> bool:
    """Whether a column's name reads like something sales fill in during or after contact."""
    snake = _snake(column)
    return bool(set(name_words(column)) & AFTER_CONTACT_WORDS) or any(
        name in snake for name in AFTER_CONTACT_NAMES
    )


_after_contact = after_contact_name


def sales_like_values(counts: Sequence[tuple[object, int]], n_rows: int) -> tuple[str, ...]:
    """Up to five values (of ``(value, rows)``, most rows first) that read like sales' own
    work, when they cover at least 5% of the ``n_rows`` rows or number at least two."""
    found = [(str(v), n) for v, n in counts
             if v is not None and set(name_words(str(v))) & SALES_VALUE_WORDS]  # fmt: skip
    covered = sum(n for _, n in found)
    if len(found) >= 2 or (found and covered >= SALES_VALUE_SHARE * n_rows):
        return tuple(v for v, _ in found[:5])
    return ()


def _reviewed(frame: pd.DataFrame, profiles: Sequence[ColumnProfile], label: str,
              taken: set[str | None], after: Sequence[ColumnProfile],
              review: ReviewColumns) -> Mapping[str, Sequence[str]]:  # fmt: skip
    """``review`` on the usable columns not already listed, typed as the import will type
    them, against the label column's won/lost values (rows with neither left out)."""
    outcome = frame[label].map(label_outcome)
    decided = outcome.isin(["won", "lost"]).to_numpy()
    kinds = {p.column: p.kind for p in profiles if p.usable and p.column not in taken
             and p not in after and p.kind in ("numeric", "categorical", "boolean")}  # fmt: skip
    if not kinds:
        return {}
    typed = pd.DataFrame({c: typed_column(frame[c], k)[0] for c, k in kinds.items()})
    y = (outcome[decided] == "won").astype(int).tolist()
    return review(typed[decided].reset_index(drop=True), y, kinds)


def _guess_label(
    frame: pd.DataFrame, profiles: Sequence[ColumnProfile]
) -> tuple[str | None, str | None, list[str]]:
    """The label column (or None), a column that may be the label once its values are
    mapped (or None), and the contract lines that say so."""

    def outcomes(column: str) -> list[tuple[object, int, str | None]]:
        """(value, rows, won/lost/None) for each value of ``column``, most rows first."""
        counts = frame[column].value_counts()
        return [(v, int(n), label_outcome(v)) for v, n in counts.items()]

    def labelled(column: str) -> bool:
        return {outcome for _, _, outcome in outcomes(column)} == {"won", "lost"}

    def rank(column: str) -> tuple[int, int]:
        named = _snake(column) in _LABEL_NAMES or bool(set(name_words(column)) & _LABEL_WORDS)
        return (0 if named else 1, -list(frame.columns).index(column))  # named, then last

    candidates = [p.column for p in profiles if labelled(p.column)]
    if candidates:
        column = min(candidates, key=rank)
        shown = ", ".join(f"{_short(v)} {n} rows ({o})" for v, n, o in outcomes(column))
        lines = [f"  label: {_scalar(column)}  # guessed: {shown}"]
        others = [c for c in candidates if c != column]
        if others:
            lines.append(f"  # TODO: other columns holding only won/lost values: {others}")
        return column, None, lines
    named = [p.column for p in profiles if _snake(p.column) in _LABEL_NAMES]
    if named:
        column = named[-1]
        counts = frame[column].value_counts().head(8)
        shown = ", ".join(f"{_short(v)} ({int(n)})" for v, n in counts.items())
        return (
            None,
            column,
            [
                "  label: TODO  # TODO no column holds only won/lost values (1/0, yes/no ...)",
                f"  # TODO: {column!r} may be the label; its values: {shown}.",
                f"  # If so: outcome: {_scalar(column)}, and map its values under label:",
                "  # won_values: [...], lost_values: [...], open_values: [...]",
            ],
        )
    return (
        None,
        None,
        ["  label: TODO  # TODO no column holds only won/lost values (1/0, yes/no ...)"],
    )


def _short(value: object, width: int = 24) -> str:
    text = repr(value.item() if hasattr(value, "item") else value)
    return text if len(text) <= width else text[: width - 4] + "...'"


def _guess_id(profiles: Sequence[ColumnProfile]) -> tuple[str | None, str]:
    unique = [p.column for p in profiles if p.rows and p.missing == 0 and p.distinct == p.rows]
    named = [c for c in unique if name_words(c) and name_words(c)[-1] in _ID_WORDS]
    if named:
        return named[0], "guessed: unique and never empty in the rows read"
    if unique:
        return None, (
            f"columns {unique} are unique in every row read; set contact_id: to the one "
            "that identifies a lead (without an id, rows are numbered in source order)"
        )
    return None, "no column is unique in every row; without an id, rows are numbered in source order"


def _guess_created(profiles: Sequence[ColumnProfile]) -> tuple[str | None, str]:
    dates = [p.column for p in profiles if p.kind == "datetime"]
    named = [c for c in dates
             if set(name_words(c)) & _CREATED_WORDS or _snake(c) in _CREATED_NAMES]  # fmt: skip
    if named:
        note = "guessed: a date column named like a creation date"
        if len(dates) > 1:
            note += f"; other date columns: {[c for c in dates if c != named[0]]}"
        return named[0], note
    if dates:
        return None, (
            f"date columns {dates} found, none named like a creation date; set "
            "created_at: to the one recording when the lead was created"
        )
    return None, "no date column found"
