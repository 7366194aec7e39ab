"""The project's exception tree.

Every error leadscore raises on purpose derives from :class:`LeadscoreError`, so the
CLI can map it to an exit code and the HTTP layer to a status code. Messages name the
table, the column, what was expected and what was found.
"""

from __future__ import annotations

from collections.abc import Sequence


class LeadscoreError(Exception):
    """Base class of every error leadscore raises on purpose."""

    exit_code = 1


class ConfigError(LeadscoreError, ValueError):
    """A configuration file or option is invalid (rules, contract, settings)."""

    exit_code = 2


class DataValidationError(LeadscoreError, ValueError):
    """A warehouse table breaks the data contract.

    Attributes name the problem so callers can act on it without parsing the message.
    """

    exit_code = 3

    def __init__(
        self,
        table: str,
        column: str | None,
        problem: str,
        *,
        count: int = 0,
        examples: Sequence[object] = (),
    ) -> None:
        self.table = table
        self.column = column
        self.problem = problem
        self.count = count
        self.examples = list(examples)[:5]
        where = f"table {table!r}" + (f", column {column!r}" if column else "")
        detail = f"{where}: {problem}"
        if count:
            detail += f" ({count} row{'s' if count != 1 else ''} affected"
            if self.examples:
                detail += f"; e.g. {', '.join(repr(e) for e in self.examples)}"
            detail += ")"
        super().__init__(detail)


class MissingTableError(DataValidationError):
    """A table the contract requires does not exist in the warehouse."""

    def __init__(self, table: str, warehouse: str, found: Sequence[str]) -> None:
        super().__init__(
            table,
            None,
            f"table is missing from warehouse {warehouse}; tables found: {sorted(found)}",
        )


class MissingColumnsError(DataValidationError):
    """A table lacks columns the contract requires."""

    def __init__(self, table: str, required: Sequence[str], missing: Sequence[str]) -> None:
        super().__init__(
            table,
            missing[0] if missing else None,
            f"table must have columns {list(required)}; missing {list(missing)}",
        )


class ModelError(LeadscoreError):
    """A model cannot be trained, loaded or applied."""

    exit_code = 4


class ScoringError(LeadscoreError):
    """A batch scoring job failed a check and wrote nothing."""

    exit_code = 5
