"""Facts about an embedding table that a model's ``config.json`` states.

Families spell the same things differently (``n_embd``, ``d_model``, ``hidden_size``, ``dim``;
``vocab_size``, ``n_vocab``, ``padded_vocab_size``) and multimodal models nest the language part
(``text_config`` in Llama 4, Gemma 3, LLaVA...). :class:`ModelConfig` reads them all once, so that
locating the table, ``info`` and ``size`` agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embcli.errors import EmbcliError

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
class ModelConfig:
    """The part of a config that concerns the token-embedding table."""

    raw: dict[str, Any]
    text: dict[str, Any]  # the language-model part (== raw unless nested)
    text_path: str  # "" or e.g. "text_config"
    model_type: str
    vocab_size: int
    hidden_size: int
    hidden_candidates: tuple[int, ...]  # widths the table may legitimately have

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "config.json") -> ModelConfig:
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
        return cls(raw, text, path, model_type, vocab, widths[0], tuple(dict.fromkeys(widths)))

    @classmethod
    def load(cls, path: Path) -> ModelConfig:
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

    @property
    def tie_word_embeddings(self) -> bool:
        """Whether the output head reuses this table, per config or the family's default."""
        for part in (self.text, self.raw):
            if isinstance(part.get("tie_word_embeddings"), bool):
                return bool(part["tie_word_embeddings"])
        return self.model_type not in UNTIED_BY_DEFAULT

    @property
    def tie_is_explicit(self) -> bool:
        return any(isinstance(p.get("tie_word_embeddings"), bool) for p in (self.text, self.raw))

    def position_table(self) -> tuple[int, str] | None:
        """(number of positions, tensor suffix) of a learned absolute position table, or None."""
        spec = POSITION_TABLES.get(self.model_type)
        if spec is None or self.text.get("position_embedding_type", "absolute") != "absolute":
            return None
        n = self.text.get(spec[0])
        return (int(n), spec[1]) if isinstance(n, int) else None


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
