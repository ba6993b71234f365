"""``embcli size``: what an embedding table costs, from configs alone (no weights)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

import typer

from embcli.ask import catalog, size_inputs, sizing
from embcli.cli.options import Format, Settings, with_settings
from embcli.cli.output import View, emit, resolve_format
from embcli.errors import UsageProblem


class Units(str, Enum):
    MB = "MB"
    MiB = "MiB"


def register(app: typer.Typer) -> None:
    app.command("size")(size)


@with_settings(skip=("model", "revision", "tensor", "table", "allow_pickle"))
def size(
    settings: Settings,
    models: Annotated[
        list[str] | None,
        typer.Argument(help="Hub ids, local model dirs, config.json paths or catalog names."),
    ] = None,
    vocab: Annotated[int | None, typer.Option("--vocab", min=1, help="What-if: rows.")] = None,
    dim: Annotated[int | None, typer.Option("--dim", min=1, help="What-if: columns.")] = None,
    dtype: Annotated[
        str, typer.Option("--dtype", help="The dtype of the comparison column.")
    ] = "float16",
    untied: Annotated[
        bool, typer.Option("--untied", help="What-if: the output head is a second table.")
    ] = False,
    units: Annotated[
        Units, typer.Option("--units", help="MB = 10^6 bytes, MiB = 2^20 bytes.")
    ] = Units.MB,
    offline: Annotated[
        bool, typer.Option("--offline", help="Use only local files and the built-in catalog.")
    ] = False,
    list_catalog: Annotated[
        bool, typer.Option("--list", help="List the built-in catalog and exit.")
    ] = False,
) -> None:
    """Vocabulary, dimension and memory of embedding tables, from the config alone.

    Examples: embcli size gpt2 mistral-7b meta-llama/Llama-3.1-8B;
    embcli size --vocab 256000 --dim 8192 --dtype bf16
    """
    try:
        column = sizing.dtype_name(dtype)
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    if list_catalog:
        return _list(settings.format)
    inputs = []
    if vocab is not None or dim is not None:
        if vocab is None or dim is None:
            raise UsageProblem("what-if arithmetic needs both --vocab and --dim")
        inputs.append(
            size_inputs.what_if(vocab, dim, column if dtype != "float16" else None, not untied)
        )
    for spec in models or []:
        inputs.append(size_inputs.resolve(spec, offline))
    if not inputs:
        raise UsageProblem("name one or more models, or give --vocab and --dim (or --list)")
    records = [_record(inp) for inp in inputs]
    unit = 1e6 if units is Units.MB else 2**20
    chosen = resolve_format(settings.format)
    if chosen is Format.table and len(records) == 1:
        emit(settings.format, records, _card(records[0], column, unit, units.value))
    else:
        emit(
            settings.format,
            records if len(records) > 1 else records[0],
            _comparison(records, column, unit, units.value, chosen),
        )


def _record(inp: size_inputs.SizeInput) -> dict[str, Any]:
    rep = sizing.table_report(inp.config, inp.tokenizer_size)
    total, active, method = size_inputs.totals(inp)
    sizing.add_totals(rep, total, active, method)
    return {
        "model": inp.name,
        "config_from": inp.origin,
        "config_ref": inp.ref,
        "note": inp.note,
        **rep,
    }


def _fmt_bytes(n: int | None, unit: float, label: str) -> str:
    if n is None:
        return ""
    value = n / unit
    if value >= 1000:
        return f"{value / 1000:,.2f} G{label[1:] if label == 'MB' else 'iB'}"
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
    if r.get("token_type_table"):
        t = r["token_type_table"]
        text += f"; token types {t['rows']} x {t['dim']:,}"
    return text


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
    }
    return names[r["config_from"]] + (f", {r['note']}" if r["note"] else "")


def _comparison(
    records: list[dict[str, Any]], column: str, unit: float, label: str, chosen: Format
) -> View:
    if chosen is Format.tsv:  # exact integers for scripts
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
        ("dimension", f"{r['dim']:,}"),
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
            else f"untied ({r['tie_from']}): another {r['head_params']:,} parameters, "
            f"{_fmt_bytes(r['checkpoint_bytes'] or b[column], unit, label)}; "
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


def _list(fmt: Format | None) -> None:
    records = [
        {
            "name": k,
            "hub_id": e["hub_id"],
            "vocab_size": sizing.table_report(_cfg(e))["vocab_size"],
            "dim": sizing.table_report(_cfg(e))["dim"],
            "source": e["source"],
        }
        for k, e in catalog.CATALOG.items()
    ]
    rows = [
        (r["name"], r["hub_id"] or "-", f"{r['vocab_size']:,}", f"{r['dim']:,}", r["source"])
        for r in records
    ]
    emit(fmt, records, View(["name", "hub id", "vocab", "dim", "source"], rows))


def _cfg(entry: dict[str, Any]) -> Any:
    from embcli.read.modelconfig import ModelConfig

    return ModelConfig.from_dict(entry["config"])
