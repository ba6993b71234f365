"""What an embedding table costs: arithmetic from a config, no weights needed.

``table_report`` turns a :class:`ModelFacts` into exact integers (parameters and bytes at each
dtype), the tying of the output head, position tables, and, when a parameter total is known,
the table's share of the model. Where the total comes from is the caller's business (safetensors
headers, a meta-device build, the catalog); :func:`count_from_shapes` counts tensor shapes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from embcli.read import families
from embcli.read.facts import ModelFacts

BYTES_PER_PARAM = {"float32": 4.0, "float16": 2.0, "bfloat16": 2.0, "int8": 1.0, "int4": 0.5}
DTYPE_ALIASES = {
    "fp32": "float32",
    "f32": "float32",
    "fp16": "float16",
    "f16": "float16",
    "half": "float16",
    "bf16": "bfloat16",
    "i8": "int8",
    "i4": "int4",
    "float": "float32",
}


def dtype_name(text: str) -> str:
    key = text.lower().removeprefix("torch.")
    key = DTYPE_ALIASES.get(key, key)
    if key not in BYTES_PER_PARAM:
        raise ValueError(f"unknown dtype {text!r} (one of {', '.join(BYTES_PER_PARAM)})")
    return key


def nbytes(params: int, dtype: str) -> int:
    """Exact bytes for ``params`` values of ``dtype`` (int4 packs two values per byte)."""
    return -(-params // 2) if dtype == "int4" else params * int(BYTES_PER_PARAM[dtype])


def checkpoint_dtype(cfg: ModelFacts) -> str | None:
    for part in (cfg.text, cfg.raw):
        value = next((part[k] for k in families.DTYPE_KEYS if part.get(k)), None)
        if isinstance(value, str):
            try:
                return dtype_name(value)
            except ValueError:
                return None
    return None


def position_info(cfg: ModelFacts) -> tuple[dict[str, int] | None, str]:
    """A learned absolute position table (rows, dim, params, count), or None and why not.

    ``rows`` are the stored rows (BART's offset of 2 included); ``count`` is 2 where an
    encoder and a decoder each have a table of that shape (``params`` is one table's).
    """
    spec = cfg.position_table()
    if spec is not None:
        rows, _ = spec
        d = cfg.position_width
        count = cfg.position_family.position_count
        return {"rows": rows, "dim": d, "params": rows * d, "count": count}, "learned"
    kind = cfg.position_family.positions
    if kind == "alibi" or cfg.text.get(families.ALIBI_KEY) is True:
        return None, "none: ALiBi"
    if kind == "relative":
        return None, "none: relative position bias"
    if kind == "sinusoidal":
        return None, "none: sinusoidal (computed)"
    if kind == "rotary" or any(k in cfg.text for k in families.ROTARY_KEYS):
        return None, "none: rotary"
    return None, "none stated in the config"


def table_report(cfg: ModelFacts, tokenizer_size: int | None = None) -> dict[str, Any]:
    """Exact sizes of the token table (and head, position tables) described by ``cfg``.

    The table has ``table_rows`` rows (the vocabulary and any rows the family adds) of its own
    width (ALBERT's ``embedding_size``: a projection to the hidden width follows, counted in
    ``projection_params``); an untied head has its own shape (Reformer's is twice as wide, an
    encoder-decoder's is its decoder's table).
    """
    v, d = cfg.table_rows, cfg.hidden_candidates[0]
    table = v * d
    tied = cfg.tied
    head_rows, head_width = cfg.head_shape
    head = 0 if tied else head_rows * head_width
    positions, pos_note = position_info(cfg)
    ttypes = cfg.text.get(families.TOKEN_TYPES_KEY)
    tw = cfg.position_width
    token_types = (
        {"rows": int(ttypes), "dim": tw, "params": int(ttypes) * tw}
        if isinstance(ttypes, int) and ttypes > 0 and cfg.position_family.token_types
        else None
    )
    projections = cfg.projections
    ckpt = checkpoint_dtype(cfg)
    return {
        "model_type": cfg.model_type,
        "vocab_size": cfg.vocab_size,
        "table_rows": v,
        "tokenizer_vocab_size": tokenizer_size,
        "padded_rows": (v - tokenizer_size) if tokenizer_size and tokenizer_size < v else 0,
        "dim": d,
        "model_width": cfg.model_width,
        "projections": projections,
        "projection_params": sum(p["params"] for p in projections),
        "table_params": table,
        "bytes": {name: nbytes(table, name) for name in BYTES_PER_PARAM},
        "checkpoint_dtype": ckpt,
        "checkpoint_bytes": nbytes(table, ckpt) if ckpt else None,
        "tied": tied,
        "tie_from": cfg.tie_reason,
        "head_shape": None if tied else [head_rows, head_width],
        "head_params": head,
        "table_and_head_params": table + head,
        "position_table": positions,
        "position_note": pos_note,
        "token_type_table": token_types,
    }


def add_totals(
    report: dict[str, Any], total: int | None, active: int | None, method: str | None
) -> None:
    report["total_params"] = total
    report["active_params"] = active
    report["params_method"] = method
    share = report["table_and_head_params"] if not report["tied"] else report["table_params"]
    report["table_share"] = report["table_params"] / total if total else None
    report["table_and_head_share"] = share / total if total else None


def is_expert_tensor(name: str) -> bool:
    """Routed-expert weights (``...experts.N.w1``, fused ``...experts.gate_up_proj``, GGUF's
    ``blk.N.ffn_up_exps.weight``)."""
    return ".experts." in name or "_exps." in name


def active_params(cfg: ModelFacts, total: int, expert_params: int) -> int | None:
    """Parameters used per token: the routed experts count only ``k / E`` of their weights."""
    per_token = cfg.text.get(families.EXPERTS_PER_TOKEN_KEY)
    experts = next(
        (cfg.text[k] for k in families.EXPERT_COUNT_KEYS if isinstance(cfg.text.get(k), int)),
        None,
    )
    if not expert_params or not isinstance(per_token, int) or not experts:
        return None
    return int(total - round(expert_params * (1 - per_token / experts)))


def count_from_shapes(shapes: Iterable[tuple[str, Iterable[int]]]) -> tuple[int, int]:
    """(total, routed-expert) parameters from tensor names and shapes."""
    total = experts = 0
    for name, shape in shapes:
        n = 1
        for s in shape:
            n *= int(s)
        total += n
        experts += n if is_expert_tensor(name) else 0
    return total, experts
