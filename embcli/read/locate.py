"""Which tensor in a checkpoint is the input-embedding table, and which the output head.

Hugging Face checkpoints name the table after the module that owns it; the family decides the
suffix and the model class the prefix (``transformer.``, ``model.``, ``bert.``, none, or
``language_model.`` in multimodal wrappers). We match the suffixes :mod:`embcli.read.families`
lists (a family's own names first), then keep the tensors whose shape agrees with the config's
vocabulary and hidden sizes. Names alone decide nothing: a vision tower may have its own
``embed_tokens``, T5 stores the same table three times.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from embcli.errors import EmbcliError
from embcli.read.families import OTHER_MODALITIES, Types, head_suffixes, table_suffixes

Rows = int | Sequence[int]


def locate_embedding(
    names: Sequence[str],
    shape_of: Callable[[str], tuple[int, ...]],
    vocab_size: Rows,
    widths: Sequence[int],
    explicit: str | None = None,
    model_type: Types = "",
) -> str:
    """Return the name of the input-embedding tensor.

    ``vocab_size`` is the table's number of rows (:attr:`ModelFacts.table_rows`: the
    vocabulary and any rows the family adds). ``shape_of`` is called only for candidate names,
    so a sharded checkpoint opens the headers of the shards that may hold the table and no
    others. ``explicit`` (``--tensor``) bypasses the name rules but must still be a 2-D tensor
    in the checkpoint. Of an encoder's and a decoder's table that both fit, the encoder's is
    the input table (T5Gemma, ``EncoderDecoderModel``).
    """
    if explicit is not None:
        if explicit not in names:
            near = [n for n in names if explicit.split(".")[-2:] == n.split(".")[-2:]][:5]
            if near:
                hint = f"did you mean {', '.join(near)}?"
            else:  # the likely ones, as a table that fits nothing is answered (no shapes read)
                likely = _likely(names, _by_name(names, table_suffixes(model_type)))
                shown = likely or list(names)
                more = f" and {len(shown) - 6:,} more" if len(shown) > 6 else ""
                hint = f"its tensors include {', '.join(shown[:6])}{more}"
            raise EmbcliError(f"no tensor named {explicit!r} in the checkpoint", hint)
        if len(shape_of(explicit)) != 2:
            raise EmbcliError(f"tensor {explicit!r} has shape {shape_of(explicit)}, not 2-D")
        return explicit

    by_name = _by_name(names, table_suffixes(model_type))
    fitting = [n for n in by_name if _fits(shape_of(n), vocab_size, widths)]
    if fitting:
        return fitting[0]
    if len(names) == 1 and _fits(shape_of(names[0]), vocab_size, widths):
        return names[0]  # a file that holds one table (word vectors, static-embedding models)
    rows = _rows(vocab_size)
    raise EmbcliError(
        f"no tensor fits the config's table of {rows[0]:,} x {widths[0]:,}; "
        + _describe_candidates(names, by_name, shape_of),
        "choose one with --tensor NAME",
    )


def locate_head(
    names: Sequence[str],
    shape_of: Callable[[str], tuple[int, ...]],
    vocab_size: Rows,
    widths: Sequence[int],
    model_type: Types = "",
) -> str | None:
    """Return the name of the output-head tensor, or None when the checkpoint stores none.

    A tied model usually stores no head (its logits reuse the input table). Any prefix is
    accepted (``language_model.lm_head.weight`` in multimodal wrappers); the shape must agree
    with the config (:attr:`ModelFacts.head_shape`, rows padded or not), like the input
    table's, so a vision tower's own head is never chosen.
    """

    by_name = _by_name(names, head_suffixes(model_type))
    fitting = [n for n in by_name if _fits(shape_of(n), vocab_size, widths)]
    return fitting[0] if fitting else None


def locate_target(
    names: Sequence[str],
    shape_of: Callable[[str], tuple[int, ...]],
    rows: int,
    width: int,
    model_type: Types = "",
) -> str | None:
    """The decoder's own input table (FSMT's target vocabulary, T5Gemma's decoder table): a
    table-named tensor inside a ``decoder`` module whose shape is the decoder's, or None."""
    inside = [n for n in names if "decoder" in n.split(".")[:-1]]
    by_name = _by_name(inside, table_suffixes(model_type))
    fitting = [n for n in by_name if _fits(shape_of(n), rows, [width])]
    return fitting[0] if fitting else None


def head_by_name(names: Sequence[str], model_type: Types = "") -> str | None:
    """The output head's name from names alone (no shape is read, so no other shard opened)."""
    found = _by_name(names, head_suffixes(model_type))
    return found[0] if found else None


def _by_name(names: Sequence[str], suffixes: Sequence[str]) -> list[str]:
    """The names ending in one of ``suffixes``, best first: text towers before other
    modalities, then by the suffix's rank, then the shortest prefix."""

    def rank(name: str) -> tuple[int, int, int, int, str]:
        suffix = next(i for i, s in enumerate(suffixes) if _ends(name, s))
        other = any(m in name.lower() for m in OTHER_MODALITIES)
        decoder = "decoder" in name.split(".")[:-1]
        return (int(other), suffix, int(decoder), name.count("."), name)

    return sorted((n for n in names if any(_ends(n, s) for s in suffixes)), key=rank)


def _ends(name: str, suffix: str) -> bool:
    return name == suffix or name.endswith("." + suffix)


def _rows(rows: Rows) -> tuple[int, ...]:
    return (rows,) if isinstance(rows, int) else tuple(rows)


def _fits(shape: tuple[int, ...], rows: Rows, widths: Sequence[int]) -> bool:
    return len(shape) == 2 and shape[0] in _rows(rows) and shape[1] in widths


def _likely(names: Sequence[str], by_name: list[str]) -> list[str]:
    """Tensors that may be a table: the family's names, else anything named like an embedding."""
    named = ("wte.weight", "wpe.weight")  # GPT-2's, which say nothing of embeddings
    return by_name or [n for n in names if "emb" in n.lower() or n.endswith(named)]


def _describe_candidates(
    names: Sequence[str],
    by_name: list[str],
    shape_of: Callable[[str], tuple[int, ...]],
) -> str:
    listed = _likely(names, by_name)
    if not listed:
        return f"no embedding-like tensor among {len(names)} tensors"
    shown = ", ".join(f"{n} {list(shape_of(n))}" for n in listed[:6])
    return f"candidates: {shown}"
