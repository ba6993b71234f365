"""Facts about a model's embedding table: from its ``config.json``, or from its container.

Families spell the same things differently (``n_embd``, ``d_model``, ``hidden_size``, ``dim``;
``vocab_size``, ``n_vocab``, ``padded_vocab_size``) and multimodal models nest the language part
(``text_config`` in Llama 4, Gemma 3, LLaVA...). :class:`ModelFacts` reads them all once, so that
locating the table, ``info`` and ``size`` agree. Containers that carry their own metadata (GGUF,
word-vector files) build a :class:`ModelFacts` directly.
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
    from embcli.read.sources import Source


@dataclass(frozen=True)
class ModelFacts:
    """What a model says about its token-embedding table (and the head that may share it)."""

    model_type: str
    vocab_size: int
    hidden_size: int
    hidden_candidates: tuple[int, ...]  # widths the table may legitimately have
    tied: bool  # the output head reuses the input table
    tie_explicit: bool  # ``tied`` is stated (config, metadata), not a family default
    raw: dict[str, Any] = field(default_factory=dict)  # the whole config ({} without one)
    text: dict[str, Any] = field(default_factory=dict)  # its language-model part
    text_path: str = ""  # "" or where that part is nested, e.g. "text_config"
    #: What the forward pass multiplies looked-up rows by (Gemma: sqrt(hidden_size)); the
    #: table itself is stored unscaled. None: no scaling.
    embed_scale: float | None = None

    @property
    def family(self) -> Family:
        return families.family(self.model_type)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "config.json") -> ModelFacts:
        text, path = _text_part(raw)
        vocab = _first_int(text, VOCAB_KEYS)
        if vocab is None:
            raise EmbcliError(
                f"{where} states no vocabulary size (none of {', '.join(VOCAB_KEYS)})",
                "is this a language model's config? pass --tensor NAME to choose the table",
            )
        hidden = [int(text[k]) for k in HIDDEN_KEYS if isinstance(text.get(k), int)]
        narrower = [int(text[k]) for k in families.TABLE_WIDTH_KEYS if isinstance(text.get(k), int)]
        widths = narrower + hidden
        if not widths:
            raise EmbcliError(f"{where} states no hidden size (none of {', '.join(HIDDEN_KEYS)})")
        model_type = str(text.get("model_type") or raw.get("model_type") or "unknown")
        family = families.family(model_type)
        stated = [p[families.TIE_KEY] for p in (text, raw)
                  if isinstance(p.get(families.TIE_KEY), bool)]  # fmt: skip
        tied = bool(stated[0]) if stated else family.tied
        scaled = family.embed_scale is not None or text.get(families.SCALE_FLAG_KEY) is True
        scale = math.sqrt(hidden[0]) if scaled and hidden else None
        return cls(
            model_type,
            vocab,
            widths[0],
            tuple(dict.fromkeys(widths)),
            tied,
            bool(stated),
            raw,
            text,
            path,
            scale,
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

    def position_table(self) -> tuple[int, str] | None:
        """(number of positions, tensor suffix) of a learned absolute position table, or None."""
        spec = self.family.position_table
        if spec is None or self.text.get(families.POSITION_TYPE_KEY, "absolute") != "absolute":
            return None
        n = self.text.get(spec[0])
        return (int(n), spec[1]) if isinstance(n, int) else None


def config_facts(source: Source) -> ModelFacts:
    """The facts a source's ``config.json`` states (one without it is refused in one line)."""
    path = source.small_file("config.json")
    if path is None:
        raise EmbcliError(f"no config.json in {source.label}", "is this a Hugging Face model?")
    return ModelFacts.load(path)


def _first_int(d: dict[str, Any], keys: tuple[str, ...]) -> int | None:
    for k in keys:
        if isinstance(d.get(k), int) and not isinstance(d.get(k), bool):
            return int(d[k])
    return None


def _text_part(raw: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Descend into a nested language-model config when the top level has no vocabulary."""
    if _first_int(raw, VOCAB_KEYS) is not None:
        return raw, ""
    for key in families.NESTED_TEXT_KEYS:
        sub = raw.get(key)
        if isinstance(sub, dict):
            inner, path = _text_part(sub)
            if _first_int(inner, VOCAB_KEYS) is not None:
                return inner, key + ("." + path if path else "")
    return raw, ""
