"""A word's vector inside its sentences, layer by layer, and what each layer's vector is near.

One forward pass over all sentences (padded, with the attention mask) keeps every layer's hidden
states: layer 0 is the embedding output (table row + position), 1..L the blocks. The word is
found in each sentence by character offsets, so it is the word as the tokenizer split *that*
sentence; a word split into several tokens is averaged over them.

Cosines between contextual vectors mislead on their own: in GPT-2's last layer any two tokens
have a cosine near 0.98 (anisotropy). Each layer therefore carries a baseline, the mean cosine
between vectors of different tokens in the same sentences (Ethayarajh, 2019).

What a vector is near: for a causal LM with an output head, the logit lens (nostalgebraist,
2020), ``lm_head(final_norm(h))`` for inner layers and ``lm_head(h)`` for the last one, whose
hidden state transformers already returns normed, so the last layer gives the model's own
next-token distribution. Other models: the nearest rows of the static input table by cosine.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from embcli.errors import ModelFailure, UnresolvedWord, UsageProblem
from embcli.linalg import unit_rows
from embcli.run.model import Loaded, first_line
from embcli.view import Result, View, clip

LENS = "logit lens"
STATIC = "static table"
BATCH = 32
ROWS = 4096  # static-table rows per block when scoring nearest tokens


@dataclass
class Located:
    """The word in one sentence: its tokens (ids, pieces, character spans) and positions."""

    index: int
    text: str
    ids: list[int]
    pieces: list[str]
    spans: list[tuple[int, int]]
    positions: list[int]  # positions in the sentence's (unpadded) token sequence

    def to_dict(self) -> dict[str, Any]:
        tokens = [
            {"id": i, "token": p, "start": s, "end": e}
            for i, p, (s, e) in zip(self.ids, self.pieces, self.spans, strict=True)
        ]
        return {"index": self.index, "text": self.text, "tokens": tokens}


@dataclass
class Hidden:
    """Every layer's hidden states of the sentences' real (unpadded) tokens.

    Layers may differ in width (OPT's last layer is projected back to the table's width); a
    layer whose positions are not the tokens' (Funnel pools the sequence) holds None.
    """

    states: list[list[np.ndarray | None]]  # per sentence, per layer: [tokens, D] float32
    ids: list[np.ndarray]  # per sentence: token ids
    last: list[torch.Tensor] = field(default_factory=list)  # per sentence: last_hidden_state
    notes: list[str] = field(default_factory=list)


def find_word(word: str, text: str, occurrence: int | None = None) -> tuple[int, int] | None:
    """The character span of ``word`` in ``text``: whole-word matches first, case-insensitive.

    ``occurrence`` (1-based) picks among several matches; None means the first.
    """
    pattern = re.escape(word.strip())
    spans = [m.span() for m in re.finditer(rf"(?<!\w){pattern}(?!\w)", text, re.IGNORECASE)]
    if not spans:
        spans = [m.span() for m in re.finditer(pattern, text, re.IGNORECASE)]
    n = occurrence or 1
    return spans[n - 1] if len(spans) >= n else None


def count_occurrences(word: str, text: str) -> int:
    pattern = re.escape(word.strip())
    found = len(re.findall(rf"(?<!\w){pattern}(?!\w)", text, re.IGNORECASE))
    return found or len(re.findall(pattern, text, re.IGNORECASE))


def token_positions(offsets: Sequence[tuple[int, int]], span: tuple[int, int]) -> list[int]:
    """Positions of the tokens whose character span overlaps ``span`` (special tokens have none)."""
    lo, hi = span
    return [i for i, (s, e) in enumerate(offsets) if e > s and s < hi and e > lo]


def encode(loaded: Loaded, texts: Sequence[str], max_length: int) -> tuple[list[Any], list[str]]:
    """Tokenize each sentence (offsets kept) and report the ones cut at ``max_length``."""
    tok = loaded.tokenizer
    full = tok(list(texts), add_special_tokens=True)["input_ids"]
    enc = tok(list(texts), truncation=True, max_length=max_length, return_offsets_mapping=True)
    notes = [
        f"sentence {i} has {len(f)} tokens: truncated to {max_length} (--max-length)"
        for i, f in enumerate(full)
        if len(f) > max_length
    ]
    rows = [
        {
            "input_ids": enc["input_ids"][i],
            "offsets": enc["offset_mapping"][i],
            **({"token_type_ids": enc["token_type_ids"][i]} if "token_type_ids" in enc else {}),
        }
        for i in range(len(texts))
    ]
    return rows, notes


def locate(
    loaded: Loaded, word: str, texts: Sequence[str], rows: list[Any], occurrence: int | None
) -> list[Located]:
    """The word's tokens in every sentence, or a one-line error naming the sentence."""
    out = []
    for i, (text, row) in enumerate(zip(texts, rows, strict=True)):
        span = find_word(word, text, occurrence)
        if span is None:
            n = count_occurrences(word, text)
            if n and occurrence and occurrence > n:
                raise UnresolvedWord(
                    f"{word!r} occurs {n} time(s) in sentence {i} ({clip(text)!r}); "
                    f"no occurrence {occurrence}"
                )
            raise UnresolvedWord(f"{word!r} is not in sentence {i}: {clip(text)!r}")
        positions = token_positions(row["offsets"], span)
        if not positions:
            raise UnresolvedWord(
                f"{word!r} in sentence {i} lies beyond the --max-length cut: {clip(text)!r}"
            )
        ids = [int(row["input_ids"][p]) for p in positions]
        spans = [(int(row["offsets"][p][0]), int(row["offsets"][p][1])) for p in positions]
        out.append(Located(i, text, ids, [piece(loaded, t) for t in ids], spans, positions))
    return out


def piece(loaded: Loaded, token_id: int) -> str:
    """A token as text ("Ġbank" shows as " bank"), like the rest of embcli."""
    return str(loaded.tokenizer.decode([token_id], clean_up_tokenization_spaces=False))


def per_token(h: Any, batch: int, length: int) -> torch.Tensor | None:
    """One layer's hidden states as ``[batch, length, D]``, or None where its positions are
    not the tokens'.

    Most layers are that already. Hyper-connection models (DeepSeek V4) keep several streams
    per token (``[batch, length, streams, D]``), Gemma 3n's AltUp stacks its streams first
    (``[streams, batch, length, D]``): the streams are put side by side. Pegasus-X pads the
    sequence to its block size on the right: the first ``length`` positions are the tokens.
    Funnel pools the sequence to fewer positions: None.
    """
    if isinstance(h, tuple):
        h = h[0]
    if not isinstance(h, torch.Tensor):
        return None
    if h.dim() == 3 and h.shape[0] == batch:
        if h.shape[1] >= length:
            return h[:, :length]
        return None
    if h.dim() == 4 and h.shape[0] == batch and h.shape[1] == length:
        return h.reshape(batch, length, -1)
    if h.dim() == 4 and h.shape[1] == batch and h.shape[2] == length:
        return h.permute(1, 2, 0, 3).reshape(batch, length, -1)
    return None


def forward(loaded: Loaded, batch: dict[str, Any], side: str) -> tuple[list[Any], Any]:
    """``(hidden states per layer, last hidden state)`` of one batch.

    ``side`` "encoder" runs an encoder-decoder's encoder (``get_encoder()``), "decoder" its
    decoder fed the same tokens; otherwise the body. No cache is built (hybrid
    attention/state-space models fail to build one without generation). transformers'
    own failures become one line naming the architecture (exit 5).
    """
    module = loaded.base
    if side == "encoder":
        module = loaded.model.get_encoder()
    extra: dict[str, Any] = {"output_hidden_states": True}
    if loaded.accepts("use_cache", module):
        extra["use_cache"] = False
    args = {k: v for k, v in batch.items()
            if k in ("input_ids", "attention_mask") or loaded.accepts(k, module)}  # fmt: skip
    if side == "decoder":
        args["decoder_input_ids"] = batch["input_ids"]
        args["decoder_attention_mask"] = batch["attention_mask"]
    try:
        out = module(**args, **extra)
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:
        raise ModelFailure(
            f"transformers' forward pass of {loaded.model_type or loaded.label} fails: "
            f"{type(exc).__name__}: {first_line(exc)}"
        ) from None
    states = out.decoder_hidden_states if side == "decoder" else out.hidden_states
    if states is None:
        raise ModelFailure(f"{loaded.model_type}: transformers returns no hidden states")
    last = out.get("last_hidden_state") if hasattr(out, "get") else None
    return list(states), (states[-1] if last is None or side == "decoder" else last)


def hidden_states(
    loaded: Loaded, rows: list[Any], padding_side: str = "right", side: str = "plain"
) -> Hidden:
    """Run the body over the sentences in padded batches; keep each layer's real-token states.

    With left padding, position ids are counted from each sentence's first real token, so the
    vectors equal those of the sentence run alone (tests check both sides). A model that mixes
    padding into the real tokens' states (FNet, YOSO: ``families.Family.honours_mask``) runs
    one sentence at a time, and a note says so.
    """
    tok = loaded.tokenizer
    states: list[list[np.ndarray | None]] = []
    ids: list[np.ndarray] = []
    last: list[torch.Tensor] = []
    notes: list[str] = []
    keep = ("input_ids", "token_type_ids")
    size = BATCH
    if not loaded.family.honours_mask or (side == "decoder" and loaded.family.target_vocab):
        size = 1
        if len(rows) > 1:
            notes.append(
                f"{loaded.model_type} does not honour the attention mask (padding changes "
                "the real tokens' vectors): sentences run one at a time"
            )
    with torch.inference_mode():
        for lo in range(0, len(rows), size):
            chunk = [{k: r[k] for k in keep if k in r} for r in rows[lo : lo + size]]
            batch = tok.pad(chunk, padding=True, padding_side=padding_side, return_tensors="pt")
            batch = {k: v.to(loaded.device) for k, v in batch.items()}
            mask = batch["attention_mask"]
            if padding_side == "left" and loaded.accepts("position_ids"):
                batch["position_ids"] = (mask.long().cumsum(-1) - 1).clamp(min=0)
            layers, final = forward(loaded, batch, side)
            n, length = mask.shape
            tokens = [per_token(h, n, length) for h in layers]
            for b in range(n):
                real = mask[b].bool()
                states.append(
                    [None if h is None else h[b][real].float().cpu().numpy() for h in tokens]
                )
                ids.append(batch["input_ids"][b][real].cpu().numpy())
                last.append(final[b][real] if final.dim() == 3 else final[b])
    pooled = [i for i, h in enumerate(states[0]) if h is None] if states else []
    if pooled:
        notes.append(f"layers {_ranges(pooled)} of {loaded.model_type} hold no vector per "
                     "token (a pooled or latent sequence): left out")  # fmt: skip
    return Hidden(states, ids, last, notes)


def _ranges(values: list[int]) -> str:
    """``[1, 2, 3, 7]`` as ``"1-3, 7"``."""
    out: list[str] = []
    start = prev = values[0]
    for v in [*values[1:], None]:
        if v is not None and v == prev + 1:
            prev = v
            continue
        out.append(str(start) if start == prev else f"{start}-{prev}")
        if v is not None:
            start = prev = v
    return ", ".join(out)


def word_vectors(hidden: Hidden, located: list[Located]) -> list[np.ndarray | None]:
    """Per layer: ``[sentences, D]``, the word's vector averaged over its tokens (float64), or
    None for a layer without per-token states."""
    layers = len(hidden.states[located[0].index])
    out: list[np.ndarray | None] = []
    for layer in range(layers):
        rows = [hidden.states[w.index][layer] for w in located]
        present = [r for r in rows if r is not None]
        if len(present) < len(rows):
            out.append(None)
            continue
        out.append(
            np.stack([r[w.positions].mean(axis=0) for r, w in zip(present, located, strict=True)])
        )
    return [None if v is None else v.astype(np.float64) for v in out]


def sentence_pair_cosines(vectors: np.ndarray) -> list[dict[str, Any]]:
    """``[{a, b, cosine}]`` for every pair of rows of ``vectors`` ``[N, D]``, in float64."""
    u = unit_rows(vectors)
    n = len(u)
    return [
        {"a": a, "b": b, "cosine": float(u[a] @ u[b])} for a in range(n) for b in range(a + 1, n)
    ]


def baseline(vectors: np.ndarray, ids: np.ndarray) -> float:
    """Mean cosine between vectors of *different* tokens (Ethayarajh's anisotropy baseline).

    ``vectors`` ``[N, D]`` are one layer's states of the sentences' non-special tokens, ``ids``
    their token ids; pairs of the same token are left out.
    """
    if len(vectors) < 2:
        return float("nan")
    u = unit_rows(vectors)
    sims = u @ u.T
    differ = ids[:, None] != ids[None, :]
    return float(sims[differ].mean()) if differ.any() else float("nan")


def baselines(hidden: Hidden, special: set[int]) -> list[float]:
    ids = np.concatenate(hidden.ids)
    keep = ~np.isin(ids, list(special)) if special else np.ones(len(ids), dtype=bool)
    out = []
    for layer in range(len(hidden.states[0])):
        rows = [s[layer] for s in hidden.states]
        present = [r for r in rows if r is not None]
        if len(present) < len(rows):
            out.append(float("nan"))
            continue
        out.append(baseline(np.concatenate(present)[keep], ids[keep]))
    return out


def lens_logits(
    loaded: Loaded, h: torch.Tensor, layer: int, last: int | None = None
) -> torch.Tensor:
    """The logit lens at ``layer``: ``head(final_norm(h))``, or ``head(h)`` at the last layer
    (``last``: its index; the config's layer count when not given)."""
    head = loaded.head
    if head is None:
        raise UsageProblem(f"{loaded.label} has no output head: no logit lens")
    with torch.inference_mode():
        if layer < (loaded.num_layers if last is None else last):
            norm = loaded.final_norm
            if norm is None:
                raise UsageProblem(f"{loaded.label}: no final norm found for the logit lens")
            h = norm(h)
        return head(h).float()


def can_lens(loaded: Loaded, layer: int, last: int | None = None, width: int | None = None) -> bool:
    """The lens applies: a head, a final norm for inner layers, and states as wide as the head
    reads (OPT's inner layers are wider than its head)."""
    head = loaded.head
    if head is None:
        return False
    final = layer == (loaded.num_layers if last is None else last)
    weight = getattr(head, "weight", None)
    if width is not None and weight is not None and weight.shape[-1] != width:
        return False
    return final or loaded.final_norm is not None


def nearest(
    loaded: Loaded,
    hidden: Hidden,
    located: list[Located],
    vectors: list[np.ndarray | None],
    layer: int,
    k: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """The top ``k`` tokens of each sentence's word vector at ``layer`` (lens or static table),
    and a note when neither applies (the layer's states are as wide as neither)."""
    special = sorted(loaded.special_ids())
    last = len(vectors) - 1
    at = vectors[layer]
    if at is None:
        return [], f"layer {layer} holds no vector per token: no nearest tokens"
    width = at.shape[1]
    out = []
    with torch.inference_mode():
        if can_lens(loaded, layer, last, width):
            via = LENS
            if layer == last:  # the model's own normed output
                h = torch.stack([hidden.last[w.index][w.positions].mean(0) for w in located])
            else:
                h = torch.as_tensor(at, dtype=torch.float32, device=loaded.device)
            scores = torch.softmax(lens_logits(loaded, h, layer, last), dim=-1)
        else:
            via = STATIC
            table = loaded.static_table
            if table.shape[1] != width:
                return [], (
                    f"no nearest tokens at layer {layer}: its states are {width} wide, the "
                    f"table {table.shape[1]}" + (" and the head" if loaded.head is not None else "")
                )
            h = torch.as_tensor(unit_rows(at), dtype=torch.float32, device=table.device)
            scores = torch.empty(h.shape[0], table.shape[0], device=table.device)
            for lo in range(0, table.shape[0], ROWS):  # in blocks: no table-sized temporaries
                block = table[lo : lo + ROWS].float()
                scores[:, lo : lo + ROWS] = (h @ block.T) / block.norm(dim=1).clamp(min=1e-12)
            if special:
                scores[:, [i for i in special if i < table.shape[0]]] = -torch.inf
        top = torch.topk(scores, min(k, scores.shape[1]), dim=1)
    for w, vals, idx in zip(located, top.values.tolist(), top.indices.tolist(), strict=True):
        results = [
            {"rank": r + 1, "id": int(i), "token": piece(loaded, int(i)), "score": float(v)}
            for r, (v, i) in enumerate(zip(vals, idx, strict=True))
        ]
        out.append({"sentence": w.index, "layer": layer, "via": via, "results": results})
    return out, None


def static_vectors(loaded: Loaded, located: list[Located]) -> np.ndarray:
    table = loaded.static_table
    with torch.inference_mode():
        return np.stack([table[w.ids].float().mean(0).cpu().numpy() for w in located]).astype(
            np.float64
        )


@dataclass
class ContextResult(Result):
    """Cosines of a word's vectors between its sentences, layer by layer, and its neighbours."""

    word: str
    model: str
    sentences: list[Located]
    static_pairs: list[dict[str, Any]]
    layers: list[dict[str, Any]]
    nearest: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    side: str | None = None  # "encoder" or "decoder" of an encoder-decoder; None otherwise

    def to_dict(self) -> dict[str, Any]:
        return {
            "word": self.word,
            "model": self.model,
            **({"side": self.side} if self.side else {}),
            "sentences": [s.to_dict() for s in self.sentences],
            "static_pairs": self.static_pairs,
            "layers": self.layers,
            "nearest": self.nearest,
        }

    def view(self) -> View:
        labels = [f"{p['a']}-{p['b']}" for p in self.static_pairs]
        if len(labels) <= 8:
            cols = ["layer", *labels, "baseline"]
            rows = [["static", *(p["cosine"] for p in self.static_pairs), None]]
            rows += [
                [str(ly["layer"]), *(p["cosine"] for p in ly["pairs"]), ly["baseline"]]
                for ly in self.layers
            ]
        else:  # many sentences: one row per (layer, pair)
            cols = ["layer", "a", "b", "cosine", "baseline"]
            rows = [["static", p["a"], p["b"], p["cosine"], None] for p in self.static_pairs]
            rows += [
                [str(ly["layer"]), p["a"], p["b"], p["cosine"], ly["baseline"]]
                for ly in self.layers
                for p in ly["pairs"]
            ]
        return View(
            cols,
            rows,
            title=f"{self.word!r} in context: cosine between sentences",
            caption=self.caption(),
        )

    def caption(self) -> str:
        part = f" ({self.side}; --side picks the other)" if self.side else ""
        lines = [
            f"{self.model}{part}. layer 0 = embedding output; baseline = mean cosine between "
            "different tokens of these sentences (Ethayarajh, 2019)."
        ]
        for s in self.sentences:
            pieces = "+".join(repr(p) for p in s.pieces)
            pooled = f" (mean of {len(s.ids)} tokens)" if len(s.ids) > 1 else ""
            lines.append(f"[{s.index}] {s.text}  -> {pieces}{pooled}")
        for n in self.nearest:
            what = "next-token probability" if n["via"] == LENS else "cosine"
            found = ", ".join(f"{r['token']!r} {r['score']:.3f}" for r in n["results"])
            lines.append(
                f"nearest [{n['sentence']}] at layer {n['layer']} ({n['via']}, {what}): {found}"
            )
        return "\n".join(lines)


SIDES = ("encoder", "decoder")


def choose_side(loaded: Loaded, side: str | None) -> str:
    """The part of the model that reads the sentence: "encoder" (an encoder-decoder's default),
    "decoder" (its decoder fed the same tokens), or "plain" (decoder-only and encoder-only
    models, which have one). Refused in one line where it does not apply."""
    if not loaded.family.token_states:
        raise UsageProblem(
            f"{loaded.label} ({loaded.model_type}): its layers hold a latent array, not a vector "
            "per token, so there is no word to follow through them"
        )
    if not loaded.encoder_decoder:
        if side is not None:
            raise UsageProblem(
                f"--side applies to encoder-decoder models; {loaded.label} "
                f"({loaded.model_type}) has one stack of layers"
            )
        return "plain"
    if side is None:
        return "encoder"
    if side not in SIDES:
        raise UsageProblem(f"--side must be encoder or decoder, not {side!r}")
    if side == "decoder" and loaded.family.target_vocab:
        raise UsageProblem(
            f"--side decoder: the decoder of {loaded.model_type} reads another vocabulary "
            f"({loaded.family.target_vocab}), not the sentence's tokens"
        )
    return side


def analyse(
    loaded: Loaded,
    word: str,
    texts: Sequence[str],
    occurrence: int | None = None,
    layer: int | None = None,
    k: int = 5,
    max_length: int | None = None,
    padding_side: str = "right",
    side: str | None = None,
) -> tuple[ContextResult, Hidden, list[np.ndarray | None]]:
    """Locate ``word`` in every sentence, run the model once, and measure it layer by layer.

    ``side`` picks an encoder-decoder's encoder (default) or decoder. Returns the result, the
    hidden states, and per layer the word vectors ``[sentences, D]`` (None for a layer without
    per-token states).
    """
    if not word.strip():
        raise UsageProblem("the word is empty")
    if len(texts) < 2:
        raise UsageProblem("context needs two or more sentences to compare")
    for i, t in enumerate(texts):
        if not t.strip():
            raise UsageProblem(f"sentence {i} is empty")
    if occurrence is not None and occurrence < 1:
        raise UsageProblem("--occurrence counts from 1")
    part = choose_side(loaded, side)
    limit = max_length or loaded.limit()
    rows, notes = encode(loaded, texts, limit)
    located = locate(loaded, word, texts, rows, occurrence)
    for w in located:
        n = count_occurrences(word, w.text)
        if n > 1 and occurrence is None:
            notes.append(
                f"{word!r} occurs {n} times in sentence {w.index}: using the first "
                "(--occurrence N picks another)"
            )
    hidden = hidden_states(loaded, rows, padding_side, part)
    notes += hidden.notes
    vecs = word_vectors(hidden, located)
    chosen = _layer(layer, len(vecs) - 1, loaded.label)
    bases = baselines(hidden, loaded.special_ids())
    layers = [
        {"layer": ly, "baseline": bases[ly], "pairs": sentence_pair_cosines(v)}
        for ly, v in enumerate(vecs)
        if v is not None
    ]
    near: list[dict[str, Any]] = []
    if k > 0:
        near, why = nearest(loaded, hidden, located, vecs, chosen, k)
        notes += [why] if why else []
    result = ContextResult(
        word,
        loaded.label,
        located,
        sentence_pair_cosines(static_vectors(loaded, located)),
        layers,
        near,
        notes,
        None if part == "plain" else part,
    )
    return result, hidden, vecs


def _layer(layer: int | None, last: int, label: str) -> int:
    """``--layer`` as an index into 0..last (negative counts from the end; None: the last)."""
    chosen = last if layer is None else layer
    if chosen < 0:
        chosen += last + 1
    if not 0 <= chosen <= last:
        raise UsageProblem(f"--layer {layer} is out of range: {label} has layers 0..{last}")
    return chosen


def excerpt(text: str, span: tuple[int, int] | None = None, width: int = 28) -> str:
    """A short piece of ``text`` around ``span`` (for plot labels)."""
    if span is None or len(text) <= width:
        return clip(text, width)
    mid = (span[0] + span[1]) // 2
    lo = max(0, mid - width // 2)
    hi = min(len(text), lo + width)
    lo = max(0, hi - width)
    part = text[lo:hi]
    if lo > 0 and " " in part[: span[0] - lo]:  # start at a word, not inside one
        part = part[part.index(" ") + 1 :]
    if hi < len(text) and " " in part[span[1] - hi :]:
        part = part[: part.rindex(" ")]
    return ("…" if lo > 0 else "") + part.strip() + ("…" if hi < len(text) else "")
