"""Sentence vectors made the way the model's own sentence-transformers configuration says.

``modules.json`` lists the pipeline (Transformer -> Pooling -> optional Normalize);
``1_Pooling/config.json`` says how token vectors become one vector (CLS, mean, max, mean over
sqrt(length), last token, concatenated in sentence-transformers' order when several are on);
``sentence_bert_config.json`` gives ``max_seq_length`` (MiniLM: 256, not the tokenizer's 512).
A model without that configuration gets mean pooling over the attention mask, and says so.
The vectors equal ``SentenceTransformer.encode`` (tests check it on MiniLM).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from embcli.ask.sentences import (  # the torch-free half, shared with static models
    SearchResult,
    SentencesResult,
    check_search,
    check_sentences,
    search,
    similarity,
)
from embcli.errors import EmbcliError, UsageProblem
from embcli.run.model import Loaded, load_directory, resolve_directory

#: sentence-transformers' concatenation order of pooling modes.
MODES = ("cls", "max", "mean", "mean_sqrt_len", "lasttoken")
_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len",
    "pooling_mode_lasttoken": "lasttoken",
}
_NAMES = {
    "cls": "cls",
    "max": "max",
    "mean": "mean",
    "mean_sqrt_len_tokens": "mean_sqrt_len",
    "lasttoken": "lasttoken",
}

Progress = Callable[[int, int], None]


@dataclass
class Recipe:
    """How the model's sentence vectors are made."""

    pooling: list[str]
    normalize: bool
    max_length: int | None  # None: the tokenizer's / model's own limit
    subfolder: str = ""  # where the Transformer module's files are
    lowercase: bool = False  # sentence_bert_config.json's do_lower_case
    configured: bool = True  # False: no sentence-transformers files; mean pooling by default

    @property
    def pooling_name(self) -> str:
        return "+".join(self.pooling)


def read_recipe(directory: Path) -> Recipe:
    """The pipeline in ``modules.json`` and its modules' configs, or the mean-pooling default."""
    modules_file = directory / "modules.json"
    if not modules_file.is_file():
        return Recipe(["mean"], False, None, configured=False)
    try:
        modules = json.loads(modules_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EmbcliError(f"cannot read {modules_file}: {exc}") from None
    pooling: list[str] | None = None
    normalize = False
    subfolder = ""
    for mod in sorted(modules, key=lambda m: m.get("idx", 0)):
        kind = str(mod.get("type", "")).rsplit(".", 1)[-1]
        path = str(mod.get("path", ""))
        if kind == "Transformer":
            subfolder = path
        elif kind == "Pooling":
            pooling = _pooling_modes(directory / path / "config.json")
        elif kind == "Normalize":
            normalize = True
        else:
            raise EmbcliError(
                f"{modules_file}: module {kind or '?'} is not supported "
                "(embcli runs Transformer, Pooling and Normalize)"
            )
    if pooling is None:
        pooling = ["mean"]
    st = _st_config(directory / subfolder)
    max_length = int(st["max_seq_length"]) if st.get("max_seq_length") else None
    return Recipe(pooling, normalize, max_length, subfolder, bool(st.get("do_lower_case")))


def _pooling_modes(path: Path) -> list[str]:
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EmbcliError(f"cannot read the pooling config {path}: {exc}") from None
    if "pooling_mode" in cfg and isinstance(cfg["pooling_mode"], str):
        name = _NAMES.get(cfg["pooling_mode"])
        if name is None:
            raise EmbcliError(f"{path}: pooling mode {cfg['pooling_mode']!r} is not supported")
        return [name]
    if cfg.get("pooling_mode_weightedmean_tokens"):
        raise EmbcliError(f"{path}: weighted-mean pooling is not supported")
    on = {mode for key, mode in _KEYS.items() if cfg.get(key)}
    if not on:
        raise EmbcliError(f"{path}: no pooling mode is switched on")
    return [m for m in MODES if m in on]


def _st_config(directory: Path) -> dict[str, Any]:
    path = directory / "sentence_bert_config.json"
    if not path.is_file():
        return {}
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise EmbcliError(f"cannot read {path}: {exc}") from None


def pool(hidden: torch.Tensor, mask: torch.Tensor, modes: Sequence[str]) -> torch.Tensor:
    """One vector per sentence from token vectors ``[B, T, D]`` and the attention mask ``[B, T]``.

    Written to match sentence-transformers' ``Pooling`` (the test compares them), except that the
    CLS and last-token positions come from the mask, so either padding side works.
    """
    m = mask.unsqueeze(-1).to(hidden.dtype)
    count = m.sum(1).clamp(min=1e-9)
    positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    out = []
    for mode in modes:
        if mode == "cls":
            first = torch.where(mask.bool(), positions, mask.shape[1]).min(1).values
            out.append(hidden[torch.arange(hidden.shape[0]), first])
        elif mode == "max":
            masked = hidden.masked_fill(~mask.bool().unsqueeze(-1), torch.finfo(hidden.dtype).min)
            out.append(masked.max(1).values)
        elif mode == "mean":
            out.append((hidden * m).sum(1) / count)
        elif mode == "mean_sqrt_len":
            out.append((hidden * m).sum(1) / torch.sqrt(count))
        elif mode == "lasttoken":
            last = torch.where(mask.bool(), positions, -1).max(1).values
            out.append(hidden[torch.arange(hidden.shape[0]), last])
        else:
            raise EmbcliError(f"unknown pooling mode {mode}")
    return torch.cat(out, dim=-1)


@dataclass
class Encoder:
    """A loaded model and its recipe: turns texts into sentence vectors."""

    loaded: Loaded
    recipe: Recipe
    max_length: int
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.loaded.label

    @property
    def pooling_name(self) -> str:
        return self.recipe.pooling_name

    @property
    def normalize(self) -> bool:
        return self.recipe.normalize

    def encode(
        self, texts: Sequence[str], batch_size: int = 32, progress: Progress | None = None
    ) -> np.ndarray:
        """``[N, D]`` float32 vectors in the order of ``texts``; longest batches first.

        Like sentence-transformers, texts are stripped (and lower-cased when its config says).
        """
        tok = self.loaded.tokenizer
        texts = [t.strip() for t in texts]
        if self.recipe.lowercase:
            texts = [t.lower() for t in texts]
        lengths = [len(ids) for ids in tok(list(texts), add_special_tokens=True)["input_ids"]]
        long = [i for i, n in enumerate(lengths) if n > self.max_length]
        if long:
            shown = ", ".join(str(i) for i in long[:5]) + (" ..." if len(long) > 5 else "")
            self.notes.append(
                f"{len(long)} sentence(s) longer than {self.max_length} tokens were truncated "
                f"(#{shown}); --max-length changes the limit"
            )
        order = np.argsort([-n for n in lengths], kind="stable")
        out: np.ndarray | None = None
        done = 0
        with torch.inference_mode():
            for lo in range(0, len(texts), batch_size):
                idx = order[lo : lo + batch_size]
                vecs = self._batch([texts[i] for i in idx])
                if out is None:
                    out = np.empty((len(texts), vecs.shape[1]), dtype=np.float32)
                out[idx] = vecs
                done += len(idx)
                if progress is not None:
                    progress(done, len(texts))
        assert out is not None
        return out

    def _batch(self, texts: list[str]) -> np.ndarray:
        tok = self.loaded.tokenizer
        enc = tok(
            texts,
            padding=True,
            truncation="longest_first",
            max_length=self.max_length,
            return_tensors="pt",
        )
        enc = {k: v.to(self.loaded.device) for k, v in enc.items()}
        hidden = self.loaded.base(**enc).last_hidden_state
        vec = pool(hidden, enc["attention_mask"], self.recipe.pooling)
        if self.recipe.normalize:
            vec = torch.nn.functional.normalize(vec, p=2, dim=1)
        return vec.float().cpu().numpy()


def encoder(
    spec: str,
    revision: str | None = None,
    allow_pickle: bool = False,
    device: str = "cpu",
    max_length: int | None = None,
) -> Encoder:
    """Load ``spec`` and read its sentence-transformers recipe."""
    if max_length is not None and max_length < 1:
        raise UsageProblem("--max-length must be at least 1")
    directory, label = resolve_directory(spec, revision, allow_pickle)
    recipe = read_recipe(directory)
    loaded = load_directory(directory, label, allow_pickle, device, subfolder=recipe.subfolder)
    limit = max_length or recipe.max_length or loaded.limit()
    notes = []
    if not recipe.configured:
        notes.append(
            f"{label} has no sentence-transformers configuration (modules.json): "
            "using mean pooling over the attention mask, not normalised"
        )
    return Encoder(loaded, recipe, limit, notes)


def compare_sentences(
    spec: str,
    texts: Sequence[str],
    *,
    revision: str | None = None,
    allow_pickle: bool = False,
    device: str = "cpu",
    max_length: int | None = None,
    batch_size: int = 32,
    matrix: bool = True,
) -> tuple[SentencesResult, np.ndarray]:
    """``embcli sentences A B ...`` and ``Table.sentences``: check, load the model, compare
    (without ``matrix``: encode only)."""
    check_sentences(texts)
    enc = encoder(spec, revision, allow_pickle, device, max_length)
    return similarity(enc, texts, batch_size, matrix)


def search_corpus(
    spec: str,
    query: str,
    lines: Sequence[tuple[int, str]],
    k: int,
    *,
    corpus: str = "the corpus",
    revision: str | None = None,
    allow_pickle: bool = False,
    device: str = "cpu",
    max_length: int | None = None,
    batch_size: int = 32,
    progress: Progress | None = None,
) -> tuple[SearchResult, np.ndarray]:
    """``embcli sentences --query Q --corpus FILE``: check, load the model, rank the lines."""
    check_search(query, lines, corpus)
    enc = encoder(spec, revision, allow_pickle, device, max_length)
    return search(enc, query, lines, k, batch_size, progress)
