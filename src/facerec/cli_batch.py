"""What the CLI's batch commands share: which files a list of arguments names, how each
file is labelled in a table, the summary line and the exit status.

Exit status of every ``facerec`` command: 0 when everything succeeded, 1 when anything
failed (in a batch: at least one item, after the summary ``N ok, M failed`` on standard
error), 2 for a usage error (Click's: an unknown option, a missing file...).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from facerec.cli_support import stderr

EXIT_STATUS = (
    "Exit status: 0 all succeeded; 1 something failed (batch commands: any item, after a "
    "summary line 'N ok, M failed' on standard error); 2 usage error."
)


def labelled_files(arguments: Iterable[Path]) -> list[tuple[Path, str]]:
    """Each file argument, and the visible files under each folder argument (in name
    order), with the label a table shows: a folder's files by their path relative to it,
    a file by its name, or by its path as given where two names would look the same."""
    found: list[tuple[Path, str]] = []
    for argument in arguments:
        if argument.is_dir():
            found.extend((f, f.relative_to(argument).as_posix()) for f in _visible(argument))
        else:
            found.append((argument, argument.name))
    seen: dict[str, int] = {}
    for _, label in found:
        seen[label] = seen.get(label, 0) + 1
    return [(path, str(path) if seen[label] > 1 else label) for path, label in found]


def _visible(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def file_table(*columns: str) -> Table:
    """A table whose first column (a file's label) is never cut: the other columns wrap
    first, and a label wider than the terminal folds onto the next line."""
    table = Table()
    table.add_column(columns[0], no_wrap=True, overflow="fold")  # others wrap first
    for column in columns[1:]:
        table.add_column(column)
    return table


def item_failed(label: str, code: str, message: str) -> None:
    """One item's failure, on standard error."""
    stderr.print(f"[red]error[/red] {escape(label)}: {escape(f'[{code}]')} {escape(message)}")


def finish_batch(ok: int, failed: int, *, always: bool = True) -> None:
    """The summary line on standard error (when ``always`` or anything failed); exit 1
    when any item failed."""
    if always or failed:
        stderr.print(f"{ok} ok, {failed} failed")
    if failed:
        raise typer.Exit(1)
