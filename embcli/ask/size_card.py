"""What embedding tables cost, as a result: the size card and the comparison of several models.

The arithmetic is :mod:`embcli.ask.sizing` (from configs alone, no weights); where a config comes
from is :mod:`embcli.ask.size_inputs`. This module turns both into a :class:`SizeReport` whose
``to_dict()`` is the CLI's JSON (one record, or a list for several models) and whose ``view()``
is the card (one model) or the comparison table (several).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from embcli.ask import catalog, size_inputs, sizing
from embcli.errors import UsageProblem
from embcli.view import Result, View

UNITS = {"MB": 1e6, "MiB": float(2**20)}


@dataclass
class SizeReport(Result):
    """Sizes of one or more tables; ``records`` are the JSON-ready dicts, one per model.

    ``column`` is the dtype of the comparison column; ``units`` MB (10^6) or MiB (2^20).
    """

    records: list[dict[str, Any]]
    column: str = "float16"
    units: str = "MB"

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.records[i]

    def __len__(self) -> int:
        return len(self.records)

    def to_dict(self) -> Any:
        return self.records if len(self.records) > 1 else self.records[0]

    def view(self) -> View:
        """The card for one model, the comparison table for several."""
        if len(self.records) == 1:
            return _card(self.records[0], self.column, UNITS[self.units], self.units)
        return self.comparison(exact=False)

    def comparison(self, exact: bool = False) -> View:
        """One row per model; ``exact``: integer columns for scripts (what TSV prints)."""
        return _comparison(self.records, self.column, UNITS[self.units], self.units, exact)


def size(
    models: Sequence[str] = (),
    *,
    vocab: int | None = None,
    dim: int | None = None,
    dtype: str = "float16",
    untied: bool = False,
    units: str = "MB",
    offline: bool = False,
    notice: Callable[[str], None] | None = None,
    file: str | None = None,
    quant: str | None = None,
    count_meta: size_inputs.MetaCount | None = None,
) -> SizeReport:
    """Vocabulary, width and memory of the tables of ``models`` (Hub ids, local directories,
    config.json paths or catalog names), and of a what-if table given ``vocab`` and ``dim``.

    ``notice`` hears where figures came from when the Hub could not be asked (default:
    stderr); ``count_meta`` counts a config's parameters by building it, when nothing else
    states them."""
    column = dtype_column(dtype)
    if units not in UNITS:
        raise UsageProblem(f"units must be MB or MiB, not {units!r}")
    inputs = []
    if vocab is not None or dim is not None:
        if vocab is None or dim is None:
            raise UsageProblem("what-if arithmetic needs both --vocab and --dim")
        inputs.append(
            size_inputs.what_if(vocab, dim, column if dtype != "float16" else None, not untied)
        )
    for spec in models:
        inputs.append(
            size_inputs.resolve(spec, offline, notice, file, quant)
            if notice
            else size_inputs.resolve(spec, offline, file=file, quant=quant)
        )
    if not inputs:
        raise UsageProblem("name one or more models, or give --vocab and --dim (or --list)")
    return SizeReport([_record(inp, count_meta) for inp in inputs], column, units)


def dtype_column(dtype: str) -> str:
    """The canonical name of a dtype (``bf16`` -> ``bfloat16``), or a usage error."""
    try:
        return sizing.dtype_name(dtype)
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None


@dataclass
class CatalogList(Result):
    """The built-in catalog of model configs (``size --list``)."""

    records: list[dict[str, Any]]

    def to_dict(self) -> list[dict[str, Any]]:
        return self.records

    def view(self) -> View:
        rows = [
            (r["name"], r["hub_id"] or "-", f"{r['vocab_size']:,}", f"{r['dim']:,}", r["source"])
            for r in self.records
        ]
        return View(["name", "hub id", "vocab", "dim", "source"], rows)


def catalog_list() -> CatalogList:
    """Every catalog entry: name, Hub id, vocabulary, width and where its config came from."""
    records = []
    for k, e in catalog.CATALOG.items():
        rep = sizing.table_report(_cfg(e))
        records.append({"name": k, "hub_id": e["hub_id"], "vocab_size": rep["vocab_size"],
                        "dim": rep["dim"], "source": e["source"]})  # fmt: skip
    return CatalogList(records)


def _cfg(entry: dict[str, Any]) -> Any:
    from embcli.read.facts import ModelFacts

    return ModelFacts.from_dict(entry["config"])


def _record(inp: size_inputs.SizeInput, count_meta: size_inputs.MetaCount | None) -> dict[str, Any]:
    rep = sizing.table_report(inp.config, inp.tokenizer_size)
    if inp.gguf is not None:  # the table as the file stores it, quantised
        rep["checkpoint_dtype"] = inp.gguf["table_type"]
        rep["checkpoint_bytes"] = inp.gguf["table_bytes"]
        rep["tie_from"] = "the file " + ("has no" if rep["tied"] else "stores") + " output.weight"
    total, active, method = size_inputs.totals(inp, count_meta)
    sizing.add_totals(rep, total, active, method)
    return {
        "model": inp.name,
        "config_from": inp.origin,
        "config_ref": inp.ref,
        "note": inp.note,
        **rep,
        "gguf": inp.gguf,
    }


def _fmt_bytes(n: int | None, unit: float, label: str) -> str:
    """Bytes in MB/GB (10^6, 10^9) or MiB/GiB (2^20, 2^30): one step up is 1000 or 1024."""
    if n is None:
        return ""
    value = n / unit
    step, big = (1024, "GiB") if label == "MiB" else (1000, "GB")
    if value >= step:
        return f"{value / step:,.2f} {big}"
    return f"{value:,.1f} {label}"


def _params(n: int | None) -> str:
    if n is None:
        return "?"
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M")):
        if n >= div:
            return f"{n / div:,.2f}{suffix}"
    return f"{n:,}"


def _head(r: dict[str, Any]) -> str:
    return "tied" if r["tied"] else f"untied (+{_params(r['head_params'])})"


def _positions(r: dict[str, Any]) -> str:
    p = r["position_table"]
    text = f"{p['rows']:,} x {p['dim']:,}" if p else r["position_note"]
    if p and p.get("count", 1) > 1:
        text += " (encoder and decoder: one each)"
    if r.get("token_type_table"):
        t = r["token_type_table"]
        text += f"; token types {t['rows']} x {t['dim']:,}"
    return text


def _head_bytes(r: dict[str, Any], column: str) -> int:
    """The untied head's bytes as stored: a GGUF states them (its head is often quantised
    otherwise than its table); else its parameters at the checkpoint's dtype (the column's
    when unknown): a head of another shape than the table (Reformer) costs its own bytes."""
    gguf = r.get("gguf")
    if gguf and gguf.get("head_bytes") is not None:
        return int(gguf["head_bytes"])
    return sizing.nbytes(r["head_params"], r["checkpoint_dtype"] or column)


def _head_shape(r: dict[str, Any]) -> str:
    """An untied head's shape, where it is not the table's."""
    shape = r.get("head_shape")
    if not shape or shape == [r.get("table_rows", r["vocab_size"]), r["dim"]]:
        return ""
    return f" ({shape[0]:,} x {shape[1]:,})"


def _projected(r: dict[str, Any]) -> str:
    """A factorised table: the width it is projected to, and what the projection costs."""
    if not r.get("projections"):
        return ""
    return (f" (factorised: projected to the hidden width {r['model_width']:,} by "
            f"{', '.join(p['tensor'] for p in r['projections'])}, "
            f"{r['projection_params']:,} parameters)")  # fmt: skip


def _total(r: dict[str, Any]) -> str:
    text = _params(r["total_params"])
    if r["active_params"]:
        text += f" ({_params(r['active_params'])} active)"
    return text


def _share(r: dict[str, Any]) -> str:
    return f"{r['table_share']:.2%}" if r["table_share"] is not None else ""


def _source(r: dict[str, Any]) -> str:
    names = {
        "hub": "live config (Hub)",
        "local": "local config",
        "catalog": "catalog",
        "what-if": "what-if",
        "gguf": "GGUF metadata",
    }
    return names[r["config_from"]] + (f", {r['note']}" if r["note"] else "")


def _comparison(
    records: list[dict[str, Any]], column: str, unit: float, label: str, exact: bool
) -> View:
    rows: list[tuple[Any, ...]]
    if exact:  # exact integers for scripts
        cols = [
            "model",
            "vocab_size",
            "dim",
            "table_params",
            f"{column}_bytes",
            "tied",
            "head_params",
            "total_params",
            "active_params",
            "config_from",
        ]
        rows = [
            (
                r["model"],
                r["vocab_size"],
                r["dim"],
                r["table_params"],
                r["bytes"][column],
                r["tied"],
                r["head_params"],
                r["total_params"],
                r["active_params"],
                r["config_from"],
            )
            for r in records
        ]
        return View(cols, rows)
    cols = ["model", "vocab", "dim", "V x D", column, "head", "params", "table share"]
    rows = [
        (
            r["model"],
            f"{r['vocab_size']:,}",
            f"{r['dim']:,}",
            f"{r['table_params']:,}",
            _fmt_bytes(r["bytes"][column], unit, label),
            "tied" if r["tied"] else "untied",
            _total(r),
            _share(r),
        )
        for r in records
    ]
    notes = [f"{r['model']}: {_source(r)}; positions {_positions(r)}" for r in records]
    return View(
        cols,
        rows,
        caption="\n".join([f"{column} sizes in {label}; params = total parameters", *notes]),
        no_wrap={"model", "vocab", "dim", "V x D", column, "table share"},
    )


def _card(r: dict[str, Any], column: str, unit: float, label: str) -> View:
    b = r["bytes"]
    rows = [
        ("model", r["model"]),
        ("config", f"{_source(r)}: {r['config_ref']}"),
        (
            "vocabulary",
            f"{r['vocab_size']:,}"
            + (
                f" (tokenizer {r['tokenizer_vocab_size']:,}; {r['padded_rows']:,} padded rows)"
                if r["padded_rows"]
                else ""
            ),
        ),
        *(
            (
                (
                    "table rows",
                    f"{r['table_rows']:,} (the vocabulary and "
                    f"{r['table_rows'] - r['vocab_size']:,} more)",
                ),
            )
            if r.get("table_rows", r["vocab_size"]) != r["vocab_size"]
            else ()
        ),
        ("dimension", f"{r['dim']:,}" + _projected(r)),
        ("V x D", f"{r['table_params']:,} parameters"),
        ("float32", _fmt_bytes(b["float32"], unit, label)),
        ("float16/bfloat16", _fmt_bytes(b["float16"], unit, label)),
        ("int8", _fmt_bytes(b["int8"], unit, label)),
        ("int4", _fmt_bytes(b["int4"], unit, label)),
        (
            "checkpoint dtype",
            f"{r['checkpoint_dtype']}: {_fmt_bytes(r['checkpoint_bytes'], unit, label)}"
            if r["checkpoint_dtype"]
            else "?",
        ),
        (
            "output head",
            f"tied ({r['tie_from']})"
            if r["tied"]
            else f"untied ({r['tie_from']}): another {r['head_params']:,} parameters"
            + _head_shape(r)
            + ", "
            f"{_fmt_bytes(_head_bytes(r, column), unit, label)}; "
            f"both {r['table_and_head_params']:,}",
        ),
        ("positions", _positions(r)),
        (
            "total parameters",
            _total(r) + (f" from {r['params_method']}" if r["params_method"] else ""),
        ),
        (
            "table share",
            _share(r)
            + (
                f" (with head {r['table_and_head_share']:.2%})"
                if not r["tied"] and r["table_share"] is not None
                else ""
            ),
        ),
    ]
    return View(
        ["field", "value"],
        rows,
        key_value=True,
        caption=f"MB = 10^6 bytes, MiB = 2^20 bytes; shown in {label}",
    )
