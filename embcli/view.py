"""Results and how they look: one description, shown as a terminal table, TSV, JSON or HTML.

Every question embcli answers returns a :class:`Result`: a plain dataclass whose ``to_dict()``
gives exactly the CLI's JSON keys and whose ``view()`` describes it as rows and columns. The CLI's
output sink prints that view as a rich table or TSV; in a notebook ``_repr_html_`` shows the same
rows as HTML, and ``rich.print(result)`` shows the terminal table, so every surface agrees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from embcli.read.tokens import visible

NUMERIC = frozenset(
    [
        "id",
        "rank",
        "cosine",
        "dot",
        "score",
        "score2",
        "effect size",
        "paper",
        "p-value",
        "norm",
        "#",
        "correct",
        "answered",
        "skipped",
        "accuracy",
    ]
)


@dataclass
class View:
    """How to show data as rows: columns, raw row values, and which columns hold tokens."""

    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    title: str | None = None
    caption: str | None = None
    token_columns: set[str] = field(default_factory=set)
    key_value: bool = False  # a two-column "field / value" listing (``info``)
    table_hidden: set[str] = field(default_factory=set)  # columns left out of the rich table
    no_wrap: set[str] = field(default_factory=set)  # columns whose cells must stay on one line


class Result:
    """Base of every result: ``to_dict()`` for JSON, ``view()`` for tables, shown everywhere."""

    def to_dict(self) -> Any:
        raise NotImplementedError

    def view(self) -> View:
        raise NotImplementedError

    def __rich__(self) -> Any:
        from rich.console import Group
        from rich.text import Text

        v = self.view()
        parts: list[Any] = [rich_table(v)]
        if v.caption:
            parts.append(Text(v.caption, style="dim"))
        return Group(*parts)

    def _repr_html_(self) -> str:
        return html_table(self.view())

    def __str__(self) -> str:
        """The terminal table as plain text, so ``print(result)`` in a script or REPL reads well."""
        from io import StringIO

        from rich.console import Console

        buf = StringIO()
        Console(file=buf, width=120, color_system=None, soft_wrap=False).print(self)
        return buf.getvalue().rstrip("\n")


def print_view(view: View) -> None:
    """Print a view as a rich table, with its caption below, to stdout."""
    from rich.console import Console
    from rich.text import Text

    console = Console(soft_wrap=False)
    table = rich_table(view)
    if view.key_value or _natural_width(console, table) <= console.width:
        console.print(table)
    else:  # squeezed, rich would cut every cell to "ch…": one block a record instead
        _print_records(console, view)
    if view.caption:
        console.print(Text(view.caption, style="dim"), soft_wrap=True)


def _natural_width(console: Any, table: Any) -> int:
    """The width ``table`` takes when nothing is cut or wrapped."""
    from rich.measure import Measurement

    return int(Measurement.get(console, console.options.update_width(1 << 20), table).maximum)


def _print_records(console: Any, view: View) -> None:
    """Each row as a block of ``column  value`` lines, for a table wider than the terminal
    (as ``psql``'s expanded display): every value whole, the columns named on each line."""
    from rich.rule import Rule
    from rich.text import Text

    width = console.width
    note = f"({len(view.rows):,} records: wider than the terminal's {width} columns; -f tsv gives "
    console.print(Text(note + "the table)", style="dim"))
    for n, row in enumerate(view.rows, 1):
        console.print(Rule(f"{n}", align="left", style="dim"))
        cells = zip(view.columns, row, strict=True)
        lines = [[col, _text(col, v, view)] for col, v in cells if col not in view.table_hidden]
        console.print(rich_table(View(["field", "value"], lines, key_value=True)))


def _text(col: str, value: Any, view: View) -> str:
    """A cell as the table shows it: tokens with visible whitespace, floats to 4 places."""
    if col in view.token_columns and isinstance(value, str):
        return visible(value)
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else str(value)


def html_table(view: View) -> str:
    """The view as an HTML table (what a notebook shows), caption below it."""
    import html  # here: a terminal or a pipe never needs it (html.entities is a large table)

    def cell(col: str, value: Any) -> str:
        align = ' style="text-align:right"' if col in NUMERIC else ""
        return f"<td{align}>{html.escape(_text(col, value, view))}</td>"

    shown = [c for c in view.columns if c not in view.table_hidden]
    out = ["<table>"]
    if view.title:
        out.append(f"<caption>{html.escape(view.title)}</caption>")
    if not view.key_value:
        out.append("<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in shown) + "</tr>")
    for row in view.rows:
        cells = [cell(c, v) for c, v in zip(view.columns, row, strict=True) if c in shown]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    if view.caption:
        out.append(f"<p><small>{html.escape(view.caption)}</small></p>")
    return "\n".join(out)


def rich_table(view: View) -> Any:
    """The view as a ``rich.table.Table`` (tokens with visible whitespace, floats to 4 places)."""
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=view.title,
        show_header=not view.key_value,
        box=None if view.key_value else _box(),
        title_justify="left",
    )
    shown = [c for c in view.columns if c not in view.table_hidden]
    for col in shown:
        numeric = col in NUMERIC
        table.add_column(
            col,
            justify="right" if numeric else "left",
            style=_style(col, view),
            no_wrap=col in view.no_wrap or col in view.token_columns,
        )
    for row in view.rows:
        cells = []
        for col, value in zip(view.columns, row, strict=True):
            if col not in view.table_hidden:
                cells.append(Text(_text(col, value, view)))
        table.add_row(*cells)
    return table


def _box() -> Any:
    from rich import box

    return box.SIMPLE_HEAD


def _style(col: str, view: View) -> str | None:
    if view.key_value and col == view.columns[0]:
        return "bold"
    return "cyan" if col in view.token_columns else None


def clip(text: str, width: int = 40) -> str:
    """``text`` cut to ``width`` characters, an ellipsis marking the cut."""
    return text if len(text) <= width else text[: width - 1] + "…"
