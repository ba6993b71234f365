"""A GGUF file's vocabulary, and a ``tokenizers.Tokenizer`` that splits text as llama.cpp does.

A GGUF carries no ``tokenizer.json``: llama.cpp's converters store the vocabulary as metadata
(``tokenizer.ggml.model``, ``tokens``, ``scores``, ``token_type``, ``merges``, special ids,
``add_space_prefix``, ``pre``). From those we build a tokenizer with the ``tokenizers`` library
directly, following llama.cpp's own tokenizers (``src/llama-vocab.cpp``), because the question
embcli answers is "which row does this word use in *this* file", and llama.cpp is what runs it:

- ``llama`` (SentencePiece BPE, llama.cpp's SPM): a space is prepended to the text and every
  space becomes ``▁`` (a normalizer, as llama.cpp escapes the whole text rather than splitting
  it into words), then adjacent symbols merge highest *score* first; the merges are the pairs
  whose concatenation is a token, ranked by that token's score. Characters without a token fall
  back to ``<0xNN>`` byte tokens. ``" Paris"`` inside text is ``▁Paris``.
- ``gpt2`` (byte-level BPE): bytes map to GPT-2's printable alphabet (``Ġ`` for a space), the
  text is split with the regex of ``tokenizer.ggml.pre`` (Llama 3's, Qwen 2's, GPT-4o's; GPT-2's
  for the rest, which splits a single word the same way), merges come from the file, and Llama
  3 style vocabularies take a whole pre-token that is itself a token first (``ignore_merges``).
- ``bert`` (WordPiece, llama.cpp's WPM): the converter stores word-initial pieces as ``▁word``
  and continuations bare; we turn them back into WordPiece's spelling (``word``, ``##ing``), so
  the pieces, the saved ``tokenizer.json`` and display agree with the original BERT tokenizer.
  Text is lower-cased and split at punctuation, then matched longest-first.
- ``t5`` (SentencePiece Unigram, llama.cpp's UGM): Viterbi over the scores, after the file's
  precompiled character map when present.

Anything else (``rwkv``, ``plamo2``, a file without ``tokenizer.ggml.model``) yields the pieces
only, with a note to say once that words resolve as ``#id`` or exact token strings.

transformers has its own GGUF converter (``transformers.integrations.gguf``); we do not use it
because importing it pulls in the whole library (seconds, and torch), and because it follows the
original Hugging Face tokenizers where they differ from llama.cpp (it has no WordPiece at all).

Token types (``token_type``): 2 unknown and 3 control tokens are *special* (kept whole as added
tokens, shown raw), 4 user-defined tokens are added tokens matched whole in text, 5 unused and 6
byte tokens are recorded as such, for ``undertrained``'s reference set.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from embcli.errors import EmbcliError
from embcli.read.vocabulary import Vocabulary

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
BYTE_PIECE = re.compile(r"^<0x[0-9A-Fa-f]{2}>$")
SPACE = "\u2581"

#: llama.cpp's defaults for special ids where a file states none (llama_vocab::impl::load);
#: its default for "gpt2" (id 11 for both) is an arbitrary token, so it is left out.
DEFAULT_IDS: dict[str, dict[str, int]] = {
    "llama": {"bos": 1, "eos": 2, "unk": 0},
    "bert": {"bos": 101, "unk": 100, "sep": 102, "pad": 0, "mask": 103},
    "t5": {"eos": 1, "unk": 2, "pad": 0},
}
ID_KEYS = {
    "bos": "tokenizer.ggml.bos_token_id",
    "eos": "tokenizer.ggml.eos_token_id",
    "unk": "tokenizer.ggml.unknown_token_id",
    "sep": "tokenizer.ggml.seperator_token_id",  # sic: llama.cpp's spelling
    "pad": "tokenizer.ggml.padding_token_id",
    "mask": "tokenizer.ggml.mask_token_id",
}

# Pre-tokenizer regexes, as the original tokenizer.json files state them (llama.cpp rewrites
# them for its own regex engine; these are the same splits).
_LLAMA3 = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2 = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_GPT4O = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
#: tokenizer.ggml.pre -> (split regex or None for GPT-2's own, ignore_merges)
PRE_TOKENIZERS: dict[str, tuple[str | None, bool]] = {
    **dict.fromkeys(
        (
            "llama3",
            "llama-v3",
            "llama-bpe",
            "falcon3",
            "falcon-h1",
            "pixtral",
            "midm-2.0",
            "lfm2",
            "jina-v5-nano",
        ),
        (_LLAMA3, True),
    ),
    **dict.fromkeys(("dbrx", "smaug-bpe"), (_LLAMA3, False)),
    **dict.fromkeys(
        ("qwen2", "deepseek-r1-qwen", "stablelm2", "hunyuan", "megrez", "kormo"), (_QWEN2, False)
    ),
    **dict.fromkeys(("gpt-4o", "llama4", "minimax-m2"), (_GPT4O, False)),
}


class Metadata(Protocol):
    """What the builder needs from a GGUF header (:class:`embcli.read.gguf_file.GGUFFile`)."""

    name: str

    def get(self, key: str, default: Any = None) -> Any: ...

    def array(self, key: str) -> list[str] | np.ndarray | None: ...


def read_vocabulary(meta: Metadata) -> Vocabulary | None:
    """The file's vocabulary and tokenizer; None if it stores no tokens at all."""
    tokens = strings(meta, "tokenizer.ggml.tokens")
    if not tokens:
        return None
    model = meta.get("tokenizer.ggml.model")
    model = model if isinstance(model, str) else ""
    n = len(tokens)
    types = _int_array(numbers(meta, "tokenizer.ggml.token_type"), n)
    ids = _special_ids(meta, model, n)
    if types is None:  # older files: infer what token_type would have said
        types = np.full(n, NORMAL, np.int64)
        for i in ids.values():
            types[i] = CONTROL
        if model == "llama":
            types[[i for i, t in enumerate(tokens) if BYTE_PIECE.match(t)]] = BYTE
        if "unk" in ids:
            types[ids["unk"]] = UNKNOWN
    special = {i for i, t in enumerate(types) if t in (CONTROL, UNKNOWN)}
    unused = {i for i, t in enumerate(types) if t == UNUSED}
    byte_tokens = {i for i, t in enumerate(types) if t == BYTE}

    builders = {"llama": _spm, "gpt2": _byte_level_bpe, "bert": _wordpiece, "t5": _unigram}
    styles = {"llama": "metaspace", "gpt2": "byte_level", "bert": "plain", "t5": "metaspace"}
    if model not in builders:
        what = f"tokenizer model {model!r}" if model else "no tokenizer.ggml.model"
        return Vocabulary(
            pieces=list(tokens),
            tokenizer=None,
            style="none",
            special=special,
            unused=unused,
            byte_tokens=byte_tokens,
            note=(
                f"{meta.name} has {what}, which embcli cannot rebuild as a tokenizer; words "
                "resolve only as #id or as exact token strings"
            ),
        )
    pieces = _wordpiece_spelling(tokens, types) if model == "bert" else list(tokens)
    try:
        tokenizer = builders[model](meta, pieces, types, ids)
        _add_whole_tokens(tokenizer, pieces, types)
    except EmbcliError:
        raise
    except Exception as exc:  # the tokenizers library refusing what the metadata says
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise EmbcliError(
            f"{meta.name}: its {model} tokenizer cannot be built from the tokenizer.ggml "
            f"metadata ({first})"
        ) from None
    return Vocabulary(pieces, tokenizer, styles[model], special, unused, byte_tokens)


def strings(meta: Metadata, key: str) -> list[str] | None:
    """The array ``key`` when it holds strings; None when absent; one line when it holds
    anything else (numbers where llama.cpp writes strings)."""
    value = _array(meta, key)
    if value is None or isinstance(value, list):
        return value
    raise EmbcliError(f"{meta.name}: metadata {key!r} holds {value.dtype} numbers, not strings")


def numbers(meta: Metadata, key: str) -> np.ndarray | None:
    """The array ``key`` when it holds numbers; None when absent; one line when it holds
    strings."""
    value = _array(meta, key)
    if value is None or isinstance(value, np.ndarray):
        return value
    raise EmbcliError(f"{meta.name}: metadata {key!r} holds strings, not numbers")


def _scores(meta: Metadata, n: int) -> np.ndarray | None:
    """The first ``n`` token scores as float64; None when the file states too few; one line
    when one is NaN or infinite (no order of merges, no Viterbi path, follows from those)."""
    key = "tokenizer.ggml.scores"
    scores = numbers(meta, key)
    if scores is None or len(scores) < n:
        return None
    scores = scores[:n].astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(scores))
    if bad.size:
        raise EmbcliError(
            f"{meta.name}: metadata {key!r} holds {bad.size:,} NaN or infinite "
            f"value{'s' if bad.size != 1 else ''} (the first for token {int(bad[0])})"
        )
    return scores


def _array(meta: Metadata, key: str) -> list[str] | np.ndarray | None:
    if meta.get(key) is None:
        return None
    value = meta.array(key)
    if value is None:
        raise EmbcliError(f"{meta.name}: metadata {key!r} is a single value, not an array")
    return value


def _int_array(values: Any, n: int) -> np.ndarray | None:
    if not isinstance(values, np.ndarray) or len(values) < n:
        return None
    return values[:n].astype(np.int64)


def _special_ids(meta: Metadata, model: str, n: int) -> dict[str, int]:
    """Special ids stated by the file, else llama.cpp's defaults for the model; in range only."""
    out = {}
    for role, key in ID_KEYS.items():
        value = meta.get(key, DEFAULT_IDS.get(model, {}).get(role))
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < n:
            out[role] = int(value)
    return out


def _vocab(pieces: Sequence[str]) -> dict[str, int]:
    """piece -> id, the first id winning should a piece repeat."""
    out: dict[str, int] = {}
    for i, p in enumerate(pieces):
        out.setdefault(p, i)
    return out


def _add_whole_tokens(tokenizer: Any, pieces: list[str], types: np.ndarray) -> None:
    """Control/unknown tokens as special added tokens, user-defined ones as plain added tokens:
    llama.cpp matches both whole in the text before tokenising the rest."""
    from tokenizers import AddedToken

    special = [
        AddedToken(pieces[i], special=True, normalized=False)
        for i in np.flatnonzero((types == CONTROL) | (types == UNKNOWN))
        if pieces[i]
    ]
    user = [
        AddedToken(pieces[i], special=False, normalized=False)
        for i in np.flatnonzero(types == USER_DEFINED)
        if pieces[i]
    ]
    if special:
        tokenizer.add_special_tokens(special)
    if user:
        tokenizer.add_tokens(user)


def _flag(meta: Metadata, key: str, default: bool) -> bool:
    value = meta.get(key, default)
    return bool(value) if isinstance(value, (bool, int)) else default


# -- the four tokenizer models -------------------------------------------------------------------


def _spm(meta: Metadata, pieces: list[str], types: np.ndarray, ids: dict[str, int]) -> Any:
    """llama.cpp's SPM: whole-text BPE by token score, with byte fallback."""
    from tokenizers import Tokenizer, decoders, models, normalizers

    n = len(pieces)
    scores = _scores(meta, n)
    if scores is None:
        scores = -np.arange(n, dtype=np.float64)  # no scores: earlier tokens merge first
    mergeable = (types == NORMAL) | (types == USER_DEFINED) | (types == UNUSED)
    merges = score_merges(pieces, scores[:n], mergeable)
    unk = pieces[ids["unk"]] if "unk" in ids else None
    tok = Tokenizer(
        models.BPE(
            vocab=_vocab(pieces),
            merges=merges,
            unk_token=unk,
            fuse_unk=True,
            byte_fallback=bool((types == BYTE).any()),
        )
    )
    prefix = _flag(meta, "tokenizer.ggml.add_space_prefix", True)
    steps = [normalizers.Prepend(SPACE)] if prefix else []
    tok.normalizer = normalizers.Sequence([*steps, normalizers.Replace(" ", SPACE)])
    tok.pre_tokenizer = None
    decode = [decoders.Replace(SPACE, " "), decoders.ByteFallback(), decoders.Fuse()]
    if prefix:
        decode.append(decoders.Strip(" ", 1, 0))
    tok.decoder = decoders.Sequence(decode)
    return tok


def score_merges(
    pieces: Sequence[str], scores: np.ndarray, mergeable: np.ndarray
) -> list[tuple[str, str]]:
    """BPE merges equivalent to SentencePiece's score-ordered merging.

    llama.cpp merges the adjacent pair whose concatenation is the highest-scoring token. As a
    merge list: every split ``(left, right)`` of a mergeable token into two tokens, ranked by
    that token's score (then by id, so equal scores keep the file's order).
    """
    known = set(pieces)
    found: list[tuple[float, int, int, str, str]] = []
    for i, piece in enumerate(pieces):
        if not mergeable[i] or len(piece) < 2:
            continue
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in known and right in known:
                found.append((-float(scores[i]), i, cut, left, right))
    found.sort(key=lambda m: (m[0], m[1], m[2]))
    return [(m[3], m[4]) for m in found]


def _byte_level_bpe(meta: Metadata, pieces: list[str], types: np.ndarray, ids: dict) -> Any:
    """llama.cpp's BPE over GPT-2's byte alphabet, split by the file's pre-tokenizer."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    vocab = _vocab(pieces)
    merges = []
    for line in strings(meta, "tokenizer.ggml.merges") or []:
        cut = line.find(" ", 1)  # as llama.cpp: the first space after the first character
        if cut < 0:
            continue
        left, right = line[:cut], line[cut + 1 :]
        if left in vocab and right in vocab and left + right in vocab:
            merges.append((left, right))
    pre = meta.get("tokenizer.ggml.pre")
    split, ignore_merges = PRE_TOKENIZERS.get(pre if isinstance(pre, str) else "", (None, False))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=ignore_merges))
    if split is None:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(split), behavior="isolated"),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
    tok.decoder = decoders.ByteLevel()
    return tok


def _wordpiece_spelling(tokens: list[str], types: np.ndarray) -> list[str]:
    """Undo llama.cpp's "phantom space" spelling: ``▁word`` -> ``word``, ``ing`` -> ``##ing``;
    control tokens (and, from older converters, ``[...]`` tokens) are kept as they are."""
    out = []
    for t, kind in zip(tokens, types, strict=True):
        if t.startswith(SPACE):
            out.append(t[1:])
        elif kind in (CONTROL, UNKNOWN) or (t.startswith("[") and t.endswith("]")):
            out.append(t)
        else:
            out.append("##" + t)
    return out


def _wordpiece(meta: Metadata, pieces: list[str], types: np.ndarray, ids: dict) -> Any:
    """llama.cpp's WPM: lower-case, split at spaces and punctuation, longest match first."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers

    unk = pieces[ids["unk"]] if "unk" in ids else "[UNK]"
    # llama.cpp puts no length limit on a word; WordPiece's default of 100 would map longer ones
    # to [UNK] where llama.cpp still splits them.
    tok = Tokenizer(
        models.WordPiece(vocab=_vocab(pieces), unk_token=unk, max_input_chars_per_word=10**6)
    )
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    return tok


def _unigram(meta: Metadata, pieces: list[str], types: np.ndarray, ids: dict) -> Any:
    """llama.cpp's UGM: the file's character map, ``▁`` for spaces, Viterbi over the scores."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers

    n = len(pieces)
    scores = _scores(meta, n)
    if scores is None:
        scores = np.zeros(n)
    tok = Tokenizer(
        models.Unigram(
            [(p, float(s)) for p, s in zip(pieces, scores[:n], strict=True)],
            unk_id=ids.get("unk"),
            byte_fallback=bool((types == BYTE).any()),
        )
    )
    steps: list[normalizers.Normalizer] = []
    key = "tokenizer.ggml.precompiled_charsmap"
    charsmap = numbers(meta, key)
    if charsmap is not None and charsmap.size:
        try:
            steps.append(normalizers.Precompiled(charsmap.astype(np.uint8).tobytes()))
        except Exception as exc:  # tokenizers' own parse of SentencePiece's map
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise EmbcliError(f"{meta.name}: metadata {key!r} cannot be read ({first})") from None
    if _flag(meta, "tokenizer.ggml.remove_extra_whitespaces", False):
        steps += [normalizers.Strip(), normalizers.Replace(Regex(" {2,}"), " ")]
    if _flag(meta, "tokenizer.ggml.add_space_prefix", True):
        steps.append(normalizers.Prepend(SPACE))
    steps.append(normalizers.Replace(" ", SPACE))
    tok.normalizer = normalizers.Sequence(steps)
    tok.decoder = decoders.Metaspace()
    return tok
