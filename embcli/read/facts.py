"""Facts about a model's embedding table: from its ``config.json``, or from its container.

Families spell the same things differently (``n_embd``, ``d_model``, ``hidden_size``, ``dim``;
``vocab_size``, ``n_vocab``, ``padded_vocab_size``) and multimodal models nest the language part
(``text_config`` in Llama 4, Gemma 3, LLaVA...). :class:`ModelFacts` reads them all once, so that
locating the table, ``info`` and ``size`` agree. Containers that carry their own metadata (GGUF,
word-vector files) build a :class:`ModelFacts` directly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embcli.errors import EmbcliError

if TYPE_CHECKING:
    from embcli.read.sources import Source

VOCAB_KEYS = ("vocab_size", "padded_vocab_size", "n_vocab")
HIDDEN_KEYS = ("hidden_size", "n_embd", "d_model", "dim", "embed_dim", "model_dim")
NESTED_TEXT_KEYS = ("text_config", "language_config", "llm_config", "text_model", "thinker_config")

#: ``tie_word_embeddings`` defaults of the transformers config classes that do not inherit
#: ``PretrainedConfig``'s default of True (checked against transformers 5.x sources).
UNTIED_BY_DEFAULT = frozenset(
    {
        "llama",
        "llama4",
        "llama4_text",
        "mistral",
        "mixtral",
        "qwen2",
        "qwen2_moe",
        "qwen3",
        "qwen3_moe",
        "gpt_neox",
        "phi",
        "phi3",
        "gptj",
        "deepseek_v2",
        "deepseek_v3",
        "olmo",
        "olmo2",
        "falcon_mamba",
        "mamba",
        "internlm2",
        "stablelm",
    }
)

#: Families with a learned absolute position table: (config key for positions, tensor suffix).
POSITION_TABLES = {
    "gpt2": ("n_positions", "wpe.weight"),
    "gpt_bigcode": ("n_positions", "wpe.weight"),
    "gpt_neo": ("max_position_embeddings", "wpe.weight"),
    "bert": ("max_position_embeddings", "position_embeddings.weight"),
    "roberta": ("max_position_embeddings", "position_embeddings.weight"),
    "xlm-roberta": ("max_position_embeddings", "position_embeddings.weight"),
    "distilbert": ("max_position_embeddings", "position_embeddings.weight"),
    "electra": ("max_position_embeddings", "position_embeddings.weight"),
    "opt": ("max_position_embeddings", "embed_positions.weight"),
    "openai-gpt": ("n_positions", "positions_embed.weight"),
}


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

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "config.json") -> ModelFacts:
        text, path = _text_part(raw)
        vocab = _first_int(text, VOCAB_KEYS)
        if vocab is None:
            raise EmbcliError(
                f"{where} states no vocabulary size (none of {', '.join(VOCAB_KEYS)})",
                "is this a language model's config? pass --tensor NAME to choose the table",
            )
        widths = [int(text[k]) for k in HIDDEN_KEYS if isinstance(text.get(k), int)]
        if isinstance(text.get("word_embed_proj_dim"), int):  # OPT-350m embeds at 512, not 1024
            widths.insert(0, int(text["word_embed_proj_dim"]))
        if not widths:
            raise EmbcliError(f"{where} states no hidden size (none of {', '.join(HIDDEN_KEYS)})")
        model_type = str(text.get("model_type") or raw.get("model_type") or "unknown")
        stated = [p["tie_word_embeddings"] for p in (text, raw)
                  if isinstance(p.get("tie_word_embeddings"), bool)]  # fmt: skip
        tied = bool(stated[0]) if stated else model_type not in UNTIED_BY_DEFAULT
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
        spec = POSITION_TABLES.get(self.model_type)
        if spec is None or self.text.get("position_embedding_type", "absolute") != "absolute":
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
    for key in NESTED_TEXT_KEYS:
        sub = raw.get(key)
        if isinstance(sub, dict):
            inner, path = _text_part(sub)
            if _first_int(inner, VOCAB_KEYS) is not None:
                return inner, key + ("." + path if path else "")
    return raw, ""
