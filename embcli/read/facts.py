"""Facts about a model's embedding table: from its ``config.json``, or from its container.

Families spell the same things differently (``n_embd``, ``d_model``, ``hidden_size``, ``emb_dim``;
``vocab_size``, ``n_vocab``, ``src_vocab_size``), composite models nest the part that owns the
table (``text_config`` in Llama 4 and Gemma 3, ``encoder`` in T5Gemma and
``EncoderDecoderModel``), and some tables are not ``vocab x hidden`` (ALBERT's is narrower and
projected up, Mllama's has 8 extra rows). :class:`ModelFacts` reads all of it once, through
:mod:`embcli.read.families`, so that locating the table, ``info`` and ``size`` agree.
Containers that carry their own metadata (GGUF, word-vector files) build a :class:`ModelFacts`
directly.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embcli.errors import EmbcliError
from embcli.read import families
from embcli.read.families import HIDDEN_KEYS, VOCAB_KEYS, Family

if TYPE_CHECKING:
    from embcli.read.source import Source


@dataclass(frozen=True)
class ModelFacts:
    """What a model says about its token-embedding table (and the head that may share it).

    ``hidden_size`` is the table's width (``hidden_candidates[0]``): the model's hidden width
    for most families, ALBERT's ``embedding_size`` or OPT's ``word_embed_proj_dim`` where the
    table is factorised; :attr:`model_width` is the hidden width the layers work at.
    """

    model_type: str
    vocab_size: int
    hidden_size: int
    hidden_candidates: tuple[int, ...]  # widths the table may legitimately have
    tied: bool  # the output head reuses the input table
    tie_explicit: bool  # ``tied`` is stated (config, metadata), not a family default
    raw: dict[str, Any] = field(default_factory=dict)  # the whole config ({} without one)
    text: dict[str, Any] = field(default_factory=dict)  # the part that owns the table
    text_path: str = ""  # "" or where that part is nested, e.g. "text_config"
    #: What the forward pass multiplies looked-up rows by (Gemma: sqrt(hidden_size)); the
    #: table itself is stored unscaled. None: no scaling.
    embed_scale: float | None = None
    #: Why ``tied`` is what it is, in words ("config", "llama default", "luke never ties").
    tie_how: str | None = None

    @property
    def family(self) -> Family:
        return families.family(self.model_type)

    @property
    def types(self) -> tuple[str, ...]:
        """The model type, then the top-level one where a composite nests it (their records'
        tensor names are both tried)."""
        top = str(self.raw.get("model_type") or self.model_type)
        return tuple(dict.fromkeys((self.model_type, top)))

    @property
    def tie_reason(self) -> str:
        if self.tie_how:
            return self.tie_how
        return "config" if self.tie_explicit else f"{self.model_type} default"

    @property
    def model_width(self) -> int:
        """The hidden width the layers work at (the table's own width when nothing says)."""
        return _first_int(self.text, HIDDEN_KEYS) or self.hidden_size

    @property
    def table_rows(self) -> int:
        """Rows of the input table: the vocabulary and any extra rows the family adds."""
        extra = families.evaluate(self.family.extra_rows, self.text) or 0
        return self.vocab_size + extra

    @property
    def head_shape(self) -> tuple[int, int]:
        """(rows, width) of the output head when it is a tensor of its own."""
        fam = self.family
        if fam.target:
            return self.target_shape or (self.vocab_size, self.hidden_size)
        rows = _first_int(self.text, (fam.head_rows,)) if fam.head_rows else None
        width = families.evaluate(fam.head_width, self.text) if fam.head_width else None
        return rows or self.vocab_size, width or self.hidden_size

    @property
    def head_rows_stored(self) -> tuple[int, ...]:
        """Row counts a stored head may have: its own, or padded to the vocabulary (Inkling 2
        stores its head padded to ``vocab_size`` rows and uses ``unpadded_vocab_size``)."""
        return tuple(dict.fromkeys((self.head_shape[0], self.vocab_size)))

    @property
    def target_shape(self) -> tuple[int, int] | None:
        """(rows, width) of the decoder's own input table (FSMT's target vocabulary), or None
        for models whose decoder reads the input table."""
        fam = self.family
        if not fam.target:
            return None
        part = _part(self.raw, fam.target_path) if fam.target_path else self.text
        if part is None:
            return None
        keys = (fam.target_vocab,) if fam.target_vocab else VOCAB_KEYS
        rows = _first_int(part, keys)
        if rows is None:
            return None
        return rows, _first_int(part, HIDDEN_KEYS) or self.hidden_size

    @property
    def projections(self) -> list[dict[str, Any]]:
        """Linear maps between a factorised table's width and the hidden width: the tensor
        suffix, its input and output widths and its parameters (weight and bias)."""
        if self.hidden_size == self.model_width:
            return []
        out = []
        for p in self.family.projection:
            wide = p.inputs if p.inputs_flag is None or self.text.get(p.inputs_flag, True) else 1
            n_in, n_out = self.hidden_size * wide, self.model_width
            out.append({"tensor": p.suffix, "from": n_in, "to": n_out,
                        "params": n_in * n_out + (n_out if p.bias else 0)})  # fmt: skip
        return out

    @property
    def position_family(self) -> Family:
        """The record that knows the position table: the model's, or, for a composite of
        known parts (``EncoderDecoderModel`` of BERTs), its encoder's."""
        own = self.family
        if own.position_table is None and own.positions == "unstated":
            inner = families.family(str(self.text.get("model_type") or ""))
            if inner.position_table is not None or inner.positions != "unstated":
                return inner
        return own

    def position_table(self) -> tuple[int, str] | None:
        """(rows, tensor suffix) of a learned absolute position table, or None.

        Rows are what the checkpoint stores: BART-style tables hold ``max_position_embeddings
        + 2`` (a padding offset).
        """
        fam = self.position_family
        spec = fam.position_table
        if spec is None or self.text.get(families.POSITION_TYPE_KEY, "absolute") != "absolute":
            return None
        if fam.position_switch and self.text.get(fam.position_switch) is False:
            return None
        n = self.text.get(spec[0])
        if isinstance(n, bool) or not isinstance(n, int):
            return None
        return n + fam.position_offset, spec[1]

    @property
    def position_width(self) -> int:
        """Width of the position (and token-type) tables: ALBERT's ``embedding_size``; else
        the hidden width."""
        key = self.position_family.position_width
        return (_first_int(self.text, (key,)) if key else None) or self.model_width

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "config.json") -> ModelFacts:
        top_type = str(raw.get("model_type") or "unknown")
        top = families.family(top_type)
        text, path = _text_part(raw, top.config_path)
        vocab = _first_int(text, VOCAB_KEYS)
        if vocab is None:
            raise EmbcliError(
                f"{where} states no vocabulary size (none of {', '.join(VOCAB_KEYS)})",
                "is this a language model's config? pass --tensor NAME to choose the table",
            )
        nested_type = str(text.get("model_type") or top_type)
        model_type = top_type if top.config_path or not path else nested_type
        family = families.family(model_type)
        hidden = [int(text[k]) for k in HIDDEN_KEYS if _is_int(text.get(k))]
        own_width = _first_int(text, (family.table_width,))
        own = [own_width] if own_width is not None else []
        narrower = [int(text[k]) for k in families.TABLE_WIDTH_KEYS[:1] if _is_int(text.get(k))]
        other = [int(text[k]) for k in families.TABLE_WIDTH_KEYS[1:] if _is_int(text.get(k))]
        widths = own + narrower + hidden + other
        if not widths:
            raise EmbcliError(f"{where} states no hidden size (none of {', '.join(HIDDEN_KEYS)})")
        tied, explicit, how = _tying(raw, text, top_type, model_type)
        model_width = hidden[0] if hidden else widths[0]
        return cls(
            model_type,
            vocab,
            widths[0],
            tuple(dict.fromkeys(widths)),
            tied,
            explicit,
            raw,
            text,
            path,
            _scale(family, text, model_width),
            how,
        )

    @classmethod
    def load(cls, path: Path) -> ModelFacts:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise EmbcliError(
                f"no config.json in {path.parent}", "is this a Hugging Face model directory?"
            ) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EmbcliError(f"cannot read {path}: {exc}") from None
        if not isinstance(raw, dict):
            raise EmbcliError(f"{path} is not a JSON object")
        return cls.from_dict(raw, str(path))


def config_facts(source: Source) -> ModelFacts:
    """The facts a source's ``config.json`` states (one without it is refused in one line)."""
    path = source.small_file("config.json")
    if path is None:
        raise EmbcliError(f"no config.json in {source.label}", "is this a Hugging Face model?")
    return ModelFacts.load(path)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _first_int(d: dict[str, Any], keys: tuple[str | None, ...]) -> int | None:
    for k in keys:
        if k is not None and _is_int(d.get(k)):
            return int(d[k])
    return None


def _part(raw: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The nested config at dotted ``path``, or None."""
    node: Any = raw
    for key in path.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def _text_part(raw: dict[str, Any], config_path: str = "") -> tuple[dict[str, Any], str]:
    """The part of the config that owns the input table, and where it is nested.

    A family's own ``config_path`` first; else the top level when it states both a vocabulary
    and a width; else the first nested language-model (or encoder) config that states a
    vocabulary.
    """
    if config_path:
        part = _part(raw, config_path)
        if part is not None:
            inner, path = _text_part(part)
            return inner, config_path + ("." + path if path else "")
    if _first_int(raw, VOCAB_KEYS) is not None and _first_int(raw, HIDDEN_KEYS) is not None:
        return raw, ""
    for key in families.NESTED_TEXT_KEYS:
        sub = raw.get(key)
        if isinstance(sub, dict):
            inner, path = _text_part(sub)
            if _first_int(inner, VOCAB_KEYS) is not None:
                return inner, key + ("." + path if path else "")
    return raw, ""


def _tying(
    raw: dict[str, Any], text: dict[str, Any], top_type: str, model_type: str
) -> tuple[bool, bool, str]:
    """``(tied, stated, why)`` as transformers decides it (see :mod:`embcli.read.families`).

    The record of the top-level model type decides whose flag counts (its class owns the head);
    a composite without one defers to its language model's record.
    """
    rule = families.FAMILIES.get(top_type) or families.family(model_type)
    if rule.target:
        return False, True, f"{top_type}: the head is the decoder's own table"
    if rule.tie_owner == "never":
        return False, True, f"{top_type} never ties its output head to the input table"
    if rule.tie_forced is not None:
        how = "always ties" if rule.tie_forced else "never ties"
        return rule.tie_forced, True, f"{top_type} {how}, whatever its config says"
    key = families.TIE_KEY
    owner, owner_type = (text, model_type) if rule.tie_owner == "text" else (raw, top_type)
    flag = owner.get(key) if isinstance(owner.get(key), bool) else None
    nested = text.get(key) if text is not raw and isinstance(text.get(key), bool) else None
    if rule.tie_from_text and flag is False and nested:
        return True, True, f"config ({top_type} reads the text config's flag)"
    if flag is not None:
        return flag, True, "config"
    if nested is not None:  # saved before transformers 5: only the text config states it
        return nested, True, "config (text config)"
    return families.tied_by_default(owner_type), False, f"{owner_type} default"


def _scale(family: Family, text: dict[str, Any], width: int) -> float | None:
    """What the forward pass multiplies looked-up rows by, or None."""
    how = family.embed_scale
    if how == "sqrt(hidden_size)" or (how is None and text.get(families.SCALE_FLAG_KEY) is True):
        return math.sqrt(width)
    if how is not None:
        value = text.get(how)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value != 1:
            return float(value)
    return None
